"""The order of a task's events, in one place: cause first; the clock only between concurrent edits.

Every task event names the version of the task it was made from (``base_version``: how many of the
task's events its maker had folded; ``task.created`` names 0). Whoever makes an event after seeing
another has folded that one and everything its maker had folded, so it names a higher version.
Sorting by ``base_version`` therefore never puts an effect before its cause, whatever any wall
clock said: a workstation 30 hours fast cannot make its "accepted" fold after another
workstation's later "in-progress".

Events naming the same version were made without seeing each other (concurrent edits, flagged
for review when they collide). Only those are ordered by the hybrid logical clock, then device
id and device seq, so every device picks the same order for the same events. A creation sorts
before any other event naming its version, and an event with no ``base_version`` (none is made
so today) after every event that names one.

Used by the workstation's projection fold and task timeline, and by the central's conflict
detection (``rival_key``): one rule, so what the central flags is what the boards fold.
"""

from __future__ import annotations

from collections.abc import Iterable

# Edits that change what a task is: two of them from the same version on two devices conflict.
EDIT_TYPES = frozenset({"task.transitioned", "task.answers_updated"})
_NO_BASE = 2 ** 53  # after every event that names its version (the central refuses larger ones)


def _base(body: dict) -> int:
    base = body.get("base_version")
    return base if type(base) is int and 0 <= base <= _NO_BASE else _NO_BASE


def fold_key(body: dict) -> tuple[int, int, str, str, int]:
    """The sort key of one task event in fold order: (base_version, creation first, hlc, device, seq)."""
    return (_base(body), 0 if body["type"] == "task.created" else 1, body["hlc"], body["device_id"],
            body["device_seq"])


def fold_order_text(body: dict) -> str:
    """``fold_key`` as text that sorts the same way (kept with a projected task to spot late arrivals)."""
    base, rank, hlc, device, seq = fold_key(body)
    return f"{base:016d}|{rank}|{hlc}|{device}|{seq:012d}"


def in_fold_order(bodies: Iterable[dict]) -> list[dict]:
    """The events of one task, sorted into the order every device folds them in."""
    return sorted(bodies, key=fold_key)


def rival_key(body: dict) -> tuple[str, int] | None:
    """(task_id, base_version) for an edit; two edits of different devices with the same key were made
    concurrently and conflict. None for an event that cannot conflict."""
    task_id, base = body.get("task_id"), body.get("base_version")
    if body.get("type") in EDIT_TYPES and isinstance(task_id, str) and type(base) is int:
        return task_id, base
    return None
