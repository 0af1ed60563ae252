"""Use cases at the workstation: capture, transitions, notes, timeline, patients."""

from __future__ import annotations

import json

import pytest

import forms
from app.services import patients as pt
from app.services import tasks as ts
from app.services.demo import example_answers
from app.services.errors import InputError
from app.store import eventlog
from app.store.errors import NotFound, NotPermitted
from sync.errors import IllegalTransition


@pytest.mark.parametrize("workflow", forms.WORKFLOWS)
def test_capture_in_each_workflow_is_durable_and_on_the_board(nurse_store, workflow):
    got = ts.capture_task(nurse_store, workflow, "P100003", example_answers(workflow))
    task = ts.show_task(nurse_store, got.task_id)
    assert task["status"] == "requested" and task["workflow"] == workflow
    assert task["patient"]["family"].startswith("Zztest")
    assert task["answers"]["resourceType"] == "QuestionnaireResponse"
    assert forms.response_to_fhir(task["answers"]).status == "completed"
    assert task["destination"] == got.destination
    assert task["created_by"] == "nina"
    board = {r["task_id"] for r in ts.list_tasks(nurse_store, workflow=workflow)}
    assert got.task_id in board


def test_missing_required_answers_are_refused_and_nothing_is_written(nurse_store):
    head = nurse_store.head
    answers = example_answers("ed_triage")
    del answers["chief_complaint"]
    with pytest.raises(forms.FormError) as err:
        ts.capture_task(nurse_store, "ed_triage", "P100001", answers)
    assert "chief_complaint" in err.value.link_ids
    assert nurse_store.head == head


def test_unknown_patient_and_workflow_are_refused(nurse_store):
    with pytest.raises(InputError, match="not on this unit's census"):
        ts.capture_task(nurse_store, "referral", "P999999", example_answers("referral"))
    with pytest.raises(InputError, match="Unknown workflow"):
        ts.capture_task(nurse_store, "x_ray", "P100001", {})


def test_back_dated_entry_needs_a_reason_and_cannot_be_in_the_future(nurse_store):
    with pytest.raises(InputError, match="reason"):
        ts.capture_task(nurse_store, "referral", "P100001", example_answers("referral"),
                        occurred_at="2026-01-01T02:00:00Z")
    with pytest.raises(InputError, match="future"):
        ts.capture_task(nurse_store, "referral", "P100001", example_answers("referral"),
                        occurred_at="2999-01-01T02:00:00Z", back_entry_reason="paper form")
    got = ts.capture_task(nurse_store, "referral", "P100001", example_answers("referral"),
                          occurred_at="2026-01-01T02:00:00Z", back_entry_reason="entered from paper form",
                          paper_form=True)
    task = ts.get_task(nurse_store, got.task_id)
    assert task["occurred_at"] == "2026-01-01T02:00:00.000Z" and task["back_entry"] == 1


def test_transition_moves_the_task_and_illegal_ones_write_nothing(nurse_store):
    got = ts.capture_task(nurse_store, "specimen_handoff", "P100002", example_answers("specimen_handoff"))
    ts.transition_task(nurse_store, got.task_id, "accepted", destination="lab")
    ts.transition_task(nurse_store, got.task_id, "in-progress")
    ts.transition_task(nurse_store, got.task_id, "completed")
    head = nurse_store.head
    with pytest.raises(IllegalTransition, match="from 'completed' to 'in-progress'"):
        ts.transition_task(nurse_store, got.task_id, "in-progress")
    assert nurse_store.head == head
    with pytest.raises(InputError, match="reason"):
        ts.transition_task(nurse_store, got.task_id, "entered-in-error")
    ts.transition_task(nurse_store, got.task_id, "entered-in-error", reason="wrong patient label")
    assert ts.get_task(nurse_store, got.task_id)["status"] == "entered-in-error"
    with pytest.raises(NotFound):
        ts.transition_task(nurse_store, "no-such-task", "accepted")


