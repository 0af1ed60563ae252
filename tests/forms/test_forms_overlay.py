"""Site overlays: what a site may vary shows up; identity, schema and audit cannot be touched."""

import json

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

import forms
from forms.questionnaire import base_questionnaire


def write(tmp_path, data, name="site.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def refused(tmp_path, data):
    path = write(tmp_path, data)
    with pytest.raises(forms.OverlayError) as err:
        forms.load_overlay(path)
    assert err.value.path == str(path)
    assert str(err.value).startswith(str(path))
    return err.value.reason


SITE = {
    "labels": {"ed_triage": {"chief_complaint": "Presenting complaint"}},
    "choices": {
        "ed_triage": {
            "ed_zone": [
                {"code": "resus", "display": "Resus"},
                {"code": "majors", "display": "Majors"},
                {"code": "ambulatory", "display": "Ambulatory care"},
            ]
        }
    },
    "defaults": {"ed_triage": {"isolation": "none"}, "referral": {"urgency": "urgent"}},
    "routing": [
        {
            "workflow": "ed_triage",
            "when": {"linkId": "ed_zone", "equals": "ambulatory"},
            "destination": "ambulatory_nursing",
        }
    ],
    "enabled_workflows": ["ed_triage", "referral", "specimen_handoff"],
    "default_destination": {"referral": "outpatient_bookings"},
}


@pytest.fixture
def site(tmp_path):
    return forms.load_overlay(write(tmp_path, SITE))


def test_label_change_shows_in_form_response_and_paper(site):
    q = forms.load_questionnaire("ed_triage", site)
    assert forms.items_by_link_id(q)["chief_complaint"]["text"] == "Presenting complaint"
    answers = {
        "arrival_time": "2024-05-01T14:05:00Z",
        "arrival_mode": "walk_in",
        "chief_complaint": "",
        "acuity_esi": 3,
        "isolation": "none",
    }
    with pytest.raises(forms.FormError) as err:
        forms.validate_answers("ed_triage", answers, q)
    assert err.value.problems[0].message == "Presenting complaint is required"
    answers["chief_complaint"] = "sprained ankle"
    qr = forms.validate_answers("ed_triage", answers, q)
    assert "text" not in next(i for i in qr["item"] if i["linkId"] == "chief_complaint")  # labels live in the form
    labels = [label for _, label, _ in forms.blank_form_lines("ed_triage", site)]
    assert "Presenting complaint *" in labels
    # The shipped form is untouched.
    assert (
        forms.items_by_link_id(base_questionnaire("ed_triage"))["chief_complaint"]["text"]
        == "Chief complaint"
    )


def test_choice_list_is_replaced(site):
    q = forms.load_questionnaire("ed_triage", site)
    codes = [o["valueCoding"]["code"] for o in forms.items_by_link_id(q)["ed_zone"]["answerOption"]]
    assert codes == ["resus", "majors", "ambulatory"]
    answers = {
        "arrival_time": "2024-05-01T14:05:00Z",
        "arrival_mode": "walk_in",
        "chief_complaint": "cut",
        "acuity_esi": 4,
        "isolation": "none",
        "ed_zone": "ambulatory",
    }
    forms.validate_answers("ed_triage", answers, q)
    answers["ed_zone"] = "minors"  # dropped by the site
    with pytest.raises(forms.FormError) as err:
        forms.validate_answers("ed_triage", answers, q)
    assert err.value.link_ids == ["ed_zone"]
    assert "Ambulatory care" in err.value.problems[0].message


def test_defaults_become_initial_values(site):
    items = forms.items_by_link_id(forms.load_questionnaire("referral", site))
    assert items["urgency"]["initial"][0]["valueCoding"]["code"] == "urgent"
    items = forms.items_by_link_id(forms.load_questionnaire("ed_triage", site))
    assert items["isolation"]["initial"][0]["valueCoding"]["code"] == "none"


@pytest.mark.parametrize("workflow", ["ed_triage", "referral", "specimen_handoff"])
def test_overlaid_questionnaires_are_valid_fhir(site, workflow):
    Questionnaire.model_validate(forms.load_questionnaire(workflow, site))


def test_disabling_workflows(site):
    assert site.workflows_enabled() == ("ed_triage", "referral", "specimen_handoff")
    with pytest.raises(forms.WorkflowDisabled):
        forms.load_questionnaire("med_reconciliation", site)
    assert forms.SiteOverlay().workflows_enabled() == forms.WORKFLOWS
    # Answers captured before a workflow was switched off still check against the shipped form.
    forms.validate_answers(
        "med_reconciliation", {"list_sources": ["patient"], "no_current_medications": True}
    )


def test_locked_item_is_refused_naming_the_file(tmp_path):
    reason = refused(tmp_path, {"labels": {"specimen_handoff": {"identifier_1_name": "Name"}}})
    assert "identifier_1_name" in reason and "locked" in reason
    reason = refused(tmp_path, {"defaults": {"specimen_handoff": {"labelled_at_bedside": True}}})
    assert "locked" in reason
    reason = refused(tmp_path, {"labels": {"specimen_handoff": {"discrepancy": "Any issues?"}}})
    assert "locked" in reason


def test_bad_json_is_refused(tmp_path):
    reason = refused(tmp_path, '{"labels": {"ed_triage": {"chief_complaint": "x",}}}')
    assert reason.startswith("not valid JSON") and "line 1" in reason
    assert "an overlay must be a JSON object" == refused(tmp_path, "[]")


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(forms.OverlayError) as err:
        forms.load_overlay(tmp_path / "nope.json")
    assert "cannot read" in err.value.reason


@pytest.mark.parametrize(
    "attempt, word",
    [
        ({"labels": {"ed_triage": {"chief_complaint": {"text": "x", "required": False}}}}, "required"),
        ({"items": {"ed_triage": {"acuity_esi": {"type": "string"}}}}, "type"),
        ({"ed_triage": {"linkId": "triage"}}, "linkIds"),
        ({"auto_lock_minutes": 5}, "cannot vary by site"),
    ],
)
def test_schema_changes_are_refused(tmp_path, attempt, word):
    assert word in refused(tmp_path, attempt)


def test_unknown_link_id_and_workflow_are_refused(tmp_path):
    assert "unknown linkId 'shoe_size'" in refused(
        tmp_path, {"labels": {"ed_triage": {"shoe_size": "Shoe size"}}}
    )
    assert "unknown workflow 'ward_round'" in refused(tmp_path, {"labels": {"ward_round": {"x": "y"}}})
    assert "unknown workflow" in refused(tmp_path, {"enabled_workflows": ["ed_triage", "ward_round"]})


def test_choice_list_must_keep_codes_the_form_and_routing_use(tmp_path):
    reason = refused(
        tmp_path,
        {
            "choices": {
                "med_reconciliation": {
                    "decision": [
                        {"code": "continue", "display": "Continue"},
                        {"code": "stop", "display": "Stop"},
                    ]
                }
            }
        },
    )
    assert "modify" in reason
    reason = refused(
        tmp_path,
        {
            "choices": {"ed_triage": {"ed_zone": [{"code": "majors", "display": "Majors"}]}},
            "routing": [
                {
                    "workflow": "ed_triage",
                    "when": {"linkId": "ed_zone", "equals": "paeds"},
                    "destination": "paeds_ed",
                }
            ],
        },
    )
    assert "paeds" in reason


def test_bad_defaults_and_routing_values_are_refused(tmp_path):
    assert "not one of the options" in refused(tmp_path, {"defaults": {"referral": {"urgency": "whenever"}}})
    assert "repeats" in refused(tmp_path, {"defaults": {"specimen_handoff": {"tests": "FBC"}}})
    assert "is a group" in refused(
        tmp_path,
        {
            "routing": [
                {"workflow": "ed_triage", "when": {"linkId": "vital_signs", "equals": 1}, "destination": "x"}
            ]
        },
    )
    assert "yes or no" in refused(
        tmp_path,
        {
            "routing": [
                {
                    "workflow": "specimen_handoff",
                    "when": {"linkId": "discrepancy", "equals": "yes"},
                    "destination": "x",
                }
            ]
        },
    )
    assert "queue name" in refused(tmp_path, {"default_destination": {"referral": "Outpatient Bookings"}})


def test_apply_overlay_does_not_touch_its_input(site):
    q = forms.load_questionnaire("ed_triage")
    out = forms.apply_overlay(q, site, "ed_triage")
    assert forms.items_by_link_id(q)["chief_complaint"]["text"] == "Chief complaint"
    assert forms.items_by_link_id(out)["chief_complaint"]["text"] == "Presenting complaint"


def test_overlay_from_a_site_profile_dict_names_its_source():
    with pytest.raises(forms.OverlayError) as err:
        forms.parse_overlay({"enabled_workflows": []}, source="site profile north-1")
    assert err.value.path == "site profile north-1"
    assert "at least one workflow" in err.value.reason


def test_standard_code_lists_may_be_relabelled_and_trimmed_but_not_extended(tmp_path):
    trimmed = {
        "choices": {
            "referral": {
                "urgency": [
                    {"code": "routine", "display": "Routine (within 2 weeks)"},
                    {"code": "urgent", "display": "Urgent"},
                ]
            }
        }
    }
    site = forms.load_overlay(write(tmp_path, trimmed))
    options = forms.items_by_link_id(forms.load_questionnaire("referral", site))["urgency"]["answerOption"]
    assert options[0]["valueCoding"] == {
        "system": "http://hl7.org/fhir/request-priority",
        "code": "routine",
        "display": "Routine (within 2 weeks)",
    }
    invented = {
        "choices": {
            "referral": {
                "urgency": [
                    {"code": "routine", "display": "Routine"},
                    {"code": "next_week", "display": "Next week"},
                ]
            }
        }
    }
    assert "next_week not in the standard code system" in refused(tmp_path, invented)
