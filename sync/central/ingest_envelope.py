"""Step 1 of taking a push: the envelope's shape, with plain dict checks (no pydantic per event).

A 1,000-event push is checked here before anything costly: the envelope's fields, then each event's
chain fields (ids, seq, hashes). The first problem refuses the whole batch (422), naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from sync.checkpoint import Checkpoint
from sync.clock import parse_time
from sync.events import describe_validation
from sync.fields import HASH, ID_MAX
from sync.protocol import INVALID_REQUEST, MAX_BATCH

from .errors import Unprocessable

_CHAIN_FIELDS = (("event_id", str), ("device_id", str), ("site_id", str), ("unit_id", str), ("type", str),
                 ("hash", str), ("prev_hash", str))
_ENVELOPE_FIELDS = frozenset({"device_id", "checkpoint", "events", "backlog", "device_clock"})


@dataclass
class PushBatch:
    device_id: str
    checkpoint: Checkpoint
    events: list[dict]
    backlog: int = 0
    device_clock: str | None = None  # the workstation's clock when it sent the batch


def _bad(detail: str) -> Unprocessable:
    return Unprocessable(INVALID_REQUEST, detail)


def parse_push(raw: object) -> PushBatch:
    """Check a decoded PushRequest with plain dict checks; Unprocessable (422) naming the first problem."""
    if not isinstance(raw, dict):
        raise _bad("The request must be a JSON object.")
    extra = set(raw) - _ENVELOPE_FIELDS
    if extra:
        raise _bad(f"Unknown field(s): {', '.join(sorted(extra))}.")
    device_id, evs, backlog = raw.get("device_id"), raw.get("events"), raw.get("backlog", 0)
    if not isinstance(device_id, str) or not device_id:
        raise _bad("device_id must be a non-empty string.")
    if type(backlog) is not int or backlog < 0:
        raise _bad("backlog must be a whole number of events, 0 or more.")
    device_clock = raw.get("device_clock")
    if device_clock is not None:
        try:
            parse_time(device_clock)  # sync.clock: the one parser of wire times
        except ValueError:
            raise _bad("device_clock must be the workstation's time as RFC 3339 UTC text "
                       "(like 2026-11-25T08:00:00.000Z).") from None
    if not isinstance(evs, list) or not 1 <= len(evs) <= MAX_BATCH:
        raise _bad(f"events must be a list of 1 to {MAX_BATCH} events.")
    try:
        checkpoint = Checkpoint.model_validate(raw.get("checkpoint"))
    except ValidationError as err:
        raise _bad("checkpoint: " + describe_validation(err).removeprefix("Invalid event: ")) from None
    for i, ev in enumerate(evs):
        _check_chain_fields(i, ev)
    return PushBatch(device_id, checkpoint, evs, backlog, device_clock)


def _check_chain_fields(i: int, ev: object) -> None:
    if not isinstance(ev, dict):
        raise _bad(f"events[{i}] must be a JSON object.")
    for name, kind in _CHAIN_FIELDS:
        if not isinstance(ev.get(name), kind):
            raise _bad(f"events[{i}].{name} is missing or not a {kind.__name__}.")
    seq = ev.get("device_seq")
    if type(seq) is not int or not 1 <= seq < 2 ** 62:
        raise _bad(f"events[{i}].device_seq must be a whole number from 1.")
    if not HASH.match(ev["hash"]) or not HASH.match(ev["prev_hash"]):
        raise _bad(f"events[{i}]: hash and prev_hash must be 64 lowercase hex digits.")
    if not 1 <= len(ev["event_id"]) <= ID_MAX:
        raise _bad(f"events[{i}].event_id must be 1 to {ID_MAX} characters.")
