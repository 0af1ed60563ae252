"""The FHIR Task state machine and priorities, as pure functions (the words and the state diagram
themselves are in ``forms.vocabulary``).

Statuses and their meaning follow FHIR R4B ``TaskStatus``; the allowed moves follow the
state diagram of the FHIR Task resource, with ``entered-in-error`` reachable from anywhere
but itself (corrections are new events, never edits).
"""

from __future__ import annotations

from forms.vocabulary import ENTERED_IN_ERROR, INITIAL_STATUS, PRIORITIES, STATUS_MOVES, STATUSES

from .errors import IllegalTransition

__all__ = ["INITIAL_STATUS", "PRIORITIES", "STATUSES", "allowed_next", "check_priority", "check_status",
           "check_transition", "higher_priority"]


def allowed_next(status: str) -> tuple[str, ...]:
    """Statuses a task in ``status`` may move to, in the order of ``STATUSES``."""
    check_status(status)
    moves = set(STATUS_MOVES[status])
    if status != ENTERED_IN_ERROR:
        moves.add(ENTERED_IN_ERROR)
    return tuple(s for s in STATUSES if s in moves)


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise IllegalTransition(f"'{status}' is not a task status; use one of: {', '.join(STATUSES)}")
    return status


def check_priority(priority: str) -> str:
    if priority not in PRIORITIES:
        raise IllegalTransition(f"'{priority}' is not a priority; use one of: {', '.join(PRIORITIES)}")
    return priority


def check_transition(current: str, target: str) -> str:
    """Return ``target`` if a task may move from ``current`` to it, else raise IllegalTransition."""
    check_status(target)
    if target == current:
        raise IllegalTransition(f"The task is already '{current}'.")
    if target not in allowed_next(current):
        nxt = allowed_next(current)
        hint = f"from '{current}' it can go to: {', '.join(nxt)}" if nxt else f"'{current}' is final"
        raise IllegalTransition(f"A task cannot go from '{current}' to '{target}'; {hint}.")
    return target


def higher_priority(a: str, b: str) -> str:
    """The more urgent of two priorities."""
    return a if PRIORITIES.index(check_priority(a)) >= PRIORITIES.index(check_priority(b)) else b
