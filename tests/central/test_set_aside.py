"""Nothing pulled blocks the rest. An event at the central that no workstation can take (stored by
an older central, or edited in its database) is set aside on each workstation with its reason,
kept in the encrypted store, reported to the central and shown to the super-user, and the
workstations go on pulling the events after it. Real central over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
from central_helpers import (
    MARKER,
    PASSWORD,
    FakeDevice,
    enroll_store,
    held_at_central_untakeable,
    store_at_central,
)
from store_rows import rows

from app.cli import main as tideover
from app.services import sync as sync_service
from app.store import outbox
from sync.central.queries import verify
from sync.central.setaside import list_set_aside


def task_ids(store) -> set[str]:
    return {r["task_id"] for r in rows(store, "SELECT task_id FROM tasks")}


def test_two_workstations_set_aside_what_they_cannot_take_and_keep_pulling(central, make_store, monkeypatch,
                                                                            capsys):
    url, db = central
    a, b = make_store("a"), make_store("b")
    enroll_store(a, url, db)
    enroll_store(b, url, db)
    dev, before, bad, after = held_at_central_untakeable(url, db)

    summaries = {}
    for store in (a, b):
        summaries[store.device_id] = sync_service.sync(store, sync_service.Link.from_store(store))
        assert {before["task_id"], after["task_id"]} <= task_ids(store)  # the event after it came through
        assert not rows(store, "SELECT 1 FROM events WHERE event_id = ?", [bad["event_id"]])
        again = sync_service.sync(store, sync_service.Link.from_store(store))
        assert again["pulled"] == 0  # the cursor moved past it: nothing is pulled twice
        held = [h for h in again["held_back"] if h["state"] == "set_aside"]
        assert [(h["event_id"], h["reason"], h["device_id"]) for h in held] == [
            (bad["event_id"], "not_canonical", dev.device_id)]
        assert held[0]["type"] == "task.note_added" and held[0]["task_id"] == "t-lost"
        assert held == [h for h in outbox.held_back(store) if h["state"] == "set_aside"]
    for summary in summaries.values():
        assert summary["pulled"] == 2 and summary["set_aside"] == 1

    # The central knows which workstations could not take it, and why.
    reports = list_set_aside(db)
    assert sorted((r["event_id"], r["reported_by"], r["reason"]) for r in reports) == sorted(
        (bad["event_id"], s.device_id, "not_canonical") for s in (a, b))
    assert all("causation_id" in r["detail"] for r in reports)

    # Kept in the encrypted store, never in the clear on disk.
    kept = rows(a, "SELECT body FROM set_aside WHERE event_id = ?", [bad["event_id"]])
    assert MARKER in json.loads(kept[0]["body"])["payload"]["text"]
    for path in a.data_dir.iterdir():
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes(), path

    # The super-user's listing on the command line.
    data_dir = b.data_dir
    b.db.conn.close()
    b.db = None
    monkeypatch.setenv("TIDEOVER_PASSWORD", PASSWORD)
    assert tideover(["--data-dir", str(data_dir), "--user", "admin", "set-aside", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["event_id"], e["reason"], e["reported"]) for e in listed] == [(bad["event_id"], "not_canonical", True)]
    assert tideover(["--data-dir", str(data_dir), "--user", "admin", "set-aside", "list"]) == 0
    out = capsys.readouterr().out
    assert bad["event_id"] in out and "not_canonical" in out and MARKER not in out


def test_an_event_changed_at_the_central_is_set_aside_as_changed(central, make_store):
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    dev = FakeDevice()
    with httpx.Client(base_url=url) as client:
        dev.enroll(client, db)
        first = dev.task()
        changed = dev.task()
        last = dev.task()
        body = {**changed, "payload": {**changed["payload"], "priority": "stat"}}  # edited after it was hashed
        store_at_central(db, dev, first)
        store_at_central(db, dev, body)
        store_at_central(db, dev, last)
    summary = sync_service.sync(a, sync_service.Link.from_store(a))
    assert {first["task_id"], last["task_id"]} <= task_ids(a) and changed["task_id"] not in task_ids(a)
    held = [(h["event_id"], h["reason"]) for h in summary["held_back"] if h["state"] == "set_aside"]
    assert held == [(changed["event_id"], "hash_mismatch")]
    assert verify(db)["problems"]  # the central's own check sees it too


def test_a_set_aside_report_with_a_nul_or_a_malformed_id_is_refused_clearly(central_db):
    """PostgreSQL refuses NUL in text: a report carrying one must be a 422, never a 500 (found by the
    schemathesis run on PostgreSQL); the same for an event id that is no id and a made-up reason."""
    from fastapi.testclient import TestClient

    from sync.central.app import create_app

    with TestClient(create_app(central_db)) as client:
        dev = FakeDevice()
        dev.enroll(client, central_db)
        good = {"event_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "reason": "not_canonical", "detail": "x"}
        for bad in ({"event_id": "0190a1b2\u0000"}, {"reason": "not\u0000canonical"}, {"detail": "a\u0000b"},
                    {"event_id": "../../etc"}, {"reason": "Not A Code"}):
            resp = client.post("/v1/set-aside", headers=dev.auth, json={"reports": [{**good, **bad}]})
            assert resp.status_code == 422, (bad, resp.status_code, resp.text)
        assert list_set_aside(central_db) == []  # nothing of a refused report was written
        resp = client.post("/v1/set-aside", headers=dev.auth, json={"reports": [good]})
        assert resp.status_code == 200, resp.text
