"""The canonical event: one pydantic model that is the contract on disk, on the wire and in bundles.

An event is immutable. Its ``hash`` is SHA-256 over its canonical JSON without the hash, and
``prev_hash`` links it to the previous event of the same device, so a device's events form a
chain that any edit, removal or reordering breaks (``verify_chain``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import uuid_utils
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    model_validator,
)

from forms.vocabulary import Mode, Role, Workflow

from .canonical import GENESIS_HASH, canonical_json, event_hash, normalize
from .chain import link_break
from .clock import parse_hlc, parse_time
from .errors import ChainBroken, InvalidEvent
from .fields import EVENT_ID_LENGTH, HASH_PATTERN, ID_MAX, ID_PATTERN, INT_MAX, NAME_MAX
from .payloads import PAYLOADS, Payload

SCHEMA_VERSION = 1


def _time(text: str) -> str:
    parse_time(text)
    return text


def _hlc(text: str) -> str:
    parse_hlc(text)
    return text


EventTime = Annotated[str, AfterValidator(_time)]  # see sync.clock.parse_time: ASCII digits, UTC
HlcText = Annotated[str, AfterValidator(_hlc)]


def new_id() -> str:
    """A UUIDv7: time-ordered, made on the device, the idempotency key everywhere."""
    return str(uuid_utils.uuid7())


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str = Field(min_length=1, max_length=ID_MAX)
    display_name: str = Field(min_length=1, max_length=NAME_MAX)
    role: Role
    on_behalf_of: str | None = None


class Event(BaseModel):
    """One immutable thing that happened; see ARCHITECTURE.md for each field's meaning."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=EVENT_ID_LENGTH, max_length=EVENT_ID_LENGTH)
    type: str
    schema_version: int = SCHEMA_VERSION
    workflow: Workflow | None = None
    task_id: str | None = Field(default=None, max_length=ID_MAX)
    base_version: int | None = Field(default=None, ge=0, le=INT_MAX)
    site_id: str = Field(pattern=ID_PATTERN)
    unit_id: str = Field(pattern=ID_PATTERN)
    device_id: str = Field(min_length=1, max_length=ID_MAX)
    device_seq: int = Field(ge=1, le=INT_MAX)
    actor: Actor
    occurred_at: EventTime
    recorded_at: EventTime
    hlc: HlcText
    source: str = Field(min_length=1, max_length=NAME_MAX)
    destination: str | None = Field(default=None, max_length=NAME_MAX)
    correlation_id: str = Field(min_length=1, max_length=ID_MAX)
    causation_id: str | None = None
    mode: Mode
    payload: SerializeAsAny[Payload]
    prev_hash: str = Field(pattern=HASH_PATTERN)
    hash: str = Field(pattern=HASH_PATTERN)
    _body: dict | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _typed_payload(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):
            model = PAYLOADS.get(data.get("type", ""))
            if model is None:
                raise ValueError(f"unknown event type {data.get('type')!r}")
            data = {**data, "payload": model.model_validate(data["payload"])}
        return data

    @model_validator(mode="after")
    def _task_fields(self) -> Event:
        if self.type.startswith("task.") and (self.task_id is None or self.workflow is None):
            raise ValueError(f"a {self.type} event needs task_id and workflow")
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is not supported")
        return self

    def body(self) -> dict:
        """The event as the JSON dict that is hashed, stored and sent (do not mutate it)."""
        if self._body is None:
            self._body = self.model_dump(mode="json")
        return self._body

    def canonical(self) -> str:
        return canonical_json(self.body())


def seal(fields: dict, prev_hash: str) -> Event:
    """Make an event from its fields: normalize numbers, link to ``prev_hash``, compute its hash.

    Raises InvalidEvent with a one-line reason when the fields do not form a valid event.
    """
    draft = {k: v for k, v in fields.items() if k not in ("hash", "prev_hash")}
    if isinstance(draft.get("actor"), BaseModel):
        draft["actor"] = draft["actor"].model_dump()
    draft = normalize(draft)
    draft["prev_hash"] = prev_hash
    draft["hash"] = GENESIS_HASH
    try:
        typed = Event.model_validate(draft)
    except ValidationError as err:
        raise InvalidEvent(describe_validation(err)) from None
    body = typed.model_dump(mode="json")
    body["hash"] = recompute_hash(body)
    event = typed.model_copy(update={"hash": body["hash"]})
    event._body = body
    return event


def parse_event(data: dict | str | bytes) -> Event:
    """Validate a received event by the one rule both ends share, and check its hash.

    See ``sync.validity``: the rule lives there with the central's fast check of it."""
    from .validity import parse_event as parse  # validity builds on this module

    return parse(data)


def recompute_hash(body: dict) -> str:
    """The hash an event body should carry, computed from its other fields."""
    return event_hash({k: v for k, v in body.items() if k != "hash"})


def verify_chain(bodies: Iterable[dict], *, start_seq: int = 1, start_hash: str = GENESIS_HASH) -> int:
    """Check one device's events, in ``device_seq`` order, form an unbroken chain.

    Returns the count checked; raises ChainBroken naming the first bad event.
    """
    expected_seq, prev = start_seq, start_hash
    count = 0
    for body in bodies:
        broken = link_break(body, expected_seq, prev, recompute_hash(body) == body.get("hash"))
        if broken is not None:
            raise ChainBroken(broken.detail, device_id=body.get("device_id", ""), device_seq=broken.device_seq,
                              event_id=body.get("event_id", "?"))
        prev, expected_seq, count = body["hash"], expected_seq + 1, count + 1
    return count


def verify_fragments(bodies: Iterable[dict]) -> int:
    """Check events of other devices held in part (sorted by device, then seq).

    Each event must match its hash; where two events of a device are consecutive, the later
    must link to the earlier. Returns the count; raises ChainBroken naming the first bad event.
    """
    count, last = 0, None
    for body in bodies:
        dev, seq = body.get("device_id", ""), body.get("device_seq")
        follows = last is not None and last["device_id"] == dev and last["device_seq"] + 1 == seq
        # Only a consecutive pair can be linked; a lone fragment is checked against its own hash.
        broken = link_break(body, seq, last["hash"] if follows else body.get("prev_hash"),
                            recompute_hash(body) == body.get("hash"))
        if broken is not None:
            raise ChainBroken(f"Device {dev}: {broken.detail}", device_id=dev, device_seq=broken.device_seq or 0,
                              event_id=body.get("event_id", "?"))
        last, count = body, count + 1
    return count


def describe_validation(err: ValidationError) -> str:
    """One line naming the first few bad fields, for people, not a traceback."""
    parts = []
    for e in err.errors()[:3]:
        where = ".".join(str(p) for p in e.get("loc", ())) or "event"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    more = f" (+{err.error_count() - 3} more)" if err.error_count() > 3 else ""
    return "Invalid event: " + "; ".join(parts) + more
