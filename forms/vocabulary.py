"""The words of Tideover's world, each written once: task statuses, priorities, workflows, roles,
modes, and the rules that are nothing but a list of them (which statuses are finished, which roles
may supervise, which status needs a reason).

It lives in ``forms``, the lowest layer, because every layer names these words: the forms route by
priority and per workflow, the event model (``sync``) checks them on both ends, the store filters by
them and the app shows them. Everything else imports them from here; ``tests/test_one_home.py``
fails when a list of them is written out anywhere else.
"""

from __future__ import annotations

from typing import Literal

# -- task status: FHIR R4B TaskStatus -------------------------------------------------------------
STATUSES: tuple[str, ...] = (
    "draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
    "in-progress", "on-hold", "failed", "completed", "entered-in-error",
)
INITIAL_STATUS = "requested"
ENTERED_IN_ERROR = "entered-in-error"
# Finished work: off the open board, no moves but a correction (see sync.taskstate).
FINISHED_STATUSES: frozenset[str] = frozenset({"rejected", "cancelled", "failed", "completed", ENTERED_IN_ERROR})
# Statuses a task may only be moved to with a reason said (a correction must say why).
STATUSES_NEEDING_REASON: frozenset[str] = frozenset({ENTERED_IN_ERROR})

# The FHIR Task state diagram: where each status may go next (sync.taskstate adds entered-in-error
# from anywhere but itself, and checks a move against this).
STATUS_MOVES: dict[str, frozenset[str]] = {
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

# What the app's buttons call a move to each status.
STATUS_ACTIONS: dict[str, str] = {
    "draft": "Draft", "requested": "Request", "received": "Received", "accepted": "Accept",
    "rejected": "Reject", "ready": "Ready", "cancelled": "Cancel task", "in-progress": "Start (in progress)",
    "on-hold": "Put on hold", "failed": "Failed", "completed": "Complete", "entered-in-error": "Entered in error…",
}

# -- priority: FHIR request-priority, low to high ----------------------------------------------
PRIORITIES: tuple[str, ...] = ("routine", "urgent", "asap", "stat")
DEFAULT_PRIORITY = "routine"
PRIORITY_LABELS: dict[str, str] = {"routine": "Routine", "urgent": "Urgent", "asap": "ASAP", "stat": "STAT"}
# Flagged in every list of tasks (the CLI's "!", the board's bold rows).
PRESSING_PRIORITIES: frozenset[str] = frozenset({"asap", "stat"})
# An open task waiting longer than this (minutes since its clinical time) is overdue.
OVERDUE_AFTER_MIN: dict[str, int] = {"routine": 240, "urgent": 60, "asap": 30, "stat": 15}

# -- workflows ------------------------------------------------------------------------------------
WORKFLOWS: tuple[str, ...] = (
    "ed_triage", "inpatient_discharge", "med_reconciliation", "referral", "specimen_handoff",
)
WORKFLOW_TITLES: dict[str, str] = {
    "ed_triage": "ED triage",
    "inpatient_discharge": "Inpatient discharge",
    "med_reconciliation": "Medication reconciliation",
    "referral": "Referral",
    "specimen_handoff": "Specimen handoff",
}

# -- roles ----------------------------------------------------------------------------------------
ROLES: tuple[str, ...] = ("nurse", "unit_coordinator", "super_user", "admin")
BREAK_GLASS_ROLE = "nurse"  # granted on every device (sync.grants)
# Who may do what beyond capturing and moving tasks (checked by app.services.access).
SUPERVISORS: tuple[str, ...] = ("super_user", "admin")  # reconcile, audit, export, recover, manage users
CENSUS_KEEPERS: tuple[str, ...] = ("unit_coordinator", "super_user", "admin")  # register temporary patients

# -- modes ----------------------------------------------------------------------------------------
# An event's mode: training and synthetic events never reach an EHR.
MODES: tuple[str, ...] = ("live", "downtime", "training", "synthetic")
# The modes a workstation can be set to (synthetic is for generated load only).
WORKSTATION_MODES: tuple[str, ...] = ("downtime", "live", "training")
LIVE_MODE, DOWNTIME_MODE, TRAINING_MODE = "live", "downtime", "training"
DEFAULT_MODE = DOWNTIME_MODE

# Types for pydantic models and signatures (Literal takes the tuple: one list, not two).
Status = Literal[STATUSES]  # type: ignore[valid-type]
Priority = Literal[PRIORITIES]  # type: ignore[valid-type]
Workflow = Literal[WORKFLOWS]  # type: ignore[valid-type]
Role = Literal[ROLES]  # type: ignore[valid-type]
Mode = Literal[MODES]  # type: ignore[valid-type]


def is_finished(status: str) -> bool:
    """Whether a task in ``status`` is finished work (off the open board)."""
    return status in FINISHED_STATUSES


def needs_reason(to_status: str) -> bool:
    """Whether moving a task to ``to_status`` must say why (entered-in-error does)."""
    return to_status in STATUSES_NEEDING_REASON


def priority_label(priority: str) -> str:
    return PRIORITY_LABELS.get(priority, priority)
