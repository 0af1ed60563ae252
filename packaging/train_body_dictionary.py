"""Train the zstd dictionary that workstation stores compress event bodies with (app/store/bodies.py).

    python packaging/train_body_dictionary.py --out app/store/dictionaries/events-2.zdict --id 2

Synthetic events only: a demo workstation in a temporary folder records a ward's mix through the
real services (sign-ins, tasks of every workflow with varied answers, transitions, notes, views,
prints, census loads and temporary patients); their canonical bodies are the samples. Nothing
of a real patient ever goes into a dictionary, since it ships with the app.

A new dictionary gets the next id: add it to ``bodies.DICTIONARY_FILES`` and point
``bodies.CURRENT_CODEC`` at it; keep every older file, since the bodies made with it stay stored.
"""

from __future__ import annotations

import argparse
import copy
import random
import shutil
import sys
import tempfile
from pathlib import Path

import zstandard

import forms
from app.services import patients as pt
from app.services import printing
from app.services import tasks as ts
from app.services.demo import DEMO_MOVES, example_answers, seed_demo, synthetic_census
from app.store import eventlog
from forms.compiled import base_form

PHRASES = ("Synthetic example", "reviewed with charge nurse", "patient settled", "family informed",
           "awaiting porter", "repeat obs in 1 hour", "pain score improved", "bed 4 side room",
           "as per protocol", "handover given", "no known allergies", "see paper form")


def varied_answers(rng: random.Random, workflow: str) -> dict:
    """The workflow's example answers with values changed the way wards change them (still valid)."""
    answers = copy.deepcopy(example_answers(workflow))
    form = base_form(workflow)

    def vary(values: dict, fields) -> None:
        for f in fields:
            if f.link_id not in values:
                continue
            value = values[f.link_id]
            if f.type == "group":
                for entry in value if isinstance(value, list) else [value]:
                    vary(entry, f.children)
            elif f.options and not f.repeats and rng.random() < 0.5:
                values[f.link_id] = rng.choice(list(f.options))
            elif f.type == "integer" and isinstance(value, int) and not isinstance(value, bool):
                lo = f.minimum if f.minimum is not None else 0
                hi = f.maximum if f.maximum is not None else value * 2 + 10
                values[f.link_id] = rng.randint(int(lo), int(hi))
            elif f.type in ("string", "text") and isinstance(value, str):
                values[f.link_id] = f"{rng.choice(PHRASES)}; {rng.choice(PHRASES)} ({rng.randint(1, 999)})"

    vary(answers, form.fields)
    try:
        forms.validate_answers(workflow, answers)
    except forms.FormError:
        return example_answers(workflow)  # a change made one answer disagree with another
    return answers


def ward_events(folder: Path, tasks: int, seed: int) -> list[bytes]:
    """Canonical bodies of a ward's synthetic events, recorded through the real services."""
    rng = random.Random(seed)
    store, _made = seed_demo(folder / "store")
    try:
        for i in range(tasks):
            workflow = forms.WORKFLOWS[rng.randrange(len(forms.WORKFLOWS))]
            captured = ts.capture_task(store, workflow, f"P{100001 + rng.randrange(24)}",
                                       varied_answers(rng, workflow), priority=rng.choice(forms.PRIORITIES))
            for status, destination in DEMO_MOVES[workflow][: rng.randint(0, len(DEMO_MOVES[workflow]))]:
                ts.transition_task(store, captured.task_id, status, destination=destination)
            if rng.random() < 0.3:
                ts.add_note(store, captured.task_id, f"{rng.choice(PHRASES)}, {rng.choice(PHRASES)}")
            if rng.random() < 0.5:
                ts.show_task(store, captured.task_id)
            if rng.random() < 0.1:
                printing.record_print(store, "task", 1, target_id=captured.task_id, fmt="pdf")
            if i % 200 == 0:
                pt.import_census(store, synthetic_census(24, store.unit_id))
            if i % 150 == 0:
                pt.register_temp_patient(store, "Zztest-Unknown", f"Adult {i}", sex="unknown", confirm_not_duplicate=True)
        return [body.encode("utf-8") for body in eventlog.all_bodies(store)]
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--id", type=int, required=True, help="the dictionary id stored next to each body")
    ap.add_argument("--tasks", type=int, default=3000)
    ap.add_argument("--size", type=int, default=32 * 1024, help="dictionary size in bytes")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="tideover-dict-"))
    try:
        samples = ward_events(folder, args.tasks, args.seed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    trained = zstandard.train_dictionary(args.size, samples, dict_id=args.id, level=19)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(trained.as_bytes())
    print(f"{args.out}: {len(trained.as_bytes())} bytes, id {trained.dict_id()}, from {len(samples)} synthetic "
          f"events ({sum(map(len, samples))} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
