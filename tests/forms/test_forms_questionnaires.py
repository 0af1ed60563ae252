"""The shipped Questionnaires: valid FHIR R4B, stable keys, locked identity items."""

import re

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

import forms
from forms.questionnaire import LOCKED_URL, base_questionnaire, iter_items


@pytest.mark.parametrize("workflow", forms.WORKFLOWS)
def test_questionnaire_parses_with_fhir_resources(workflow):
    q = forms.load_questionnaire(workflow)
    parsed = Questionnaire.model_validate(q)
    assert parsed.url == f"https://tideover.example/fhir/Questionnaire/{workflow}"
    assert parsed.version == "1"
    assert parsed.status == "active"
    assert parsed.title == forms.WORKFLOW_TITLES[workflow]


def test_workflows_are_the_five_in_order():
    assert forms.WORKFLOWS == (
        "ed_triage",
        "inpatient_discharge",
        "med_reconciliation",
        "referral",
        "specimen_handoff",
    )
    assert set(forms.WORKFLOW_TITLES) == set(forms.WORKFLOWS)


@pytest.mark.parametrize("workflow", forms.WORKFLOWS)
def test_link_ids_are_unique_snake_case_and_enable_when_points_at_real_items(workflow):
    q = forms.load_questionnaire(workflow)
    link_ids = [item["linkId"] for item in iter_items(q)]
    assert len(link_ids) == len(set(link_ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", x) for x in link_ids), link_ids
    items = forms.items_by_link_id(q)
    assert set(items) == set(link_ids)
    for item in items.values():
        assert item.get("text"), item["linkId"]
        for ew in item.get("enableWhen", ()):
            assert ew["question"] in items


def test_specimen_identifiers_and_discrepancy_are_locked():
    items = forms.items_by_link_id(forms.load_questionnaire("specimen_handoff"))
    for link_id in (
        "identifier_1_name",
        "identifier_2_dob",
        "labelled_at_bedside",
        "discrepancy",
        "discrepancy_detail",
    ):
        assert forms.is_locked(items[link_id]), link_id
        assert {"url": LOCKED_URL, "valueBoolean": True} in items[link_id]["extension"]
    assert items["identifier_1_name"]["required"] and items["identifier_2_dob"]["required"]
    assert items["identifier_2_dob"]["type"] == "date"
    assert not forms.is_locked(items["specimen_site"])


def test_vital_signs_carry_realistic_ranges():
    items = forms.items_by_link_id(forms.load_questionnaire("ed_triage"))

    def bounds(link_id):
        exts = {e["url"].rsplit("/", 1)[1]: e for e in items[link_id]["extension"]}
        return exts["minValue"]["valueInteger"], exts["maxValue"]["valueInteger"]

    assert bounds("heart_rate") == (20, 300)
    assert bounds("pain_score") == (0, 10)
    assert bounds("spo2")[1] == 100
    assert items["temperature"]["type"] == "quantity"
    assert [o["valueInteger"] for o in items["acuity_esi"]["answerOption"]] == [1, 2, 3, 4, 5]


def test_load_questionnaire_hands_out_copies():
    q = forms.load_questionnaire("referral")
    q["item"][0]["text"] = "scribbled on"
    assert forms.load_questionnaire("referral")["item"][0]["text"] == "Specialty"
    assert base_questionnaire("referral")["item"][0]["text"] == "Specialty"


def test_unknown_workflow_is_refused():
    with pytest.raises(forms.UnknownWorkflow) as err:
        forms.load_questionnaire("ed_triage ")
    assert isinstance(err.value, forms.FormError)
    assert "Unknown workflow" in str(err.value)
