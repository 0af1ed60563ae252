"""validate_answers: every example passes; each kind of mistake is named by its linkId."""

import json
import time
from copy import deepcopy
from importlib import resources

import pytest

import forms


def example(workflow):
    return json.loads(resources.files("forms").joinpath("examples", f"{workflow}.json").read_text("utf-8"))


def problems(workflow, answers):
    with pytest.raises(forms.FormError) as err:
        forms.validate_answers(workflow, answers)
    return err.value.problems


def link_ids(workflow, answers):
    return [p.link_id for p in problems(workflow, answers)]


@pytest.mark.parametrize("workflow", forms.WORKFLOWS)
def test_example_validates_and_parses_as_fhir(workflow):
    qr = forms.validate_answers(workflow, example(workflow))
    assert qr["resourceType"] == "QuestionnaireResponse"
    assert qr["questionnaire"] == f"https://tideover.example/fhir/Questionnaire/{workflow}|1"
    assert qr["status"] == "completed"
    parsed = forms.response_to_fhir(qr)
    assert parsed.questionnaire == qr["questionnaire"]
    assert [i.linkId for i in parsed.item] == [i["linkId"] for i in qr["item"]]


@pytest.mark.parametrize("workflow", forms.WORKFLOWS)
def test_a_questionnaire_response_is_accepted_as_input(workflow):
    qr = forms.validate_answers(workflow, example(workflow))
    assert forms.validate_answers(workflow, qr) == qr


def test_items_come_out_in_questionnaire_order_with_typed_answers():
    answers = example("ed_triage")
    shuffled = dict(reversed(list(answers.items())))
    qr = forms.validate_answers("ed_triage", shuffled)
    assert [i["linkId"] for i in qr["item"]] == [
        "arrival_time",
        "arrival_mode",
        "chief_complaint",
        "acuity_esi",
        "vital_signs",
        "no_known_allergies",
        "allergies",
        "isolation",
        "ed_zone",
    ]
    by_id = {i["linkId"]: i for i in qr["item"]}
    assert by_id["acuity_esi"]["answer"] == [{"valueInteger": 2}]
    assert by_id["arrival_mode"]["answer"][0]["valueCoding"]["code"] == "ambulance"
    assert by_id["arrival_time"]["answer"] == [{"valueDateTime": "2024-05-01T14:05:00+01:00"}]
    vitals = {i["linkId"]: i["answer"][0] for i in by_id["vital_signs"]["item"]}
    assert vitals["temperature"] == {
        "valueQuantity": {"value": 37.8, "unit": "°C", "system": "http://unitsofmeasure.org", "code": "Cel"}
    }
    # No label text in the stored answers: the form version the response names holds it.
    assert all("text" not in item for item in by_id.values())
    assert forms.items_by_link_id(forms.questionnaire_for_response(qr))["chief_complaint"]["text"] == "Chief complaint"


def test_temperature_may_be_a_plain_number():
    answers = example("ed_triage")
    answers["vital_signs"]["temperature"] = 36.9
    qr = forms.validate_answers("ed_triage", answers)
    vitals = next(i for i in qr["item"] if i["linkId"] == "vital_signs")
    temp = next(i for i in vitals["item"] if i["linkId"] == "temperature")
    assert temp["answer"][0]["valueQuantity"]["code"] == "Cel"


def test_missing_required_item():
    answers = example("ed_triage")
    del answers["chief_complaint"]
    found = problems("ed_triage", answers)
    assert [(p.link_id, p.message) for p in found] == [("chief_complaint", "Chief complaint is required")]


def test_blank_text_counts_as_missing():
    answers = example("ed_triage")
    answers["chief_complaint"] = "   "
    assert link_ids("ed_triage", answers) == ["chief_complaint"]


def test_wrong_types():
    answers = example("ed_triage")
    answers["vital_signs"]["heart_rate"] = "fast"
    answers["acuity_esi"] = True  # a bool must not pass for ESI 1
    answers["no_known_allergies"] = 0
    answers["arrival_time"] = "2024-05-01T14:05"  # no seconds, no zone
    found = problems("ed_triage", answers)
    assert sorted(p.link_id for p in found) == [
        "acuity_esi",
        "arrival_time",
        "heart_rate",
        "no_known_allergies",
    ]
    messages = {p.link_id: p.message for p in found}
    assert messages["heart_rate"] == "Heart rate must be a whole number"
    assert "time zone" in messages["arrival_time"]


