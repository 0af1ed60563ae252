"""Stored answers carry linkIds and values, not label text; showing and printing them takes the labels
from the form version the answers were made with, and answers stored with labels read the same."""

from __future__ import annotations

import copy

import forms
from app.services import printing
from app.services import tasks as ts
from app.services.demo import example_answers
from forms.questionnaire import items_by_link_id


def _with_labels(qr: dict) -> dict:
    """The answers as a release before this one stored them: every item repeating its label."""
    labels = {k: v["text"] for k, v in items_by_link_id(forms.questionnaire_for_response(qr)).items()}
    old = copy.deepcopy(qr)

    def label(items):
        for item in items:
            item["text"] = labels[item["linkId"]]
            label(item.get("item", []))

    label(old["item"])
    return old


def _all_items(items):
    for item in items:
        yield item
        yield from _all_items(item.get("item", []))


def test_stored_answers_have_no_labels_yet_print_with_the_forms_labels(demo_store):
    task_id = demo_store.made["ed_triage"]
    stored = ts.show_task(demo_store, task_id, record_view=False)["answers"]
    assert stored["questionnaire"] == forms.canonical_url("ed_triage")
    assert [i["linkId"] for i in _all_items(stored["item"])]
    assert not [i for i in _all_items(stored["item"]) if "text" in i]

    lines = printing.task_printout(demo_store, task_id)["answer_lines"]
    shown = {label: value for _, label, value in lines}
    assert shown["Chief complaint"] == example_answers("ed_triage")["chief_complaint"]
    assert "Vital signs" in shown and shown["Heart rate (beats/min)"]


def test_answers_stored_with_labels_show_the_same_lines():
    for workflow in forms.WORKFLOWS:
        qr = forms.validate_answers(workflow, example_answers(workflow))
        old = _with_labels(qr)
        assert any("text" in i for i in _all_items(old["item"]))
        assert printing.response_lines(workflow, old) == printing.response_lines(workflow, qr)
        assert forms.simple_answers(old) == forms.simple_answers(qr)
