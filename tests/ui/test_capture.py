"""Capturing a task in each workflow: empty required fields are refused beside the field; a full form saves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from PySide6.QtCore import Qt

import forms

from .conftest import WAIT_MS, read_store, sign_in
from .people import choose_patient, choose_workflow, click_box, fill_required, no, pick, type_into, yes

REQUIRED_WHEN_EMPTY = {
    "ed_triage": ["arrival_time", "arrival_mode", "chief_complaint", "acuity_esi", "isolation"],
    "inpatient_discharge": ["expected_discharge", "med_rec_done", "follow_up_done", "education_done",
                            "transport_done", "pharmacy_done", "case_management_done"],
    "med_reconciliation": ["list_sources", "medication_name", "decision"],
    "referral": ["specialty", "reason", "referring_clinician"],
    "specimen_handoff": ["identifier_1_name", "identifier_2_dob", "specimen_type", "container", "tests",
                         "collected_at", "collected_by", "labelled_at_bedside"],
}


@pytest.mark.parametrize("workflow", forms.WORKFLOWS)
def test_capture_refuses_empty_required_fields_then_saves(qtbot, window, demo_dir, workflow):
    sign_in(qtbot, window)
    qtbot.keyClick(window.board.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.stack.currentWidget() is window.capture
    choose_workflow(qtbot, window, forms.WORKFLOW_TITLES[workflow])
    capture = window.capture
    assert capture.form_title.text() == f"{forms.WORKFLOW_TITLES[workflow]} form"

    qtbot.mouseClick(capture.save_button, Qt.MouseButton.LeftButton)
    form = capture.form
    for link_id in REQUIRED_WHEN_EMPTY[workflow]:
        field = form.field(link_id)
        assert field.error.isVisible(), link_id
        assert "required" in field.error.text(), (link_id, field.error.text())
    first = form.field(REQUIRED_WHEN_EMPTY[workflow][0])
    assert first.focus_widget().hasFocus()
    assert "Choose the patient" in capture.message.text()
    assert window.stack.currentWidget() is capture

    fill_required(qtbot, form, workflow)
    choose_patient(qtbot, window, "Zztest-Kerr")
    qtbot.keyClick(capture.save_button, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.detail and window.detail.task is not None
                    or capture.message.isVisible(), timeout=WAIT_MS)
    assert not capture.message.isVisible(), [f.error.text() for f in form.fields() if f.error.isVisible()]
    detail = window.detail
    assert detail.title.text() == f"{forms.WORKFLOW_TITLES[workflow]} task"
    assert detail.patient.text().startswith("ZZTEST-KERR")
    assert detail.status.text() == "Status: requested"
    qtbot.waitUntil(lambda: window.board.model.total == 6, timeout=WAIT_MS)

    window.session.close_now()
    rows = read_store(demo_dir, "SELECT t.workflow, t.status, p.family FROM tasks t JOIN patients p "
                                "USING (patient_id) WHERE t.created_by = 'nina'")
    assert rows == [{"workflow": workflow, "status": "requested", "family": "Zztest-Kerr"}]


def test_enable_when_shows_and_hides_fields_live(qtbot, window):
    sign_in(qtbot, window)
    window.new_task()
    form = window.capture.form  # ED triage is first
    allergies = form.field("allergies")
    assert allergies.row.isVisible()
    yes(qtbot, form.field("no_known_allergies"))
    assert not allergies.row.isVisible()
    no(qtbot, form.field("no_known_allergies"))
    assert allergies.row.isVisible()

    choose_workflow(qtbot, window, "Specimen")
    form = window.capture.form
    detail = form.field("discrepancy_detail")
    assert form.field("discrepancy").no.isChecked()  # the form's initial answer
    assert not detail.row.isVisible()
    yes(qtbot, form.field("discrepancy"))
    assert detail.row.isVisible()
    assert detail.label.text().endswith("*")


def test_repeating_group_add_remove_and_modify_needs_detail(qtbot, window, demo_dir):
    sign_in(qtbot, window)
    window.new_task()
    choose_workflow(qtbot, window, "Medication")
    form = window.capture.form
    meds = next(n for n in form.root.nodes if n.link_id == "medication")
    qtbot.mouseClick(meds.add_button, Qt.MouseButton.LeftButton)
    assert [b.title() for b in meds.boxes] == ["Medication 1", "Medication 2"]
    click_box(qtbot, form.field("list_sources").checks[1][1])
    type_into(qtbot, form.field("medication_name", 1), "Metformin")
    pick(qtbot, form.field("decision", 1).input, "Hold")
    type_into(qtbot, form.field("medication_name", 2), "Ramipril")
    assert not form.field("modification", 2).row.isVisible()
    pick(qtbot, form.field("decision", 2).input, "Mod")
    assert form.field("modification", 2).row.isVisible()
    assert not form.field("modification", 1).row.isVisible()
    choose_patient(qtbot, window, "Zztest-Hale")
    qtbot.mouseClick(window.capture.save_button, Qt.MouseButton.LeftButton)
    assert "required" in form.field("modification", 2).error.text()
    assert form.field("modification", 2).focus_widget().hasFocus()
    type_into(qtbot, form.field("modification", 2), "Reduce to 2.5 mg")

    qtbot.mouseClick(meds.add_button, Qt.MouseButton.LeftButton)
    remove = meds.boxes[2].findChildren(type(meds.add_button))[-1]
    assert remove.text() == "Remove medication 3"
    qtbot.mouseClick(remove, Qt.MouseButton.LeftButton)
    assert len(meds.instances) == 2
    qtbot.mouseClick(window.capture.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.detail and window.detail.task is not None,
                    timeout=WAIT_MS)
    assert "Ramipril" in window.detail.answers.toPlainText()
    assert "Reduce to 2.5 mg" in window.detail.answers.toPlainText()
    window.session.close_now()
    rows = read_store(demo_dir, "SELECT summary FROM tasks WHERE created_by = 'nina'")
    assert rows and "2 meds" in rows[0]["summary"]


def test_paper_form_entered_later_is_back_dated_with_its_reason(qtbot, window, demo_dir):
    sign_in(qtbot, window)
    window.new_task()
    choose_workflow(qtbot, window, "Referral")
    capture = window.capture
    click_box(qtbot, capture.paper.on)
    assert capture.paper.when.isVisible() and capture.paper.when.hasFocus()
    fill_required(qtbot, capture.form, "referral")
    choose_patient(qtbot, window, "Zztest-Frost")
    qtbot.mouseClick(capture.save_button, Qt.MouseButton.LeftButton)
    assert "when the paper form was filled in" in capture.message.text()
    qtbot.keyClicks(capture.paper.when, "2026-01-05 02:15")
    qtbot.mouseClick(capture.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.detail and window.detail.task is not None,
                    timeout=WAIT_MS)
    first = window.detail.timeline_model.rows[0]
    assert first[0].startswith("2026-01-05 02:15")
    assert first[7].startswith("entered from a paper downtime form (entered ")
    window.session.close_now()
    rows = read_store(demo_dir, "SELECT back_entry, occurred_at FROM tasks WHERE created_by = 'nina'")
    assert rows[0]["back_entry"] == 1
    typed_local = datetime(2026, 1, 5, 2, 15).astimezone()  # typed in the workstation's local time
    assert rows[0]["occurred_at"].startswith(typed_local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))


def test_changing_workflow_clears_the_previous_forms_message(qtbot, window):
    sign_in(qtbot, window)
    window.new_task()
    qtbot.mouseClick(window.capture.save_button, Qt.MouseButton.LeftButton)
    assert window.capture.message.isVisible()
    choose_workflow(qtbot, window, "Referral")
    assert not window.capture.message.isVisible()
    assert not any(f.error.isVisible() for f in window.capture.form.fields())