def test_timeline_has_time_actor_source_destination_and_correlation(nurse_store):
    got = ts.capture_task(nurse_store, "med_reconciliation", "P100004", example_answers("med_reconciliation"))
    ts.transition_task(nurse_store, got.task_id, "received", destination="pharmacy")
    ts.add_note(nurse_store, got.task_id, "patient's own supply in locker")
    ts.transition_task(nurse_store, got.task_id, "accepted")
    line = ts.timeline(nurse_store, got.task_id)
    assert [e["type"] for e in line] == ["task.created", "task.transitioned", "task.note_added",
                                         "task.transitioned"]
    assert [e.get("to_status") for e in line] == ["requested", "received", None, "accepted"]
    assert {e["correlation_id"] for e in line} == {got.task_id}
    assert all(e["actor"] == "Nina Okafor (RN)" and e["source"].startswith("workstation:") for e in line)
    assert line[1]["destination"] == "pharmacy"
    assert line[2]["detail"] == "patient's own supply in locker"
    assert ts.get_task(nurse_store, got.task_id)["notes"] == 1


def test_answers_amendment_is_a_new_event(nurse_store):
    got = ts.capture_task(nurse_store, "referral", "P100001", example_answers("referral"))
    amended = example_answers("referral")
    amended["reason"] = "Synthetic amended reason: rate now 150"
    ts.update_answers(nurse_store, got.task_id, amended, reason="clarified by phone")
    task = ts.show_task(nurse_store, got.task_id)
    assert forms.simple_answers(task["answers"])["reason"] == "Synthetic amended reason: rate now 150"
    assert task["version"] == 2
    assert [e["type"] for e in task["timeline"]][-1] == "task.answers_updated"


def test_viewing_a_task_is_recorded(nurse_store):
    task_id = ts.list_tasks(nurse_store)[0]["task_id"]
    ts.show_task(nurse_store, task_id)
    views = [json.loads(b)["payload"] for b in eventlog.bodies_of_type(nurse_store, "access.view")]
    assert any(v["what"] == "task" and v["target_id"] == task_id for v in views)


def test_temporary_patient_warns_about_similar_names(nurse_store):
    existing = pt.search_patients(nurse_store, "P100001")[0]
    with pytest.raises(InputError, match="Similar patients"):
        pt.register_temp_patient(nurse_store, existing["family"], existing["given"])
    assert not pt.search_patients(nurse_store, "DT-")
    pid, similar = pt.register_temp_patient(nurse_store, existing["family"], existing["given"],
                                            confirm_not_duplicate=True)
    code = nurse_store.device_id[-4:].upper()
    assert pid == f"DT-ward-7-{code}-0001" and similar[0]["patient_id"] == "P100001"
    pid2, similar2 = pt.register_temp_patient(nurse_store, "Zztest-Unknown", "Male")
    assert pid2 == f"DT-ward-7-{code}-0002" and similar2 == []
    got = ts.capture_task(nurse_store, "ed_triage", pid2, example_answers("ed_triage"))
    assert ts.show_task(nurse_store, got.task_id)["patient"]["temporary"] == 1


def test_only_a_super_user_links_temporary_patients(nurse_store, tmp_path):
    pid, _ = pt.register_temp_patient(nurse_store, "Zztest-Unknown", "Female")
    with pytest.raises(NotPermitted):
        pt.link_temp_patient(nurse_store, pid, "P100010")


def test_census_import_refuses_bad_files(demo_store, tmp_path):
    bad = tmp_path / "census.json"
    bad.write_text("[{\"patient_id\": \"P1\"}]")
    with pytest.raises(InputError, match="family and given"):
        pt.load_census_file(demo_store, bad)
    bad.write_text("not json")
    with pytest.raises(InputError, match="not a JSON census"):
        pt.load_census_file(demo_store, bad)


def test_only_coordinators_and_up_replace_the_census(nurse_store):
    with pytest.raises(NotPermitted):
        pt.import_census(nurse_store, [{"patient_id": "P1", "family": "Zztest-X", "given": "Y"}])


def test_census_age_is_known(nurse_store):
    age = pt.census_age_seconds(nurse_store)
    assert age is not None and 0 <= age < 3600
