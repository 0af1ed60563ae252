"""The headless ``tideover`` command, run as a real process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from clihelp import ADMIN_PASSWORD, NURSE_PASSWORD, as_json, tideover

import forms
from app.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ward(tmp_path):
    """A workstation set up through the CLI with a nurse and a census of synthetic patients."""
    data = tmp_path / "ward"
    out = tideover(data, "init", "--site", "st-synthetic", "--unit", "ward-7", "--admin", "ada")
    assert "Break-glass code" in out.stdout
    tideover(data, "user", "add", "nina", "--role", "nurse", "--display-name", "Nina Nurse",
             env={"TIDEOVER_NEW_PASSWORD": NURSE_PASSWORD})
    census = tmp_path / "census.json"
    census.write_text(json.dumps([
        {"patient_id": "P200001", "family": "Zztest-Quill", "given": "Ada", "birth_date": "1950-02-03"},
        {"patient_id": "P200002", "family": "Zztest-Rook", "given": "Ben", "birth_date": "1961-07-08"},
    ]))
    assert "Loaded 2 patients" in tideover(data, "census", "import", str(census)).stdout
    return data


def nurse(data, *args, **kw):
    return tideover(data, *args, user="nina", password=NURSE_PASSWORD, **kw)


def answers_file(tmp_path, workflow, **changes) -> Path:
    answers = json.loads((Path(forms.__file__).parent / "examples" / f"{workflow}.json").read_text())
    for k, v in changes.items():
        if v is None:
            answers.pop(k, None)
        else:
            answers[k] = v
    path = tmp_path / f"{workflow}-answers.json"
    path.write_text(json.dumps(answers))
    return path


def test_capture_transition_show_list_verify(ward, tmp_path):
    made = as_json(nurse(ward, "capture", "--workflow", "specimen_handoff", "--patient", "P200001",
                         "--answers", str(answers_file(tmp_path, "specimen_handoff"))))
    assert set(made) >= {"task_id", "event_id"}
    moved = as_json(nurse(ward, "task", "transition", made["task_id"], "--to", "accepted", "--destination", "lab"))
    assert moved["status"] == "accepted"
    shown = as_json(nurse(ward, "task", "show", made["task_id"], "--json"))
    assert shown["status"] == "accepted" and shown["patient"]["family"] == "Zztest-Quill"
    assert [e["to_status"] for e in shown["timeline"]] == ["requested", "accepted"]
    listed = as_json(nurse(ward, "tasks", "list", "--json", "--workflow", "specimen_handoff", "--status", "accepted"))
    assert [t["task_id"] for t in listed] == [made["task_id"]]
    assert as_json(nurse(ward, "tasks", "list", "--json", "--status", "completed")) == []
    verify = nurse(ward, "audit", "verify")
    assert re.search(r"audit verify: \d+ events", verify.stdout)
    status = as_json(nurse(ward, "status", "--json"))
    assert status["site_id"] == "st-synthetic" and status["unit_id"] == "ward-7"
    assert status["pending_sync"] == status["chain_head"] > 0 and status["mode"] == "downtime"
    assert status["device_id"] and status["events"] >= status["chain_head"]


def test_rebuild_prints_matching_digests(ward, tmp_path):
    nurse(ward, "capture", "--workflow", "referral", "--patient", "P200002", "--answers",
          str(answers_file(tmp_path, "referral")))
    out = tideover(ward, "rebuild").stdout
    before = re.search(r"before (\w+)", out).group(1)
    after = re.search(r"after +(\w+)", out).group(1)
    assert before == after and "match" in out


def test_audit_export_is_jsonl_of_every_event(ward):
    out = tideover(ward, "audit", "export", "--format", "jsonl")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[0]["type"] == "device.initialized"
    assert lines[-1]["type"] == "access.export"
    assert [e["device_seq"] for e in lines] == list(range(1, len(lines) + 1))
    denied = nurse(ward, "audit", "export", check=False)
    assert denied.returncode == 3 and "super user or admin" in denied.stderr


@pytest.mark.parametrize("case,expect", [
    ("not-json", "is not valid JSON"),
    ("missing-required", "Chief complaint"),
    ("no-file", "No answers file"),
])
def test_bad_answers_files_get_one_clear_line(ward, tmp_path, case, expect):
    if case == "not-json":
        path = tmp_path / "a.json"
        path.write_text("{ this is not json")
    elif case == "missing-required":
        path = answers_file(tmp_path, "ed_triage", chief_complaint=None)
    else:
        path = tmp_path / "absent.json"
    proc = nurse(ward, "capture", "--workflow", "ed_triage", "--patient", "P200001", "--answers", str(path),
                 check=False)
    assert proc.returncode == 1
    assert expect in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    after = as_json(nurse(ward, "status", "--json"))
    assert after["tasks"] == 0
    exported = tideover(ward, "audit", "export").stdout
    assert '"type":"task.created"' not in exported and '"type":"access.sign_in"' in exported


def test_wrong_password_is_one_line_and_exit_3(ward):
    proc = tideover(ward, "status", password="definitely not it", check=False)
    assert proc.returncode == 3 and "wrong password" in proc.stderr and "Traceback" not in proc.stderr


def test_illegal_transition_is_refused(ward, tmp_path):
    made = as_json(nurse(ward, "capture", "--workflow", "referral", "--patient", "P200002", "--answers",
                         str(answers_file(tmp_path, "referral"))))
    proc = nurse(ward, "task", "transition", made["task_id"], "--to", "completed", check=False)
    assert proc.returncode == 1 and "cannot go from 'requested' to 'completed'" in proc.stderr


def test_password_never_taken_from_argv():
    parser = build_parser()
    flags = {a for act in parser._actions for a in act.option_strings}
    assert not any("password" in f for f in flags)


def test_no_password_and_no_terminal_is_a_clear_error(ward):
    proc = tideover(ward, "status", env={"TIDEOVER_PASSWORD": ""}, check=False)
    assert proc.returncode == 1 and "TIDEOVER_PASSWORD" in proc.stderr


def all_commands(parser=None, prefix=()):
    parser = parser or build_parser()
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from all_commands(sub, (*prefix, name))


def test_every_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = []
    for words, sub in all_commands():
        assert sub.format_help()
        leaf = not any(a.__class__.__name__ == "_SubParsersAction" for a in sub._actions)
        if leaf and f"tideover {' '.join(words)}" not in readme:
            missing.append(" ".join(words))
    assert not missing, f"commands missing from README.md: {missing}"


def test_help_runs_for_every_command(tmp_path):
    for words, _sub in list(all_commands())[:40]:
        proc = tideover(tmp_path / "none", *words, "--help")
        assert "usage: tideover" in proc.stdout


def test_demo_headless_runs_the_main_job(tmp_path):
    proc = tideover(tmp_path / "demo", "demo", "--headless", timeout=120)
    for workflow in forms.WORKFLOWS:
        assert workflow in proc.stdout
    assert "Unit board" in proc.stdout and "audit verify:" in proc.stdout and "chain intact" in proc.stdout


def test_break_glass_sign_in_from_the_command_line(ward, tmp_path):
    data2 = tmp_path / "ward2"
    out = tideover(data2, "init", "--site", "st-synthetic", "--unit", "ward-8", "--admin", "ada")
    code = re.search(r"Break-glass code.*: (\S+)", out.stdout).group(1)
    proc = tideover(data2, "--break-glass-reason", "all nurses locked out at 3am", "status", "--json",
                    user="Night Nurse", password="", env={"TIDEOVER_BREAK_GLASS_CODE": code})
    assert as_json(proc)["user"] == "break-glass"
    review = tideover(data2, "audit", "review", "--json", password=ADMIN_PASSWORD)
    assert any(r.get("reason") == "all nurses locked out at 3am" for r in as_json(review))
