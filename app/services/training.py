"""Training mode: a separate store of synthetic data, so practice never mixes with real captures.

The training store lives in ``<data_dir>/training/``; every event it records has mode ``training``,
which the sync protocol keeps away from any EHR.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import forms
from app.store import users
from sync.clock import Clock

from . import patients as pt
from . import tasks as ts
from .demo import DEMO_MOVES, DEMO_PASSWORD, DEMO_USERS, example_answers, synthetic_census
from .workstation import init_workstation

TRAINING_PASSWORD = DEMO_PASSWORD
TRAINING_FOLDER = "training"


def training_dir(data_dir: Path) -> Path:
    return Path(data_dir) / TRAINING_FOLDER


def has_training_store(data_dir: Path) -> bool:
    return (training_dir(data_dir) / "keyring.json").exists()


def ensure_training_store(data_dir: Path, *, clock: Clock | None = None, census_size: int = 24,
                          settings: dict | None = None) -> Path:
    """Set up the training store beside ``data_dir``'s store if it is not there yet; returns its folder.

    Users are the demo users (nina, colm, sam) with the training password; census and tasks are synthetic.
    """
    folder = training_dir(data_dir)
    if has_training_store(data_dir):
        return folder
    if folder.exists():  # a half-made training store (e.g. power cut while seeding): start again
        shutil.rmtree(folder)
    store, _code = init_workstation(folder, site_id="training", unit_id="training-ward", admin_id="admin",
                                    admin_name="Training admin", password=TRAINING_PASSWORD,
                                    settings={"mode": "training", **(settings or {})}, clock=clock)
    try:
        for user_id, name, role in DEMO_USERS:
            users.add_user(store, user_id, name, role, TRAINING_PASSWORD)
        pt.import_census(store, synthetic_census(census_size, "training-ward"), source="training")
        for i, workflow in enumerate(forms.WORKFLOWS):
            captured = ts.capture_task(store, workflow, f"P{100001 + i}", example_answers(workflow))
            for status, destination in DEMO_MOVES[workflow]:
                ts.transition_task(store, captured.task_id, status, destination=destination)
    finally:
        store.close("exit")
    return folder