def test_choice_not_in_list():
    answers = example("ed_triage")
    answers["arrival_mode"] = "helicopter"
    answers["acuity_esi"] = 6
    found = problems("ed_triage", answers)
    assert [p.link_id for p in found] == ["arrival_mode", "acuity_esi"]
    assert "Walk-in" in found[0].message


def test_out_of_range_vitals():
    answers = example("ed_triage")
    answers["vital_signs"]["heart_rate"] = 400
    answers["vital_signs"]["pain_score"] = -1
    answers["vital_signs"]["temperature"] = {"value": 73.0, "unit": "Cel"}
    found = problems("ed_triage", answers)
    assert [(p.link_id, p.message) for p in found] == [
        ("heart_rate", "Heart rate must be between 20 and 300"),
        ("temperature", "Temperature must be between 20 and 45"),
        ("pain_score", "Pain score must be between 0 and 10"),
    ]
    assert found[0].path == "vital_signs.heart_rate"


def test_wrong_temperature_unit_is_refused():
    answers = example("ed_triage")
    answers["vital_signs"]["temperature"] = {"value": 98.6, "unit": "[degF]"}
    assert link_ids("ed_triage", answers) == ["temperature"]


def test_modification_required_only_when_decision_is_modify():
    answers = example("med_reconciliation")
    del answers["medication"][1]["modification"]
    found = problems("med_reconciliation", answers)
    assert [(p.link_id, p.path) for p in found] == [("modification", "medication[2].modification")]
    assert found[0].message == "Medication 2: Modification is required"
    answers["medication"][1]["decision"] = "stop"  # now modification does not apply and may be absent
    forms.validate_answers("med_reconciliation", answers)


def test_answer_to_disabled_item_is_an_error_not_dropped():
    answers = example("med_reconciliation")
    answers["medication"][0]["modification"] = "halve the dose"  # decision is "hold"
    found = problems("med_reconciliation", answers)
    assert [p.link_id for p in found] == ["modification"]
    assert found[0].message == "Medication 1: Modification must be left blank unless Decision is Modify"


def test_pharmacist_name_only_with_verification():
    answers = example("med_reconciliation")
    answers["pharmacist_verified"] = False
    assert link_ids("med_reconciliation", answers) == ["pharmacist_name"]
    del answers["pharmacist_name"]
    forms.validate_answers("med_reconciliation", answers)
    answers["pharmacist_verified"] = True
    assert link_ids("med_reconciliation", answers) == ["pharmacist_name"]


def test_no_regular_medications_disables_the_medication_list():
    answers = example("med_reconciliation")
    answers["no_current_medications"] = True
    assert link_ids("med_reconciliation", answers) == ["medication"]
    del answers["medication"]
    qr = forms.validate_answers("med_reconciliation", answers)
    assert "medication" not in [i["linkId"] for i in qr["item"]]


def test_allergies_refused_when_no_known_allergies_ticked():
    answers = example("ed_triage")
    answers["no_known_allergies"] = True
    found = problems("ed_triage", answers)
    assert [p.link_id for p in found] == ["allergies"]
    assert "No known allergies is yes" in found[0].message


def test_discharge_owner_required_when_step_not_done():
    answers = example("inpatient_discharge")
    del answers["checklist"]["transport"]["transport_owner"]
    answers["checklist"]["med_rec"]["med_rec_owner"] = "someone"  # step is done: no owner expected
    found = problems("inpatient_discharge", answers)
    assert [(p.link_id, p.message) for p in found] == [
        ("med_rec_owner", "Medication reconciliation: Owner must be left blank unless Done is no"),
        ("transport_owner", "Transport arranged: Owner is required"),
    ]


def test_missing_required_group_names_its_missing_fields():
    answers = example("inpatient_discharge")
    del answers["checklist"]
    found = link_ids("inpatient_discharge", answers)
    assert found == [
        "med_rec_done",
        "follow_up_done",
        "education_done",
        "transport_done",
        "pharmacy_done",
        "case_management_done",
    ]


