"""Census snapshots: per patient the newest ``as_of`` wins, whatever order the snapshots arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlcipher3
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_rows import rows

from app.services import patients as pt
from app.services.errors import InputError
from app.store import integrity
from app.store.migrations import apply_migrations
from app.store.projections import Projector
from sync.events import new_id

BASE = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
PATIENT_IDS = ["P100001", "P100002", "P100003"]


def projection_db() -> sqlite_utils.Database:
    """The real schema on an in-memory SQLCipher connection (no key: nothing to protect here)."""
    db = sqlite_utils.Database(sqlcipher3.connect(":memory:", isolation_level=None))
    apply_migrations(db)
    return db


def census_event(as_of: str, patients: list[dict], recorded_at: str | None = None) -> dict:
    return {"event_id": new_id(), "type": "census.loaded", "recorded_at": recorded_at or "2026-11-26T00:00:00.000Z",
            "payload": {"as_of": as_of, "source": "census", "patients": patients}}


def fold(events: list[dict]) -> list[tuple]:
    db = projection_db()
    projector = Projector(db)
    for seq, body in enumerate(events, 1):
        projector.apply(body, seq)
    return db.execute("SELECT patient_id, family, given, location, as_of FROM patients ORDER BY patient_id").fetchall()


def as_of_text(minutes: int, zone_hours: int) -> str:
    """The same instants written in different zones: '03:00Z' and '04:00+01:00' are one time."""
    zone = timezone(timedelta(hours=zone_hours))
    return (BASE + timedelta(minutes=minutes)).astimezone(zone).isoformat()


patient = st.builds(lambda pid, bed, fam: {"patient_id": pid, "family": fam, "given": "Test",
                                           "location": f"ward-7 bed {bed}"},
                    st.sampled_from(PATIENT_IDS), st.integers(1, 9), st.sampled_from(["Zztest-A", "Zztest-B"]))
snapshot = st.builds(lambda minutes, zone, ps: census_event(as_of_text(minutes, zone), ps),
                     st.integers(0, 4), st.sampled_from([0, 1, -5]), st.lists(patient, min_size=1, max_size=4))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(snapshot, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_any_arrival_order_of_census_snapshots_gives_the_same_census(snapshots, rnd):
    shuffled = list(snapshots)
    rnd.shuffle(shuffled)
    assert fold(shuffled) == fold(snapshots)


def test_an_older_snapshot_arriving_later_does_not_move_the_patient_back():
    newer = census_event("2026-11-25T09:00:00Z", [{"patient_id": "P1", "family": "Zztest-A", "given": "B",
                                                   "location": "bed 2"}])
    older = census_event("2026-11-25T08:00:00+00:00", [{"patient_id": "P1", "family": "Zztest-A", "given": "B",
                                                        "location": "bed 1"},
                                                       {"patient_id": "P2", "family": "Zztest-C", "given": "D",
                                                        "location": "bed 5"}])
    got = {r[0]: r[3] for r in fold([newer, older])}
    # P1 keeps its newer bed; P2, only in the older snapshot, is still on the census.
    assert got == {"P1": "bed 2", "P2": "bed 5"}
    assert got == {r[0]: r[3] for r in fold([older, newer])}


def test_a_future_as_of_cannot_pin_a_patient_forever():
    # A snapshot claiming to be "as of" 9999 was recorded in 2026: it counts as of when it was recorded.
    pinned = census_event("9999-01-01T00:00:00Z", [{"patient_id": "P1", "family": "Zztest-A", "given": "B",
                                                    "location": "bed 9"}], recorded_at="2026-11-25T08:00:00.000Z")
    later = census_event("2026-11-25T10:00:00Z", [{"patient_id": "P1", "family": "Zztest-A", "given": "B",
                                                   "location": "bed 3"}], recorded_at="2026-11-25T10:00:01.000Z")
    assert {r[0]: r[3] for r in fold([later, pinned])} == {"P1": "bed 3"}
    assert {r[0]: r[3] for r in fold([pinned, later])} == {"P1": "bed 3"}


def test_rebuild_gives_the_newest_census_even_when_the_log_holds_it_first(demo_store):
    pt.import_census(demo_store, [{"patient_id": "P900001", "family": "Zztest-Moved", "given": "Later",
                                   "location": "ward-7 bed 20"}], as_of="2026-11-25T09:00:00Z")
    pt.import_census(demo_store, [{"patient_id": "P900001", "family": "Zztest-Moved", "given": "Earlier",
                                   "location": "ward-7 bed 1"}], as_of="2026-11-25T08:00:00Z")
    row = rows(demo_store, "SELECT given, location FROM patients WHERE patient_id = 'P900001'")[0]
    assert row == {"given": "Later", "location": "ward-7 bed 20"}
    before, after, _ = integrity.rebuild_projections(demo_store)
    assert before == after


@pytest.mark.parametrize("as_of", ["2026-11-25T08:00:00", "٢٠٢٦-١١-٢٥T08:00:00Z", "next tuesday",
                                   "2999-01-01T00:00:00Z"])
def test_a_census_with_a_bad_or_future_as_of_is_refused(demo_store, as_of):
    before = demo_store.head.device_seq
    with pytest.raises(InputError):
        pt.import_census(demo_store, [{"patient_id": "P9", "family": "Zztest-X", "given": "Y"}], as_of=as_of)
    assert demo_store.head.device_seq == before



def test_a_store_from_before_the_rule_keeps_its_newest_census(tmp_path):
    from app.services.demo import DEMO_PASSWORD, seed_demo
    from app.store.store import Store

    store, _ = seed_demo(tmp_path / "s")
    pt.import_census(store, [{"patient_id": "P900001", "family": "Zztest-Old", "given": "Store",
                              "location": "bed 7"}], as_of="2026-11-25T09:00:00Z")
    # As written before migration 4: no census_order column.
    store.db.conn.execute("ALTER TABLE patients DROP COLUMN census_order")
    store.db.conn.execute("DELETE FROM migrations WHERE number = 4")
    store.close()
    store = Store.open(tmp_path / "s", "admin", DEMO_PASSWORD)
    try:
        pt.import_census(store, [{"patient_id": "P900001", "family": "Zztest-Old", "given": "Store",
                                  "location": "bed 1"}], as_of="2026-11-25T08:00:00Z")
        assert rows(store, "SELECT location FROM patients WHERE patient_id = 'P900001'")[0]["location"] == "bed 7"
        pt.import_census(store, [{"patient_id": "P900001", "family": "Zztest-Old", "given": "Store",
                                  "location": "bed 2"}], as_of="2026-11-25T10:00:00Z")
        assert rows(store, "SELECT location FROM patients WHERE patient_id = 'P900001'")[0]["location"] == "bed 2"
    finally:
        store.close()
