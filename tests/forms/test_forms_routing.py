"""Routing and escalation: built-in queues, site rules first, safety escalations kept."""

import json
from importlib import resources

import pytest

import forms


def example(workflow):
    return json.loads(resources.files("forms").joinpath("examples", f"{workflow}.json").read_text("utf-8"))


def overlay(routing=(), **kw):
    return forms.parse_overlay({"routing": list(routing), **kw})


@pytest.mark.parametrize(
    "workflow, queue",
    [
        ("inpatient_discharge", "bed_control"),
        ("med_reconciliation", "pharmacy"),
        ("referral", "referral_office"),
        ("specimen_handoff", "lab"),
    ],
)
def test_default_destinations(workflow, queue):
    assert forms.route_destination(workflow, example(workflow)) == queue


@pytest.mark.parametrize(
    "esi, queue, priority",
    [(1, "ed_resus", "stat"), (2, "ed_resus", "urgent"), (3, "ed_nursing", None), (5, "ed_nursing", None)],
)
def test_ed_triage_by_acuity(esi, queue, priority):
    answers = {**example("ed_triage"), "acuity_esi": esi}
    assert forms.route_destination("ed_triage", answers) == queue
    assert forms.escalated_priority("ed_triage", answers) == priority


def test_specimen_discrepancy_goes_to_lab_supervisor_urgently():
    answers = {
        **example("specimen_handoff"),
        "discrepancy": True,
        "discrepancy_detail": "DOB on tube differs",
    }
    forms.validate_answers("specimen_handoff", answers)
    assert forms.route_destination("specimen_handoff", answers) == "lab_supervisor"
    assert forms.escalated_priority("specimen_handoff", answers) == "urgent"
    assert forms.escalated_priority("specimen_handoff", example("specimen_handoff")) is None


def test_routing_reads_a_questionnaire_response_too():
    answers = {**example("ed_triage"), "acuity_esi": 1}
    qr = forms.validate_answers("ed_triage", answers)
    assert forms.route_destination("ed_triage", qr) == "ed_resus"
    assert forms.escalated_priority("ed_triage", qr) == "stat"


def test_site_rules_come_before_built_in_rules():
    site = overlay(
        [
            {
                "workflow": "ed_triage",
                "when": {"linkId": "ed_zone", "equals": "paeds"},
                "destination": "paeds_ed",
            },
            {
                "workflow": "ed_triage",
                "when": {"linkId": "ed_zone", "equals": "majors"},
                "destination": "majors_team",
            },
        ]
    )
    answers = {**example("ed_triage"), "ed_zone": "paeds", "acuity_esi": 2}
    assert forms.route_destination("ed_triage", answers, site) == "paeds_ed"
    answers["ed_zone"] = "minors"
    assert forms.route_destination("ed_triage", answers, site) == "ed_resus"
    answers["acuity_esi"] = 4
    assert forms.route_destination("ed_triage", answers, site) == "ed_nursing"


def test_site_rules_match_inside_repeating_groups():
    site = overlay(
        [
            {
                "workflow": "med_reconciliation",
                "when": {"linkId": "decision", "equals": "stop"},
                "destination": "ward_pharmacist",
            }
        ]
    )
    answers = example("med_reconciliation")
    assert forms.route_destination("med_reconciliation", answers, site) == "pharmacy"
    answers["medication"][2]["decision"] = "stop"
    assert forms.route_destination("med_reconciliation", answers, site) == "ward_pharmacist"


def test_site_default_destination():
    site = overlay(default_destination={"specimen_handoff": "satellite_lab"})
    assert forms.route_destination("specimen_handoff", example("specimen_handoff"), site) == "satellite_lab"
    assert forms.route_destination("referral", example("referral"), site) == "referral_office"


def test_a_site_rule_cannot_route_a_discrepancy_away_from_the_supervisor():
    site = overlay(
        [
            {
                "workflow": "specimen_handoff",
                "when": {"linkId": "specimen_type", "equals": "urine"},
                "destination": "urine_bench",
            }
        ]
    )
    answers = {**example("specimen_handoff"), "discrepancy": True, "discrepancy_detail": "unlabelled"}
    assert forms.route_destination("specimen_handoff", answers, site) == "lab_supervisor"
    assert forms.route_destination("specimen_handoff", example("specimen_handoff"), site) == "urine_bench"


def test_a_site_may_name_its_own_supervisor_queue_for_discrepancies():
    site = overlay(
        [
            {
                "workflow": "specimen_handoff",
                "when": {"linkId": "discrepancy", "equals": True},
                "destination": "blood_sciences_supervisor",
            }
        ]
    )
    answers = {**example("specimen_handoff"), "discrepancy": True, "discrepancy_detail": "wrong tube"}
    assert forms.route_destination("specimen_handoff", answers, site) == "blood_sciences_supervisor"


def test_referral_priority_follows_its_urgency():
    assert forms.escalated_priority("referral", {**example("referral"), "urgency": "stat"}) == "stat"
    assert forms.escalated_priority("referral", {**example("referral"), "urgency": "routine"}) is None


def test_unknown_workflow():
    with pytest.raises(forms.UnknownWorkflow):
        forms.route_destination("triage", {})
    with pytest.raises(forms.UnknownWorkflow):
        forms.escalated_priority("triage", {})


def test_known_destinations_are_every_queue_a_route_can_name():
    """The hand-over list is made from the routes, so a queue a form can be routed to is always offered."""
    built_in = forms.known_destinations()
    assert {"ed_nursing", "ed_resus", "lab", "lab_supervisor", "pharmacy", "bed_control", "referral_office"} == \
        set(built_in)
    site = overlay(default_destination={"specimen_handoff": "satellite_lab"})
    assert set(forms.known_destinations(site)) == set(built_in) | {"satellite_lab"}
    assert list(forms.known_destinations(site)) == sorted(forms.known_destinations(site))
