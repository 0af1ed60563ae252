"""No synthetic patient name or identifier in the clear on disk, in logs or in temp files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from clihelp import NURSE_PASSWORD, tideover

PATIENTS = [
    {"patient_id": "P311771", "mrn": "MRN998877", "family": "Zztest-Vermillion", "given": "Octavia",
     "birth_date": "1944-04-04"},
    {"patient_id": "P311772", "mrn": "MRN998878", "family": "Zztest-Quartermaine", "given": "Barnaby",
     "birth_date": "1971-07-17"},
]
NEEDLES = [b"Vermillion", b"Quartermaine", b"Octavia", b"Barnaby", b"MRN998877", b"P311771", b"1944-04-04",
           b"Synthetic chest pain"]


def scan(folder: Path) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in NEEDLES:
                if needle in data or needle.lower() in data.lower():
                    hits.append(f"{path.name}: {needle.decode()}")
    return hits


def test_a_full_workflow_leaves_no_patient_data_in_the_clear(tmp_path):
    data = tmp_path / "ward"
    tideover(data, "init", "--site", "st-synthetic", "--unit", "ward-9", "--admin", "ada")
    tideover(data, "user", "add", "nina", "--role", "nurse", env={"TIDEOVER_NEW_PASSWORD": NURSE_PASSWORD})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    census = inbox / "census.json"
    census.write_text(json.dumps(PATIENTS))
    tideover(data, "census", "import", str(census))
    census.unlink()  # the census file IT handed over is gone; only the encrypted store has it
    answers = inbox / "a.json"
    example = json.loads((Path(__file__).parent.parent / "forms" / "examples" / "ed_triage.json").read_text())
    example["chief_complaint"] = "Synthetic chest pain"
    answers.write_text(json.dumps(example))

    def nurse(*args, **kw):
        return tideover(data, *args, user="nina", password=NURSE_PASSWORD, **kw)

    made = json.loads(nurse("capture", "--workflow", "ed_triage", "--patient", "P311771", "--answers",
                            str(answers)).stdout)
    answers.unlink()
    nurse("task", "transition", made["task_id"], "--to", "accepted")
    shown = nurse("task", "show", made["task_id"])
    assert "Zztest-Vermillion" in shown.stdout  # the nurse sees it on screen...
    proc = nurse("patient", "register-temp", "--family", "Zztest-Quartermaine", "--given", "Barnaby",
                 check=False)
    assert proc.returncode == 1 and "Similar patients" in proc.stderr
    nurse("patient", "register-temp", "--family", "Zztest-Quartermaine", "--given", "Barnaby",
          "--confirm-not-duplicate")
    nurse("board")
    tideover(data, "rebuild")
    tideover(data, "audit", "verify")
    failed = nurse("task", "transition", made["task_id"], "--to", "completed", check=False)
    assert failed.returncode == 1

    # ...but nothing of it is written in the clear: not the store folder, not the temp folder.
    assert scan(data) == []
    assert scan(tmp_path / "tmp") == []
    assert scan(inbox) == []
    assert {p.name for p in data.iterdir()} <= {"tideover.db", "tideover.db-wal", "tideover.db-shm",
                                                  "keyring.json", ".keyring.lock", "unlock-counters.json"}
    for leftover in (Path(os.environ.get("TMPDIR", "/tmp")),):
        assert not list(leftover.glob("etilqs_*")), "SQLite spilled a temp file"
