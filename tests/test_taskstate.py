"""The FHIR Task state machine as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forms.vocabulary import FINISHED_STATUSES, PRIORITIES, STATUSES
from sync.errors import IllegalTransition
from sync.taskstate import allowed_next, check_transition, higher_priority


def test_the_usual_path_of_a_task_is_allowed():
    path = ["requested", "received", "accepted", "in-progress", "on-hold", "in-progress", "completed"]
    for a, b in zip(path, path[1:], strict=False):
        assert check_transition(a, b) == b


@pytest.mark.parametrize("final", sorted(FINISHED_STATUSES - {"entered-in-error"}))
def test_a_finished_task_can_only_be_marked_entered_in_error(final):
    assert allowed_next(final) == ("entered-in-error",)
    with pytest.raises(IllegalTransition, match=f"cannot go from '{final}' to 'in-progress'"):
        check_transition(final, "in-progress")


def test_entered_in_error_is_final_and_unknown_status_is_named():
    assert allowed_next("entered-in-error") == ()
    with pytest.raises(IllegalTransition, match="is final"):
        check_transition("entered-in-error", "requested")
    with pytest.raises(IllegalTransition, match="'done' is not a task status"):
        check_transition("requested", "done")
    with pytest.raises(IllegalTransition, match="already"):
        check_transition("accepted", "accepted")


@given(st.sampled_from(STATUSES), st.sampled_from(STATUSES))
def test_check_transition_agrees_with_allowed_next(a, b):
    if b in allowed_next(a):
        assert check_transition(a, b) == b
    else:
        with pytest.raises(IllegalTransition):
            check_transition(a, b)


def test_priorities_order():
    assert PRIORITIES == ("routine", "urgent", "asap", "stat")
    assert higher_priority("routine", "stat") == "stat"
    assert higher_priority("asap", "urgent") == "asap"
