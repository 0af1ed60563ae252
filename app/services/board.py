"""What the unit board shows about a task, as plain rules: overdue or not, its order, its words.

The app's table model (``app.ui.board_model``) and the printed board both read these; the words
themselves (priorities, finished statuses, waiting limits) come from ``forms.vocabulary``.
"""

from __future__ import annotations

import forms
from forms.vocabulary import OVERDUE_AFTER_MIN, PRIORITIES, PRIORITY_LABELS, is_finished

_RANK = {p: rank for rank, p in enumerate(reversed(PRIORITIES))}  # most urgent first


def is_overdue(priority: str, status: str, waited_seconds: float) -> bool:
    """Open work past its priority's waiting limit (``forms.vocabulary.OVERDUE_AFTER_MIN``)."""
    if is_finished(status):
        return False
    limit = OVERDUE_AFTER_MIN.get(priority, max(OVERDUE_AFTER_MIN.values()))
    return waited_seconds > limit * 60


def priority_rank(priority: str) -> int:
    """0 for the most urgent priority; unknown ones last."""
    return _RANK.get(priority, len(_RANK))


def priority_text(priority: str) -> str:
    """A priority as the board shows it: marked when pressing (``‼ STAT``, ``! ASAP``)."""
    label = PRIORITY_LABELS.get(priority, priority)
    if priority not in PRIORITIES or priority == PRIORITIES[0]:
        return label
    return ("‼ " if priority == PRIORITIES[-1] else "! ") + label


def destination_text(destination: str | None, empty: str = "—") -> str:
    """A queue as people read it: ``bed_control`` is "bed control"."""
    return (destination or empty).replace("_", " ")


def hand_over_choices(task: dict) -> list[str]:
    """The queues a task can be handed to: every known one (``forms.known_destinations``) and its own."""
    return sorted({*forms.known_destinations(), *([task["destination"]] if task.get("destination") else [])})


def patient_name(row: dict) -> str:
    """``FAMILY, Given`` (or the patient id), marked when the patient is temporary."""
    name = f"{(row.get('family') or '').upper()}, {row.get('given') or ''}".strip(", ")
    temp = " (temporary)" if row.get("temporary") else ""
    return f"{name or row.get('patient_id')}{temp}"
