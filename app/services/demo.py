"""A throwaway workstation with synthetic users, census and tasks: the demo and the benchmarks' seed.

Every patient here is synthetic and named the way hospitals name test patients (family name
starting "Zztest"), so no one can mistake demo data for a real person.
"""

from __future__ import annotations

import json
from pathlib import Path

import forms
from app.store import users
from app.store.store import Store
from sync.clock import Clock

from . import patients as pt
from . import tasks as ts
from .workstation import init_workstation

DEMO_PASSWORD = "demo workstation passphrase"
DEMO_USERS = [
    ("nina", "Nina Okafor (RN)", "nurse"),
    ("colm", "Colm Byrne (Unit coordinator)", "unit_coordinator"),
    ("sam", "Sam Reyes (Super-user)", "super_user"),
]
_GIVEN = ["Alice", "Bashir", "Chen", "Dagny", "Emeka", "Fatima", "Gustav", "Hana", "Ivo", "Jun", "Kofi",
          "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tomasz", "Uma", "Viktor"]
_FAMILY = ["Zztest-Ashby", "Zztest-Brook", "Zztest-Carver", "Zztest-Dale", "Zztest-Ellis", "Zztest-Frost",
           "Zztest-Grant", "Zztest-Hale", "Zztest-Irwin", "Zztest-Joyce", "Zztest-Kerr"]

# How each demo task moves along: (status, destination) after capture.
DEMO_MOVES = {
    "ed_triage": [("accepted", None), ("in-progress", None)],
    "inpatient_discharge": [("accepted", "bed_control"), ("in-progress", "pharmacy")],
    "med_reconciliation": [("received", "pharmacy"), ("accepted", None)],
    "referral": [("accepted", "referral_office")],
    "specimen_handoff": [("accepted", "lab"), ("in-progress", "lab"), ("completed", "lab")],
}


def synthetic_census(n: int, unit_id: str) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"patient_id": f"P{100001 + i}", "mrn": f"MRN{700001 + i}",
                    "family": _FAMILY[i % len(_FAMILY)], "given": _GIVEN[(i * 7) % len(_GIVEN)],
                    "birth_date": f"{1940 + (i * 3) % 70}-{1 + i % 12:02d}-{1 + (i * 5) % 28:02d}",
                    "sex": ("female", "male")[i % 2], "location": f"{unit_id} bed {1 + i}"})
    return out


def example_answers(workflow: str) -> dict:
    return json.loads((Path(forms.__file__).parent / "examples" / f"{workflow}.json").read_text())


def seed_demo(data_dir: Path, *, site_id: str = "demo-general", unit_id: str = "ward-7",
              census_size: int = 24, clock: Clock | None = None) -> tuple[Store, dict]:
    """Set up a demo workstation: users, a census, and one task per workflow moved along.

    Returns the store (signed in as the admin) and what was made: task ids per workflow.
    """
    store, _code = init_workstation(data_dir, site_id=site_id, unit_id=unit_id, admin_id="admin",
                                    admin_name="Ada Admin (IT)", password=DEMO_PASSWORD, clock=clock)
    for user_id, name, role in DEMO_USERS:
        users.add_user(store, user_id, name, role, DEMO_PASSWORD)
    pt.import_census(store, synthetic_census(census_size, unit_id))
    made = {}
    for i, workflow in enumerate(forms.WORKFLOWS):
        captured = ts.capture_task(store, workflow, f"P{100001 + i}", example_answers(workflow))
        for status, destination in DEMO_MOVES[workflow]:
            ts.transition_task(store, captured.task_id, status, destination=destination)
        made[workflow] = captured.task_id
    return store, made
