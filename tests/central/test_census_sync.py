"""Census snapshots from two workstations through the real central: both boards agree on every bed."""

from __future__ import annotations

from central_helpers import enroll_store

from app.services import patients as pt
from app.services import sync as sync_service
from app.store import integrity


def beds(store) -> dict:
    return {p["patient_id"]: p["location"] for p in pt.search_patients(store, "zztest")}


def test_an_older_snapshot_arriving_later_leaves_both_workstations_agreeing(central, make_store):
    url, db = central
    a, b = make_store("a"), make_store("b")
    enroll_store(a, url, db)
    enroll_store(b, url, db)
    # A loads the 09:00 census (the patient moved to bed 12); B still has the 08:00 export (bed 3),
    # loaded later, and reaches the central after A.
    pt.import_census(a, [{"patient_id": "P100001", "family": "Zztest-Moved", "given": "Ann",
                          "location": "ward-7 bed 12"}], as_of="2026-11-25T09:00:00Z")
    sync_service.sync(a, sync_service.Link.from_store(a))
    pt.import_census(b, [{"patient_id": "P100001", "family": "Zztest-Moved", "given": "Ann",
                          "location": "ward-7 bed 3"},
                         {"patient_id": "P100002", "family": "Zztest-Only", "given": "Older",
                          "location": "ward-7 bed 4"}], as_of="2026-11-25T08:00:00Z")
    sync_service.sync(b, sync_service.Link.from_store(b))
    sync_service.sync(a, sync_service.Link.from_store(a))

    expected = {"P100001": "ward-7 bed 12", "P100002": "ward-7 bed 4"}
    assert beds(a) == beds(b) == expected
    for store in (a, b):
        before, after, _ = integrity.rebuild_projections(store)
        assert before == after and beds(store) == expected
