"""simple answers -> QuestionnaireResponse -> simple answers, for generated valid answers of every form."""

import json
from datetime import UTC, timedelta, timezone
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import forms
from forms.compiled import base_form

ZONES = st.integers(-12 * 4, 14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)) if q else UTC)


def value_strategy(f):
    if f.options is not None:
        return st.sampled_from(list(f.options))
    if f.type == "boolean":
        return st.booleans()
    if f.type == "integer":
        return st.integers(
            f.minimum if f.minimum is not None else -(10**6), f.maximum if f.maximum is not None else 10**6
        )
    if f.type == "quantity":
        return (
            st.floats(f.minimum, f.maximum, allow_nan=False)
            .map(lambda v: {"value": round(v, 1), "unit": "Cel"})
            .filter(lambda q: f.minimum <= q["value"] <= f.maximum)
        )
    if f.type == "date":
        return st.dates().map(lambda d: d.isoformat())
    if f.type == "dateTime":
        return st.builds(
            lambda dt, tz: dt.replace(tzinfo=tz).isoformat(timespec="seconds"), st.datetimes(), ZONES
        )
    if f.type in ("string", "text"):
        return st.text(min_size=1, max_size=f.max_length or 60).filter(lambda s: s.strip())
    raise AssertionError(f"no strategy for {f.type}")


def holds(condition, siblings, top):
    # Our forms only point enableWhen at siblings or top-level items; that is asserted here too.
    source = siblings if condition.question in siblings or not condition.question_groups else top
    value = source.get(condition.question)
    if condition.operator == "exists":
        return (value is not None) == condition.expected
    assert condition.operator == "=", condition.operator
    return value == condition.expected and isinstance(value, bool) == isinstance(condition.expected, bool)


def draw_group(draw, fields, top, siblings):
    for f in fields:
        if f.conditions:
            results = [holds(c, siblings, top) for c in f.conditions]
            if not (any(results) if f.enable_any else all(results)):
                continue
        if not f.required and not draw(st.booleans()):
            continue
        if f.type == "group":
            count = draw(st.integers(1, 3)) if f.repeats else 1
            instances = []
            for _ in range(count):
                inst = {}
                draw_group(draw, f.children, top, inst)
                instances.append(inst)
            if f.repeats:
                siblings[f.link_id] = instances
            elif instances[0]:
                siblings[f.link_id] = instances[0]
        elif f.repeats:
            siblings[f.link_id] = draw(st.lists(value_strategy(f), min_size=1, max_size=3))
        else:
            siblings[f.link_id] = draw(value_strategy(f))


@st.composite
def valid_answers(draw, workflow):
    top = {}
    draw_group(draw, base_form(workflow).fields, top, top)
    return top


@pytest.mark.parametrize("workflow", forms.WORKFLOWS)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_simple_to_response_to_simple_round_trips(workflow, data):
    simple = data.draw(valid_answers(workflow))
    qr = forms.validate_answers(workflow, simple)
    assert forms.simple_answers(qr) == simple
    assert forms.validate_answers(workflow, forms.simple_answers(qr)) == qr
    assert forms.validate_answers(workflow, qr) == qr
    assert json.loads(json.dumps(qr)) == qr  # plain JSON, ready for the event payload


@pytest.mark.parametrize("workflow", ["ed_triage", "med_reconciliation", "specimen_handoff"])
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_generated_responses_are_valid_fhir(workflow, data):
    qr = forms.validate_answers(workflow, data.draw(valid_answers(workflow)))
    assert forms.response_to_fhir(qr).questionnaire == qr["questionnaire"]


def test_simple_answers_of_example_equals_example_with_quantity_spelled_out():
    example = json.loads(resources.files("forms").joinpath("examples", "ed_triage.json").read_text("utf-8"))
    example["vital_signs"]["temperature"] = 37.8
    simple = forms.simple_answers(forms.validate_answers("ed_triage", example))
    assert simple["vital_signs"]["temperature"] == {"value": 37.8, "unit": "Cel"}
    assert simple["allergies"] == example["allergies"]
    assert simple["acuity_esi"] == 2


def test_simple_answers_keeps_a_single_repeating_group_entry_as_a_list():
    qr = forms.validate_answers(
        "med_reconciliation",
        {
            "list_sources": ["patient"],
            "medication": [{"medication_name": "Aspirin", "decision": "continue"}],
        },
    )
    assert forms.simple_answers(qr) == {
        "list_sources": ["patient"],
        "medication": [{"medication_name": "Aspirin", "decision": "continue"}],
    }
