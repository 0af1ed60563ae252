"""Unit board summaries and blank paper forms."""

import json
from importlib import resources

import pytest

import forms


def example(workflow):
    return json.loads(resources.files("forms").joinpath("examples", f"{workflow}.json").read_text("utf-8"))


@pytest.mark.parametrize(
    "workflow, expected",
    [
        ("ed_triage", "ESI 2 · central chest pain for 40 minutes · majors"),
        ("inpatient_discharge", "4/6 ready · home with community services · expected 2 May 16:00"),
        ("med_reconciliation", "3 meds · 1 hold · 1 modify · pharmacist verified"),
        ("referral", "Cardiology · urgent · sent"),
        ("specimen_handoff", "Urine · 2 tests · collected 14:05"),
    ],
)
def test_summaries(workflow, expected):
    answers = example(workflow)
    assert forms.summarize(workflow, answers) == expected
    assert forms.summarize(workflow, forms.validate_answers(workflow, answers)) == expected


def test_specimen_summary_flags_discrepancy_and_never_names_the_patient():
    answers = {**example("specimen_handoff"), "discrepancy": True, "discrepancy_detail": "DOB differs"}
    line = forms.summarize("specimen_handoff", answers)
    assert line.endswith("DISCREPANCY")
    assert "Testpatient" not in line and "1970" not in line


def test_summary_of_isolation_and_empty_form():
    answers = {**example("ed_triage"), "isolation": "airborne", "chief_complaint": "cough " * 20}
    line = forms.summarize("ed_triage", answers)
    assert line.endswith("majors · airborne isolation")
    assert "…" in line and len(line) < 90
    assert forms.summarize("referral", {}) == "Referral"


def test_summary_uses_site_choice_labels():
    site = forms.parse_overlay(
        {
            "choices": {
                "referral": {
                    "specialty": [
                        {"code": "cardiology", "display": "Heart team"},
                        {"code": "renal", "display": "Renal"},
                    ]
                }
            }
        }
    )
    q = forms.load_questionnaire("referral", site)
    assert forms.summarize("referral", example("referral"), questionnaire=q).startswith("Heart team · ")


def test_blank_form_lines_for_specimen_handoff():
    lines = forms.blank_form_lines("specimen_handoff")
    by_label = {label: (depth, hint) for depth, label, hint in lines}
    assert by_label["Labelled at the bedside (in front of the patient) *"] == (0, "[ ] yes  [ ] no")
    assert by_label["Patient identifier 2: date of birth *"][1].startswith("____-__-__")
    assert "[ ] Urine" in by_label["Specimen type *"][1]
    assert (
        lines[-1][1]
        == "Discrepancy details (escalated to the lab supervisor) * (only if Discrepancy found is yes)"
    )
    assert len(lines) == len(forms.items_by_link_id(forms.load_questionnaire("specimen_handoff")))


def test_blank_form_prints_repeating_groups_as_numbered_blocks():
    lines = forms.blank_form_lines("med_reconciliation", repeat_blocks=2)
    headings = [(d, label) for d, label, hint in lines if label.startswith("Medication ") and hint == ""]
    assert [label.split(" (")[0] for _, label in headings] == ["Medication 1", "Medication 2"]
    assert any(d == 1 and label == "Medication name *" for d, label, _ in lines)
    assert any("Modification" in label and "only if Decision is Modify" in label for _, label, _ in lines)
    vitals = dict((label, hint) for _, label, hint in forms.blank_form_lines("ed_triage"))
    assert vitals["Heart rate (beats/min)"] == "______ (20–300)"
    assert vitals["Temperature (°C)"] == "______ °C (20–45)"


def test_blank_form_respects_disabled_workflows():
    site = forms.parse_overlay({"enabled_workflows": ["referral"]})
    with pytest.raises(forms.WorkflowDisabled):
        forms.blank_form_lines("ed_triage", site)
