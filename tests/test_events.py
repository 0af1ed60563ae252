"""The canonical event: sealing, hashing, the per-device chain and signed checkpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.canonical import GENESIS_HASH, canonical_json, normalize, numbers_normal
from sync.checkpoint import new_signing_key, public_key_text, sign_checkpoint, verify_checkpoint
from sync.errors import BadSignature, ChainBroken, InvalidEvent
from sync.events import Event, new_id, parse_event, seal, verify_chain


def fields(seq: int, **over) -> dict:
    base = {
        "event_id": new_id(), "type": "task.created", "workflow": "ed_triage", "task_id": "task-1",
        "base_version": 0, "site_id": "site-a", "unit_id": "ward-7", "device_id": "dev-1",
        "device_seq": seq, "actor": {"user_id": "nina", "display_name": "Nina", "role": "nurse"},
        "occurred_at": "2026-11-25T03:00:00.000Z", "recorded_at": "2026-11-25T03:00:00.000Z",
        "hlc": f"{1795000000000 + seq:013d}.00000", "source": "workstation:dev-1",
        "correlation_id": "task-1", "mode": "downtime",
        "payload": {"patient_id": "P100001", "answers": {"temperature": 37.0, "hr": 88}},
    }
    base.update(over)
    return base


def chain(n: int) -> list[dict]:
    prev, out = GENESIS_HASH, []
    for i in range(1, n + 1):
        ev = seal(fields(i), prev)
        out.append(ev.body())
        prev = ev.hash
    return out


def test_seal_normalizes_numbers_and_hash_covers_everything():
    ev = seal(fields(1), GENESIS_HASH)
    assert ev.body()["payload"]["answers"]["temperature"] == 37
    assert isinstance(ev.body()["payload"]["answers"]["temperature"], int)
    assert parse_event(canonical_json(ev.body())).hash == ev.hash
    for key in ("actor", "occurred_at", "destination", "payload", "prev_hash"):
        edited = json.loads(canonical_json(ev.body()))
        edited[key] = {"user_id": "mallory", "display_name": "M", "role": "admin"} if key == "actor" else (
            "2026-11-24T01:00:00.000Z" if key == "occurred_at" else
            {"patient_id": "P999", "answers": {}} if key == "payload" else "f" * 64 if key == "prev_hash"
            else "lab")
        with pytest.raises(ChainBroken, match="changed after it was made"):
            parse_event(edited)


def test_unknown_type_and_bad_fields_are_refused_with_a_reason():
    with pytest.raises(InvalidEvent, match="unknown event type"):
        seal(fields(1, type="task.teleported"), GENESIS_HASH)
    with pytest.raises(InvalidEvent, match="device_seq"):
        seal(fields(0), GENESIS_HASH)
    with pytest.raises(InvalidEvent, match="task_id"):
        seal(fields(1, task_id=None), GENESIS_HASH)
    with pytest.raises(InvalidEvent, match="colour: Extra inputs"):
        seal(fields(1, colour="red"), GENESIS_HASH)
    with pytest.raises(InvalidEvent, match="Not JSON"):
        parse_event("{not json")


def test_non_finite_and_out_of_range_numbers_are_refused():
    with pytest.raises(InvalidEvent, match="finite"):
        normalize({"x": float("nan")})
    with pytest.raises(InvalidEvent, match="outside the range"):
        normalize({"x": 1e-7})
    with pytest.raises(InvalidEvent, match="too large"):
        normalize({"x": 2**60})


def test_chain_verifies_and_names_the_first_bad_event():
    bodies = chain(5)
    assert verify_chain(bodies) == 5
    removed = bodies[:2] + bodies[3:]
    with pytest.raises(ChainBroken) as err:
        verify_chain(removed)
    assert err.value.device_seq == 3 and "missing" in str(err.value)
    swapped = [bodies[0], bodies[2], bodies[1]] + bodies[3:]
    with pytest.raises(ChainBroken):
        verify_chain(swapped)
    edited = [dict(b) for b in bodies]
    edited[3] = {**edited[3], "destination": "lab"}
    with pytest.raises(ChainBroken) as err:
        verify_chain(edited)
    assert err.value.event_id == bodies[3]["event_id"]


def test_checkpoint_signature_vouches_for_the_head_and_nothing_else():
    key, other = new_signing_key(), new_signing_key()
    bodies = chain(3)
    cp = sign_checkpoint(key, "dev-1", 3, bodies[-1]["hash"], "2026-11-25T03:00:00.000Z")
    verify_checkpoint(cp, public_key_text(key))
    with pytest.raises(BadSignature):
        verify_checkpoint(cp, public_key_text(other))
    forged = cp.model_copy(update={"device_seq": 2})
    with pytest.raises(BadSignature):
        verify_checkpoint(forged, public_key_text(key))


def test_event_round_trips_through_json():
    ev = seal(fields(1), GENESIS_HASH)
    again = Event.model_validate_json(canonical_json(ev.body()))
    assert again.hash == ev.hash and again.body() == ev.body()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(min_value=1e-4, max_value=1e14, allow_nan=False)
    | st.floats(min_value=-1e14, max_value=-1e-4, allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", max_size=8), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_json_matches_rfc8785_on_normalized_values(value):
    value = normalize(value)
    assert canonical_json(value).encode() == rfc8785.dumps(value)


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_event_times_and_hlcs_take_ascii_digits_only():
    from sync.clock import parse_hlc, parse_time

    assert parse_time("2026-11-25T08:00:00.123Z").isoformat() == "2026-11-25T08:00:00.123000+00:00"
    assert parse_time("2026-11-25T08:00:00Z").microsecond == 0
    for bad in ("2026-11-25T08:00:00.000Z".translate(ARABIC_INDIC), "２０２６-11-25T08:00:00Z",
                "2026-02-30T08:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T08:00:00+00:00",
                "2026-11-25T08:00:00Z\n", " 2026-11-25T08:00:00Z", "2026-11-25 08:00:00Z"):
        with pytest.raises(ValueError):
            parse_time(bad)
        with pytest.raises(InvalidEvent, match="occurred_at"):
            seal(fields(1, occurred_at=bad), GENESIS_HASH)
    assert parse_hlc("1764057600001.00042") == (1764057600001, 42)
    with pytest.raises(ValueError):
        parse_hlc("1764057600001.00042".translate(ARABIC_INDIC))
    with pytest.raises(InvalidEvent, match="hlc"):
        seal(fields(1, hlc="1764057600001.00042".translate(ARABIC_INDIC)), GENESIS_HASH)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)))
def test_every_time_the_clock_writes_is_read_back(when):
    from sync.clock import iso, parse_time

    assert parse_time(iso(when)) == when.replace(microsecond=when.microsecond // 1000 * 1000)


NUMBERS = st.recursive(st.none() | st.booleans() | st.text(max_size=4) | st.integers(-(2 ** 60), 2 ** 60)
                       | st.floats(allow_nan=False, allow_infinity=False),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                    max_size=3), max_leaves=8)


@given(NUMBERS)
def test_numbers_are_normal_exactly_when_normalize_leaves_them_as_they_are(value):
    try:
        same = canonical_json(normalize(value)) == canonical_json(value)
    except InvalidEvent:
        same = False
    assert numbers_normal(value) == same
