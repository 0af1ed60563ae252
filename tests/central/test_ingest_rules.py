"""The central's fast check (sync.validity.plainly_valid) never passes an event the one rule
(sync.validity.check_event, what every workstation runs) would refuse, and it passes the events
workstations make, so the central stays fast."""

from __future__ import annotations

import json

from central_helpers import FakeDevice
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.demo import example_answers
from sync.canonical import canonical_bytes, normalize
from sync.errors import InvalidEvent
from sync.validity import check_event, plainly_valid

JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 2 ** 40) | st.integers(2 ** 52, 2 ** 64)
                    | st.floats(allow_nan=True) | st.text(max_size=70),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                                 max_size=3), max_leaves=6)
ODD_VALUES = [
    "2026-11-25T08:00:00Z\n", " 2026-11-25T08:00:00Z", "2026-02-30T08:00:00Z", "2026-11-25T24:00:00Z",
    "٢٠٢٦-١١-٢٥T٠٨:٠٠:٠٠Z", "2026-11-25T08:00:00.0000000Z", "1764057600001.00000\n", "١٧٦٤٠٥٧٦٠٠٠٠١.٠٠٠٠٠",
    "ward-7\n", "nurse", "admin", "ed_triage", "x" * 36, "x" * 65, "x" * 121, "x" * 5000, "task.created",
    "task.note_added", "user.added", "", 1.0, 0.5, -0.0, 1e300, True, False, 2 ** 53, 2 ** 53 - 1, -1, 0, "1",
    "a\x00b", None, [], {}]
ODD = st.sampled_from(ODD_VALUES)
DEVICE = FakeDevice()
BASES = [DEVICE.transition("t-1", 1), DEVICE.task("t-2"),
         DEVICE.event("task.created", {"patient_id": "P100001", "answers": normalize(example_answers("ed_triage")),
                                       "summary": "synthetic"}, workflow="ed_triage", task_id="t-3",
                      base_version=0),
         DEVICE.event("task.note_added", {"text": "called the lab"}, workflow="referral", task_id="t-4",
                      base_version=2),
         DEVICE.event("census.loaded", {"as_of": "2026-11-25T08:00:00.000Z", "patients": [
             {"patient_id": "P1", "family": "Zztest-Ashby", "given": "Alice"}]})]


def _paths(body: dict) -> list[tuple[str, ...]]:
    out = [(k,) for k in body]
    for outer in ("actor", "payload"):
        out += [(outer, k) for k in body[outer]]
    return out


ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _near(value) -> list:
    """Values close to a valid ``value``: where the fast check and the rule could part ways."""
    out = [value, None]
    if isinstance(value, str):
        out += [value.translate(ARABIC), value + "\n", " " + value, value.upper(), value[:-1], value + "0",
                value * 2, value.replace("Z", "+00:00"), value.replace(".", ",")]
    if type(value) is int:
        out += [float(value), value + 0.5, bool(value), str(value), -value, value + 2 ** 53, 2 ** 53 - 1]
    if isinstance(value, dict):
        out += [{k: v for k, v in value.items() if v is not None}, {**value, "extra": 1}, list(value)]
    return out


def _value_at(ev: dict, path: tuple[str, ...]):
    where = ev
    for key in path:
        if not isinstance(where, dict) or key not in where:
            return None
        where = where[key]
    return where


def _mutated(base: dict, path: tuple[str, ...], op: str, value) -> dict:
    ev = json.loads(json.dumps(base))
    where = ev
    for key in path[:-1]:
        where = where[key]
    if op == "drop":
        where.pop(path[-1], None)
    elif op == "add":
        where["extra" if value is None else str(value)[:12]] = value
    else:
        where[path[-1]] = value
    return ev


@st.composite
def mutations(draw):
    base = draw(st.sampled_from(BASES))
    ev = base
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(ev) if isinstance(ev.get("actor"), dict)
                                    and isinstance(ev.get("payload"), dict) else [(k,) for k in ev]))
        near = st.sampled_from(_near(_value_at(ev, path)))
        value = draw(st.one_of(near, near, near, JSON, ODD))
        ev = _mutated(ev, path, draw(st.sampled_from(["drop", "add", "set", "set", "set"])), value)
    return ev


def _rule_passes(ev: dict) -> bool:
    try:
        check_event(ev)
    except InvalidEvent:
        return False
    return True


@settings(max_examples=800, deadline=None)
@given(mutations())
def test_the_fast_check_is_never_looser_than_the_rule(ev):
    try:
        plain = plainly_valid(ev)
    except TypeError:  # event_problem takes this as "ask the rule"
        plain = False
    if plain:
        assert _rule_passes(ev), ev


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(BASES), st.sampled_from(["causation_id", "destination", "base_version", "hash"]))
def test_the_fast_check_with_the_stored_text_agrees(base, key):
    ev = {**base}
    text = canonical_bytes(ev)
    assert plainly_valid(ev, text) == plainly_valid(ev)
    ev[key] = "a\x00b"
    assert not plainly_valid(ev, canonical_bytes(ev)) and not _rule_passes(ev)


def test_the_events_workstations_make_pass_the_fast_check():
    for base in BASES[:4]:
        assert plainly_valid(base), base["type"]
        assert _rule_passes(base)
    assert not plainly_valid(BASES[4]) and _rule_passes(BASES[4])  # census: nested models go to the rule
    assert not plainly_valid({**BASES[0], "occurred_at": "2026-11-25T08:00:00Z\n"})


def test_every_single_near_miss_is_judged_no_looser_by_the_fast_check():
    """Each base event with one key dropped, or one value swapped for a near miss or an odd value."""
    checked = passed = 0
    for base in BASES:
        for path in _paths(base):
            candidates = [("drop", None), ("add", None)] + [("set", v) for v in [*_near(_value_at(base, path)), *ODD_VALUES]]
            for op, value in candidates:
                ev = _mutated(base, path, op, value)
                try:
                    plain = plainly_valid(ev)
                except TypeError:
                    plain = False
                checked += 1
                if plain:
                    passed += 1
                    assert _rule_passes(ev), (path, op, value)
    assert checked > 5000 and passed > 1000  # the fast check still vouches for real variety
