"""Questionnaire versions: stored answers name the version they were made with, and every later
version keeps every linkId, so answers of any version can be shown with their labels."""

from __future__ import annotations

import copy

import pytest

import forms
from forms.questionnaire import (
    archived_versions,
    base_questionnaire,
    lost_link_ids,
    questionnaire_for_response,
)


@pytest.mark.parametrize("workflow", forms.WORKFLOWS)
def test_the_current_form_keeps_every_linkid_of_every_earlier_version(workflow):
    current = base_questionnaire(workflow)
    for older in archived_versions(workflow):
        assert older["version"] != current["version"]
        assert lost_link_ids(older, current) == set(), older["version"]


def test_a_version_that_drops_a_linkid_is_caught():
    older = base_questionnaire("referral")
    newer = copy.deepcopy(older)
    dropped = newer["item"].pop(0)["linkId"]
    assert lost_link_ids(older, newer) == {dropped}


def test_a_response_finds_the_version_it_names():
    current = base_questionnaire("referral")
    url = current["url"]
    assert questionnaire_for_response({"questionnaire": f"{url}|{current['version']}"}) is current
    assert questionnaire_for_response({"questionnaire": url}) is current
    # A version this release does not ship (made by a newer workstation) reads with the current form.
    assert questionnaire_for_response({"questionnaire": f"{url}|99"}) is current
    assert questionnaire_for_response({"questionnaire": f"{url}|../../etc"}) is current
    assert questionnaire_for_response({"questionnaire": "https://elsewhere.example/Questionnaire/x|1"}) is None
