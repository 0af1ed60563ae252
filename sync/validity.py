"""One definition of a valid event, for both ends: the central stores an event only if every
workstation can take it.

``check_event`` is the rule. An event is valid when its type is known, its payload fits that
type, its fields fit ``Event`` (times and HLCs with ASCII digits only, see ``sync.clock``), and
it is in canonical form: exactly what ``Event`` would write back (every key present, ``null``
where empty, no value coerced) with numbers as ``sync.canonical.normalize`` leaves them. A
workstation runs it on every pulled event (``parse_event``); the central answers with
``event_problem``, which first tries ``plainly_valid``: plain dict and type checks, about three
times cheaper, that pass only events the rule passes too (``tests/central/test_ingest_rules.py``
checks that with hypothesis) and leave anything else to the rule, for its verdict and wording.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from forms.vocabulary import MODES, ROLES, WORKFLOWS

from .canonical import canonical_bytes, numbers_normal
from .clock import is_hlc, is_time
from .errors import ChainBroken, InvalidEvent
from .events import (
    SCHEMA_VERSION,
    Actor,
    Event,
    describe_validation,
    recompute_hash,
)
from .fields import EVENT_ID_LENGTH, HASH, ID, ID_MAX, INT_MAX, NAME_MAX
from .payloads import PAYLOADS
from .protocol import INVALID_FIELDS, INVALID_PAYLOAD, NOT_CANONICAL, UNKNOWN_TYPE


def check_event(raw: Any) -> Event:
    """The event ``raw`` (a decoded JSON object) as an ``Event``, or InvalidEvent with its reason code."""
    event = _typed(raw)
    _check_canonical(event, raw)
    return event


def _typed(raw: Any) -> Event:
    """The rule's first half: a known type, a payload that fits it, fields that fit ``Event``."""
    if type(raw) is not dict:
        raise InvalidEvent("An event must be a JSON object.", reason=INVALID_FIELDS)
    kind = raw.get("type")
    model = PAYLOADS.get(kind) if type(kind) is str else None
    if model is None:
        raise InvalidEvent(f"unknown event type {str(kind)[:64]!r}", reason=UNKNOWN_TYPE)
    try:
        payload = model.model_validate(raw.get("payload"))
    except ValidationError as err:
        raise InvalidEvent(describe_validation(err).replace("Invalid event: ", "Invalid payload: ", 1),
                           reason=INVALID_PAYLOAD) from None
    try:
        event = Event.model_validate({**raw, "payload": payload})
    except ValidationError as err:
        raise InvalidEvent(describe_validation(err), reason=INVALID_FIELDS) from None
    return event


def _check_canonical(event: Event, raw: dict) -> None:
    """The rule's second half: ``raw`` is exactly what ``event`` writes back, numbers normalized."""
    written = canonical_bytes(event.body())
    try:
        given = canonical_bytes(raw)
    except InvalidEvent:  # a value JSON cannot carry
        given = b""
    if written != given or not numbers_normal(raw):
        raise InvalidEvent(f"Event {event.event_id} is not in canonical form: {_difference(event.body(), raw)}.",
                           reason=NOT_CANONICAL)
    if b"\\u0000" in written:  # no database text column holds NUL; no event needs one
        raise InvalidEvent(f"Event {event.event_id} contains a NUL character.", reason=INVALID_FIELDS)


def parse_event(data: dict | str | bytes) -> Event:
    """A received event checked by the rule, and against its hash (ChainBroken if it was changed)."""
    try:
        raw = json.loads(data) if isinstance(data, (str, bytes)) else data
    except json.JSONDecodeError as err:
        raise InvalidEvent(f"Not JSON: {err.msg} at line {err.lineno}") from None
    event = _typed(raw)
    if recompute_hash(raw) != event.hash:  # before the form: a changed event is the graver finding
        raise ChainBroken(
            f"Event {event.event_id} does not match its hash: it was changed after it was made.",
            device_id=event.device_id, device_seq=event.device_seq, event_id=event.event_id,
        )
    _check_canonical(event, raw)
    return event


def event_problem(raw: dict, text: bytes | str | None = None) -> InvalidEvent | None:
    """What is wrong with ``raw`` by the rule, or None; fast for the events workstations make.

    ``text``: its canonical JSON if the caller has it already (the central hashed it)."""
    try:
        if plainly_valid(raw, text):
            return None
    except TypeError:  # an unhashable value where a name belongs: the rule words it
        pass
    try:
        check_event(raw)
    except InvalidEvent as err:
        return err
    return None


