"""The sync protocol's wire formats, shared by the workstation and the central.

Push: a ``PushRequest`` carries up to ``MAX_BATCH`` events of one device, in ``device_seq``
order, and a checkpoint signed by that device over the batch's last event. The central answers
one ``EventResult`` per event and the highest gapless ``device_seq`` it holds for the device.
A batch the central refuses as a whole (bad signature, broken chain, a gap) gets an
``ErrorBody`` with a 4xx status; nothing of it is written.

Events travel as the JSON bodies the device hashed; the central checks them with plain dict
checks and ``sync.events.recompute_hash`` rather than per-event pydantic models, which would
cost more than the hashing itself at 15,000 events/s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .checkpoint import Checkpoint
from .fields import ID_PATTERN

PROTOCOL_VERSION = 1
MAX_BATCH = 1000
MAX_BODY_BYTES = 32 * 1024 * 1024

# Per-event answers.
ACCEPTED, DUPLICATE, CONFLICT, REJECTED, QUARANTINED = (
    "accepted", "duplicate", "conflict", "rejected", "quarantined")
RESULTS = (ACCEPTED, DUPLICATE, CONFLICT, REJECTED, QUARANTINED)
HELD = frozenset({ACCEPTED, DUPLICATE, CONFLICT})  # the central holds the event as sent

# Reason codes: per event (quarantined, rejected, conflict) and for a refused batch.
UNKNOWN_TYPE = "unknown_type"
INVALID_PAYLOAD = "invalid_payload"
INVALID_FIELDS = "invalid_fields"
NOT_CANONICAL = "not_canonical"  # a key left out, a value coerced, a number not normalized
ID_REUSED = "id_reused"
KEY_MISMATCH = "key_mismatch"
CONCURRENT_EDIT = "concurrent_edit"
CHAIN_BROKEN = "chain_broken"
HASH_MISMATCH = "hash_mismatch"
SEQ_GAP = "seq_gap"
AFTER_BREAK = "after_chain_break"
CHAIN_FORKED = "chain_forked"  # the central holds other events at seqs this device also used (a restore)
BAD_SIGNATURE = "bad_signature"
CHECKPOINT_MISMATCH = "checkpoint_mismatch"
NOT_YOUR_DEVICE = "not_your_device"
UNAUTHORIZED = "unauthorized"
INVALID_REQUEST = "invalid_request"
MALFORMED_JSON = "malformed_json"
TOO_LARGE = "too_large"
TOKEN_INVALID = "token_invalid"
ALREADY_ENROLLED = "already_enrolled"
DEVICE_REVOKED = "device_revoked"
RATE_LIMITED = "rate_limited"
TIME_BEYOND_DEVICE_CLOCK = "time_beyond_device_clock"  # later than the device's own clock said at push
TIME_IMPLAUSIBLE = "time_implausible"  # far past the central's clock (year 9999), or before 2000
# Refusals the workstation fixes by sending again from ``highest_gapless_seq + 1``.
RETRYABLE = frozenset({SEQ_GAP})

# Event types a workstation pulls from other devices of its unit. Sign-ins, users and device
# records stay at the central for audit: a user added on one workstation must not become a user
# (with that role) on another.
SHARED_TYPE_PREFIXES = ("task.", "patient.", "census.", "conflict.")


def is_shared_type(event_type: str) -> bool:
    return event_type.startswith(SHARED_TYPE_PREFIXES)


_ID = ID_PATTERN  # site, unit and device ids


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PushRequest(_Wire):
    """One batch of a device's events with a checkpoint signed over the batch's last event."""

    device_id: str = Field(min_length=1, max_length=64)
    checkpoint: Checkpoint
    events: list[dict] = Field(min_length=1, max_length=MAX_BATCH)
    backlog: int = Field(default=0, ge=0, description="events still pending at the workstation")
    device_clock: str | None = Field(
        default=None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$",
        description="the workstation's wall clock when it sent the batch (RFC 3339 UTC); the central "
                    "measures the device's clock offset from it and holds events timed beyond it")


class EventResult(_Wire):
    event_id: str
    device_seq: int
    result: Literal["accepted", "duplicate", "conflict", "rejected", "quarantined"]
    reason: str | None = None


class PushResponse(_Wire):
    device_id: str
    results: list[EventResult]
    highest_gapless_seq: int = Field(description="every event of this device up to here is held")
    clock_offset_s: float | None = Field(
        default=None, description="the device's clock minus the central's at receipt, in seconds "
                                  "(when the push carried `device_clock`)")


class ErrorBody(_Wire):
    """A refused request: a reason code, one line for a person, and where the device stands."""

    error: str
    detail: str
    device_seq: int | None = Field(default=None, description="the first event refused, if any")
    highest_gapless_seq: int | None = None


class PullResponse(_Wire):
    events: list[dict]
    cursor: int = Field(description="pass as `after` to get the next page")
    more: bool


class OwnEvent(_Wire):
    result: Literal["accepted", "duplicate", "conflict", "rejected", "quarantined"]
    reason: str | None = None
    event: dict


class OwnEventsResponse(_Wire):
    """The central's copy of the asking device's own chain after a seq: what a workstation restored
    from an older copy takes back (see app/services/chain_recovery.py)."""

    device_id: str
    head_seq: int = Field(description="the highest gapless seq the central holds of this device")
    head_hash: str
    checkpoint: Checkpoint | None = Field(description="the device's own signature over the head")
    more: bool
    events: list[OwnEvent]


class SetAsideReport(_Wire):
    # Patterns, not only lengths: PostgreSQL refuses NUL in text (a 500, not a clear 422), and an id or
    # reason code that could never have come from a workstation's check is no report.
    event_id: str = Field(max_length=64, pattern=_ID)
    reason: str = Field(max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$",
                        description="the reason code the workstation's check gave")
    detail: str = Field(default="", max_length=500, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")


class SetAsideRequest(_Wire):
    """Pulled events this workstation could not take and set aside (``POST /v1/set-aside``)."""

    reports: list[SetAsideReport] = Field(min_length=1, max_length=MAX_BATCH)


class SetAsideResponse(_Wire):
    recorded: int = Field(description="reports new to the central")


class EnrollRequest(_Wire):
    token: str = Field(min_length=8, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")
    device_id: str = Field(min_length=1, max_length=64, pattern=_ID)
    site_id: str = Field(min_length=1, max_length=64, pattern=_ID)
    unit_id: str = Field(min_length=1, max_length=64, pattern=_ID)
    public_key: str = Field(min_length=40, max_length=60, pattern=r"^[A-Za-z0-9+/]+=*$",
                            description="base64 raw Ed25519 public key")
    proof: str = Field(min_length=80, max_length=100, pattern=r"^[A-Za-z0-9+/]+=*$",
                       description="base64 Ed25519 signature by that key over enrollment_proof_text(): "
                                   "proof that the caller holds the key it enrolls")

    def proof_fields(self) -> dict:
        return {"token": self.token, "device_id": self.device_id, "site_id": self.site_id,
                "unit_id": self.unit_id, "public_key": self.public_key}


class CentralKeys(_Wire):
    """The central's public keys: X25519 for bundles sent to it, Ed25519 for its receipts."""

    bundle_public_key: str
    signing_public_key: str


class EnrollResponse(_Wire):
    device_id: str
    site_id: str
    unit_id: str
    credential: str = Field(description="send as `Authorization: Bearer <credential>`; shown once")
    central: CentralKeys


class Health(_Wire):
    status: str
    detail: str = ""


def push_request_json(device_id: str, checkpoint: Checkpoint, bodies: list[bytes], backlog: int,
                      device_clock: str | None = None) -> bytes:
    """A PushRequest built from stored canonical event texts (UTF-8 bytes), without parsing them again."""
    clock = f'"device_clock":{_q(device_clock)},' if device_clock else ""
    head = (f'{{"device_id":{_q(device_id)},"backlog":{int(backlog)},{clock}'
            f'"checkpoint":{checkpoint.model_dump_json()},"events":[')
    return head.encode() + b",".join(bodies) + b"]}"


def _q(text: str) -> str:
    import json

    return json.dumps(text)
