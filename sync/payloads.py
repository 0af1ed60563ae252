"""Typed payloads, one per event type. ``PAYLOADS`` maps ``Event.type`` to its model.

Form answers travel as a FHIR QuestionnaireResponse (a plain dict, checked against the
workflow's Questionnaire by ``forms.validate_answers`` where the event is made).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from forms.vocabulary import DEFAULT_PRIORITY, INITIAL_STATUS, Priority, Role, Status

from .fields import HASH_PATTERN


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AbsentWhenNone(Payload):
    """A payload whose newer optional fields are left out when unset, so events made before those
    fields existed keep exactly their canonical form (and hash)."""

    _absent_when_none: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _leave_out_none(self, handler):
        out = handler(self)
        for name in self._absent_when_none:
            if out.get(name, 0) is None:
                del out[name]
        return out


class TaskCreated(Payload):
    patient_id: str = Field(min_length=1, max_length=64)
    status: Status = INITIAL_STATUS
    priority: Priority = DEFAULT_PRIORITY
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


_KEY = Field(default=None, min_length=40, max_length=60, pattern=r"^[A-Za-z0-9+/]+=*$")
_SIGNATURE = Field(default=None, min_length=80, max_length=100, pattern=r"^[A-Za-z0-9+/]+=*$")


class UserAdded(_AbsentWhenNone):
    """A role grant: the user's public key, signed by the granting admin (see sync/grants.py).
    Stores made before user keys hold these without the last three fields."""

    _absent_when_none = ("public_key", "granted_by", "signature")
    user_id: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=120)
    role: Role
    public_key: str | None = _KEY
    granted_by: str | None = Field(default=None, min_length=1, max_length=64)
    signature: str | None = _SIGNATURE


class UserRoleChanged(Payload):
    """A new role for a user, granted and signed like ``user.added``."""

    user_id: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=120)
    role: Role
    public_key: str = Field(min_length=40, max_length=60, pattern=r"^[A-Za-z0-9+/]+=*$")
    granted_by: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=80, max_length=100, pattern=r"^[A-Za-z0-9+/]+=*$")


class UserKeyBound(Payload):
    """A user of a store made before user keys binds their new key (once; see sync/grants.py)."""

    user_id: str = Field(min_length=1, max_length=64)
    public_key: str = Field(min_length=40, max_length=60, pattern=r"^[A-Za-z0-9+/]+=*$")


class DeviceGrantsSealed(Payload):
    """From here on this device's grants must be signed (a store made before user keys, upgraded)."""

    users: list[str] = []


class UserStatusChanged(Payload):
    user_id: str
    active: bool
    reason: str | None = None


class FirstAdmin(Payload):
    """The first admin's user id and public key, signed by the device key."""

    user_id: str = Field(min_length=1, max_length=64)
    public_key: str = Field(min_length=40, max_length=60, pattern=r"^[A-Za-z0-9+/]+=*$")
    signature: str = Field(min_length=80, max_length=100, pattern=r"^[A-Za-z0-9+/]+=*$")


class DeviceInitialized(_AbsentWhenNone):
    _absent_when_none = ("first_admin",)
    public_key: str
    recovery_wrapped: bool = False
    settings: dict = {}
    first_admin: FirstAdmin | None = None


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


class ForkedEvent(Payload):
    """One event of a forked branch: where it was, and where its content is now (same event id)."""

    event_id: str
    type: str
    forked_seq: int
    re_recorded_seq: int | None = None  # None: kept only in the recorded fork, with ``reason``
    reason: str | None = None


class ChainRecovered(Payload):
    """A workstation took back its own events from the central's copy of its chain (a restore from
    an older copy). Events it had made at seqs the central already held are kept locally as a
    recorded fork and re-recorded, same id and content, after the central's head (app/store/forks.py)."""

    fork_seq: int = Field(ge=1, description="the first seq taken from the central's copy")
    central_head_seq: int = Field(ge=0)
    taken_back: int = Field(ge=0)
    forked: list[ForkedEvent] = []
    confirmed_by: str | None = None
    reason: str | None = None


class ProfileApplied(Payload):
    """A signed site profile taken into use on this workstation (sync/profile.py): which one, signed
    by which key, and the one it replaced."""

    serial: int = Field(ge=1)
    site_id: str = Field(max_length=64)
    unit_id: str = Field(max_length=64)
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    digest: str = Field(pattern=HASH_PATTERN)
    issued_at: str = Field(max_length=40)
    expires_at: str = Field(max_length=40)
    replaced_serial: int | None = None


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
    "user.role_changed": UserRoleChanged,
    "user.key_bound": UserKeyBound,
    "device.initialized": DeviceInitialized,
    "device.grants_sealed": DeviceGrantsSealed,
    "device.chain_recovered": ChainRecovered,
    "device.profile_applied": ProfileApplied,
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
