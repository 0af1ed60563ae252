"""The central's fast field check never passes an event the Event model's rules would refuse."""

from __future__ import annotations

from central_helpers import FakeDevice
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.central.ingest import EventFields, _plainly_valid

JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 2 ** 40) | st.floats(allow_nan=False)
                    | st.text(max_size=70), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=3), max_leaves=6)
DEVICE = FakeDevice()
BASE = DEVICE.transition("t-1", 1)
FIELDS = sorted(set(BASE) | {"actor.user_id", "actor.role", "actor.display_name", "actor.on_behalf_of", "extra"})


def _mutated(field: str, value) -> dict:
    ev = {**BASE, "actor": dict(BASE["actor"])}
    if field.startswith("actor."):
        ev["actor"][field.split(".", 1)[1]] = value
    else:
        ev[field] = value
    return ev


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(FIELDS), JSON | st.sampled_from(["2026-11-25T08:00:00Z\n", "1764057600001.00000\n",
                                                          "ward-7\n", "nurse", "ed_triage", "x" * 36]))
def test_the_fast_check_is_never_looser_than_the_model(field, value):
    ev = _mutated(field, value)
    try:
        plain = _plainly_valid(ev)
    except TypeError:
        plain = False
    if plain:
        EventFields.model_validate(ev)  # raises if the fast check let through something invalid


def test_a_valid_event_passes_the_fast_check():
    assert _plainly_valid(BASE)
    assert not _plainly_valid(_mutated("occurred_at", "2026-11-25T08:00:00Z\n"))
