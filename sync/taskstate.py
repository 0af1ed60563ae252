"""The FHIR Task state machine and priorities, as pure functions.

Statuses and their meaning follow FHIR R4B ``TaskStatus``; the allowed moves follow the
state diagram of the FHIR Task resource, with ``entered-in-error`` reachable from anywhere
but itself (corrections are new events, never edits).
"""

from __future__ import annotations

from .errors import IllegalTransition

STATUSES = (
    "draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
    "in-progress", "on-hold", "failed", "completed", "entered-in-error",
)
PRIORITIES = ("routine", "urgent", "asap", "stat")
TERMINAL = frozenset({"rejected", "cancelled", "failed", "completed", "entered-in-error"})

_MOVES: dict[str, frozenset[str]] = {
    "draft": frozenset({"requested", "cancelled"}),
    "requested": frozenset({"received", "accepted", "rejected", "ready", "in-progress", "cancelled"}),
    "received": frozenset({"accepted", "rejected", "cancelled"}),
    "accepted": frozenset({"ready", "in-progress", "cancelled"}),
    "ready": frozenset({"in-progress", "cancelled", "failed"}),
    "in-progress": frozenset({"on-hold", "completed", "failed", "cancelled"}),
    "on-hold": frozenset({"in-progress", "cancelled", "failed"}),
    "rejected": frozenset(),
    "cancelled": frozenset(),
    "failed": frozenset(),
    "completed": frozenset(),
    "entered-in-error": frozenset(),
}

INITIAL_STATUS = "requested"


def allowed_next(status: str) -> tuple[str, ...]:
    """Statuses a task in ``status`` may move to, in the order of ``STATUSES``."""
    check_status(status)
    moves = set(_MOVES[status])
    if status != "entered-in-error":
        moves.add("entered-in-error")
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