def _difference(written: dict, raw: dict) -> str:
    """One line naming where ``raw`` departs from the canonical ``written`` form (for IT)."""
    for where, ours, theirs in (("", written, raw), ("actor.", written.get("actor"), raw.get("actor")),
                                ("payload.", written.get("payload"), raw.get("payload"))):
        if not isinstance(theirs, dict):
            continue
        missing = sorted(set(ours) - set(theirs))
        if missing:
            return f"{', '.join(where + k for k in missing[:3])} left out (write null for an empty value)"
        for key in sorted(ours):
            try:
                differs = canonical_bytes(ours[key]) != canonical_bytes(theirs.get(key))
            except InvalidEvent:
                differs = True
            if differs and not isinstance(ours[key], dict):
                return f"{where}{key} has a value of the wrong type"
    return "a number is not in normal form (an integral or out-of-range float, or an integer beyond 2**53 - 1)"


# -- the fast check -------------------------------------------------------------------------------
_FIELDS = frozenset(Event.model_fields)
_ACTOR_FIELDS = frozenset(Actor.model_fields)
_ROLES = frozenset(ROLES)
_WORKFLOWS = frozenset(WORKFLOWS)
_MODES = frozenset(MODES)



def _flat(model: type[BaseModel]) -> bool:
    """No field holds another model (those payloads, rare, go to the rule)."""
    def holds_model(annotation) -> bool:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return True
        return any(holds_model(a) for a in get_args(annotation))

    return not any(holds_model(f.annotation) for f in model.model_fields.values())


# type -> (payload model, its field names) for the payloads the fast check can vouch for.
_FLAT_PAYLOADS = {kind: (model, frozenset(model.model_fields)) for kind, model in PAYLOADS.items() if _flat(model)}


def _text(value, lo: int, hi: int) -> bool:
    return type(value) is str and lo <= len(value) <= hi


def _opt_text(value, hi: int | None = None) -> bool:
    return value is None or (type(value) is str and (hi is None or len(value) <= hi))


def plainly_valid(ev: dict, text: bytes | str | None = None) -> bool:
    """True only for events ``check_event`` passes (never looser); False means "ask the rule".

    ``text``: the canonical JSON of ``ev`` (with or without its hash), if the caller has it."""
    if type(ev) is not dict or ev.keys() != _FIELDS:
        return False
    if text is None:
        try:
            text = canonical_bytes(ev)
        except InvalidEvent:
            return False
    if (b"\\u0000" if isinstance(text, bytes) else "\\u0000") in text:
        return False
    flat = _FLAT_PAYLOADS.get(ev["type"]) if type(ev["type"]) is str else None
    actor, payload, seq, base = ev["actor"], ev["payload"], ev["device_seq"], ev["base_version"]
    if not (flat is not None and type(payload) is dict and payload.keys() == flat[1]
            and type(actor) is dict and actor.keys() == _ACTOR_FIELDS
            and _text(ev["event_id"], EVENT_ID_LENGTH, EVENT_ID_LENGTH) and type(ev["schema_version"]) is int
            and ev["schema_version"] == SCHEMA_VERSION
            and type(seq) is int and 1 <= seq <= INT_MAX
            and (base is None or (type(base) is int and 0 <= base <= INT_MAX))
            and (ev["workflow"] is None or ev["workflow"] in _WORKFLOWS) and _opt_text(ev["task_id"], ID_MAX)
            and _opt_text(ev["causation_id"])
            and type(ev["site_id"]) is str and ID.fullmatch(ev["site_id"]) is not None
            and type(ev["unit_id"]) is str and ID.fullmatch(ev["unit_id"]) is not None
            and _text(ev["device_id"], 1, ID_MAX)
            and _text(actor["user_id"], 1, ID_MAX) and _text(actor["display_name"], 1, NAME_MAX)
            and actor["role"] in _ROLES and _opt_text(actor["on_behalf_of"])
            and is_time(ev["occurred_at"]) and is_time(ev["recorded_at"]) and is_hlc(ev["hlc"])
            and _text(ev["source"], 1, NAME_MAX) and _opt_text(ev["destination"], NAME_MAX)
            and _text(ev["correlation_id"], 1, ID_MAX) and ev["mode"] in _MODES
            and type(ev["hash"]) is str and HASH.fullmatch(ev["hash"]) is not None
            and type(ev["prev_hash"]) is str and HASH.fullmatch(ev["prev_hash"]) is not None):
        return False
    if ev["type"].startswith("task.") and (ev["task_id"] is None or ev["workflow"] is None):
        return False
    try:  # strict: no value is coerced, so with every key present the model writes it back as it is
        flat[0].model_validate(payload, strict=True)
    except ValidationError:
        return False
    return numbers_normal(payload)
