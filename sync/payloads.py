"""Typed payloads, one per event type. ``PAYLOADS`` maps ``Event.type`` to its model.

Form answers travel as a FHIR QuestionnaireResponse (a plain dict, checked against the
workflow's Questionnaire by ``forms.validate_answers`` where the event is made).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Priority = Literal["routine", "urgent", "asap", "stat"]
Status = Literal["draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress",
                 "on-hold", "failed", "completed", "entered-in-error"]
Role = Literal["nurse", "unit_coordinator", "super_user", "admin"]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskCreated(Payload):
    patient_id: str = Field(min_length=1, max_length=64)
    status: Status = "requested"
    priority: Priority = "routine"
    answers: dict
    summary: str = ""
    back_entry_reason: str | None = None
    paper_form: bool = False


class TaskTransitioned(Payload):
    from_status: Status
    to_status: Status
    reason: str | None = None
    priority: Priority | None = None


class TaskAnswersUpdated(Payload):
    answers: dict
    summary: str = ""
    reason: str | None = None


class TaskNoteAdded(Payload):
    text: str = Field(min_length=1, max_length=4000)


class CensusPatient(Payload):
    patient_id: str = Field(min_length=1, max_length=64)
    mrn: str | None = None
    family: str
    given: str
    birth_date: str | None = None
    sex: Literal["female", "male", "other", "unknown"] = "unknown"
    location: str | None = None


class CensusLoaded(Payload):
    as_of: str
    source: str = "census"
    patients: list[CensusPatient]


class PatientTempRegistered(Payload):
    patient: CensusPatient
    similar_to: list[str] = []


class PatientLinked(Payload):
    temp_patient_id: str
    patient_id: str
    reason: str | None = None


class ConflictResolved(Payload):
    chosen_event_id: str
    other_event_ids: list[str] = []
    note: str | None = None


class UserAdded(Payload):
    user_id: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=120)
    role: Role


class UserStatusChanged(Payload):
    user_id: str
    active: bool
    reason: str | None = None


class DeviceInitialized(Payload):
    public_key: str
    recovery_wrapped: bool = False
    settings: dict = {}


class AccessSignIn(Payload):
    method: Literal["password", "break_glass"] = "password"
    reason: str | None = None


class AccessUnlockFailed(Payload):
    user_id: str
    attempted_at: str
    failed_count: int
    locked: bool = False


class AccessLocked(Payload):
    why: Literal["idle", "manual", "exit"] = "manual"


class AccessRecord(Payload):
    """A view, print or export of patient data: what was touched and how much."""

    what: str
    target_id: str | None = None
    count: int = 1
    format: str | None = None


class SyntheticProbe(Payload):
    probe_id: str


PAYLOADS: dict[str, type[Payload]] = {
    "task.created": TaskCreated,
    "task.transitioned": TaskTransitioned,
    "task.answers_updated": TaskAnswersUpdated,
    "task.note_added": TaskNoteAdded,
    "census.loaded": CensusLoaded,
    "patient.temp_registered": PatientTempRegistered,
    "patient.linked": PatientLinked,
    "conflict.resolved": ConflictResolved,
    "user.added": UserAdded,
    "user.status_changed": UserStatusChanged,
    "device.initialized": DeviceInitialized,
    "access.sign_in": AccessSignIn,
    "access.unlock_failed": AccessUnlockFailed,
    "access.locked": AccessLocked,
    "access.view": AccessRecord,
    "access.print": AccessRecord,
    "access.export": AccessRecord,
    "access.account_unlocked": AccessRecord,
    "synthetic.probe": SyntheticProbe,
}

TASK_EVENT_TYPES = frozenset(t for t in PAYLOADS if t.startswith("task.")) | {"conflict.resolved"}