def test_repeats():
    answers = example("specimen_handoff")
    answers["tests"] = "FBC"  # repeating item given a single value
    answers["container"] = ["edta", "citrate"]  # single item given a list
    found = problems("specimen_handoff", answers)
    assert [(p.link_id, p.message) for p in found] == [
        ("container", "Container takes only one answer"),
        ("tests", "Tests requested must be a list of answers"),
    ]


def test_repeating_item_keeps_every_answer_and_drops_blank_lines():
    answers = example("specimen_handoff")
    answers["tests"] = ["FBC", "", "U&E"]
    qr = forms.validate_answers("specimen_handoff", answers)
    tests = next(i for i in qr["item"] if i["linkId"] == "tests")
    assert tests["answer"] == [{"valueString": "FBC"}, {"valueString": "U&E"}]


def test_repeating_group_must_be_a_list_of_groups():
    answers = example("med_reconciliation")
    answers["medication"] = answers["medication"][0]
    assert link_ids("med_reconciliation", answers) == ["medication"]
    answers["medication"] = ["Metformin"]
    assert link_ids("med_reconciliation", answers) == ["medication"]


def test_unknown_and_misplaced_link_ids():
    answers = example("ed_triage")
    answers["shoe_size"] = 9
    answers["heart_rate"] = 80  # belongs inside vital_signs
    answers["vital_signs"]["weight"] = 70
    found = problems("ed_triage", answers)
    assert sorted(p.link_id for p in found) == ["heart_rate", "shoe_size", "weight"]
    misplaced = next(p for p in found if p.link_id == "heart_rate")
    assert misplaced.message == "Heart rate is in the wrong place: it belongs in Vital signs"


def test_unknown_workflow():
    with pytest.raises(forms.UnknownWorkflow) as err:
        forms.validate_answers("ed-triage", {})
    assert err.value.problems[0].link_id is None


def test_all_problems_are_reported_at_once():
    found = problems("specimen_handoff", {"discrepancy": True})
    assert [p.link_id for p in found] == [
        "identifier_1_name",
        "identifier_2_dob",
        "specimen_type",
        "container",
        "tests",
        "collected_at",
        "collected_by",
        "labelled_at_bedside",
        "discrepancy_detail",
    ]
    err = forms.FormError(found)
    assert str(err).startswith(
        "Patient identifier 1: full name is required; Patient identifier 2: date of birth is required; "
    )


def test_impossible_dates_are_refused():
    answers = example("specimen_handoff")
    answers["identifier_2_dob"] = "1970-02-30"
    answers["collected_at"] = "2024-05-01T25:05:00Z"
    assert link_ids("specimen_handoff", answers) == ["identifier_2_dob", "collected_at"]


def test_response_with_wrong_value_type_is_refused():
    qr = forms.validate_answers("ed_triage", example("ed_triage"))
    bad = deepcopy(qr)
    acuity = next(i for i in bad["item"] if i["linkId"] == "acuity_esi")
    acuity["answer"] = [{"valueString": "2"}]
    found = problems("ed_triage", bad)
    assert [p.link_id for p in found] == ["acuity_esi"]


def test_response_for_another_questionnaire_is_refused():
    qr = forms.validate_answers("referral", example("referral"))
    qr["questionnaire"] = "https://tideover.example/fhir/Questionnaire/ed_triage|1"
    found = problems("referral", qr)
    assert found[0].link_id is None and "not https://tideover.example" in found[0].message


def test_answers_must_be_an_object():
    with pytest.raises(forms.FormError):
        forms.validate_answers("referral", ["specialty", "cardiology"])


def test_unstorable_text_is_refused():
    answers = example("referral")
    answers["reason"] = "chest pain \ud800"
    assert link_ids("referral", answers) == ["reason"]


def test_validation_is_fast_enough_for_capture():
    # A loose guard against accidentally putting fhir.resources in the hot path; figures go in benchmarks/.
    answers = example("med_reconciliation")
    forms.validate_answers("med_reconciliation", answers)
    start = time.perf_counter()
    for _ in range(200):
        forms.validate_answers("med_reconciliation", answers)
    assert (time.perf_counter() - start) / 200 < 0.005
