"""The meaning rules of taking a push: what each well-chained event is answered.

Pure decisions, no database: an event a workstation could not take (``sync.validity``, the one rule
of both ends) or that names another key is quarantined or rejected; an event timed beyond belief is
held back (``clocks``); an id used twice in a batch is quarantined; an edit made from the same task
version as one another device already made is a ``conflict`` (``sync.taskorder``: never the clocks);
everything else is ``accepted``. Held-back events never block the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.protocol import (
    ACCEPTED,
    CONCURRENT_EDIT,
    CONFLICT,
    ID_REUSED,
    INVALID_PAYLOAD,
    KEY_MISMATCH,
    QUARANTINED,
    REJECTED,
    UNKNOWN_TYPE,
)
from sync.taskorder import rival_key
from sync.validity import event_problem

from . import clocks
from .enroll import Device

Verdict = tuple[str, str, str]  # (result, reason, detail) of an event that is not simply taken

_QUARANTINED_REASONS = frozenset({UNKNOWN_TYPE, INVALID_PAYLOAD})
_HELD_BACK = frozenset({QUARANTINED, REJECTED})
REUSED_IN_BATCH = (QUARANTINED, ID_REUSED, "another event of the batch has this event_id")
REUSED_HELD = (QUARANTINED, ID_REUSED, "another event already has this event_id")


def meaning_problem(ev: dict, device: Device, text: str | None = None) -> Verdict | None:
    """(result, reason, detail) for an event that is chained correctly but that a workstation could
    not take (``sync.validity``, the rule both ends share), or that names another key."""
    problem = event_problem(ev, text)
    if problem is not None:
        result = QUARANTINED if problem.reason in _QUARANTINED_REASONS else REJECTED
        return result, problem.reason, str(problem)
    if ev["type"] == "device.initialized" and ev["payload"].get("public_key") != device.public_key:
        return QUARANTINED, KEY_MISMATCH, "device.initialized names another public key than the enrolled one"
    return None


def verdict(ev: dict, device: Device, reading: clocks.ClockReading, text: str | None = None) -> Verdict | None:
    """An event's answer if it is not simply taken: invalid in meaning, or timed beyond belief."""
    return meaning_problem(ev, device, text) or clocks.time_problem(ev, reading)


@dataclass(slots=True)
class Answer:
    """What one new event is answered: ``result`` and ``reason`` on the wire; ``detail`` for one held
    back; ``rival`` the (event_id, device_id) of the edit it is in conflict with."""

    ev: dict
    result: str
    reason: str | None = None
    detail: str = ""
    rival: tuple[str, str] | None = None

    @property
    def held_back(self) -> bool:
        return self.result in _HELD_BACK


def held_back(ev: dict, why: Verdict) -> Answer:
    return Answer(ev, why[0], why[1], why[2])


def edits_to_check(new: list[dict], verdicts: dict[int, Verdict | None]) -> dict[tuple, dict]:
    """(task_id, base_version) -> event, for the edits that could be in conflict (those not held back)."""
    return {key: ev for ev in new if verdicts[ev["device_seq"]] is None and (key := rival_key(ev)) is not None}


def answer_new(new: list[dict], verdicts: dict[int, Verdict | None], rivals: dict[tuple, tuple[str, str]]
               ) -> list[Answer]:
    """The answer to each new event, in order, before any is written."""
    answers, ids = [], set()
    for ev in new:
        why = verdicts[ev["device_seq"]]
        if why is None and ev["event_id"] in ids:
            why = REUSED_IN_BATCH
        ids.add(ev["event_id"])
        if why is not None:
            answers.append(held_back(ev, why))
            continue
        key = rival_key(ev)
        rival = rivals.get(key) if key is not None else None
        answers.append(Answer(ev, CONFLICT, CONCURRENT_EDIT, rival=rival) if rival is not None else Answer(ev, ACCEPTED))
    return answers
