"""Projections are a deterministic fold: the same events give the same tasks, whatever the arrival order."""

from __future__ import annotations

import json
import random

from store_rows import rows

from app.services import tasks as ts
from app.services.demo import example_answers, seed_demo
from app.store import eventlog
from app.store.projections import fold_task
from app.store.store import Store

PASSWORD = "violet harbour lantern mist"


def workstation(path):
    store, _ = Store.create(path, site_id="demo-general", unit_id="ward-7", admin_id="ada",
                            admin_name="Ada", password=PASSWORD)
    return store


def own_events(store):
    return [json.loads(b) for b in eventlog.own_bodies(store)]


def task_rows(store):
    return rows(store, "SELECT task_id, status, priority, destination, version, needs_review, summary,"
                       " last_event_id FROM tasks ORDER BY task_id")


def test_concurrent_edits_from_two_devices_converge_and_are_flagged(tmp_path):
    a, made = seed_demo(tmp_path / "a")
    b = workstation(tmp_path / "b")
    eventlog.ingest_remote(b, own_events(a))
    task_id = made["referral"]
    assert ts.get_task(b, task_id)["status"] == "accepted"
    # Both wards' workstations move the same task from the same version while apart.
    ts.transition_task(a, task_id, "in-progress")
    ts.transition_task(b, task_id, "cancelled", reason="duplicate referral")
    a_new = [e for e in own_events(a) if e["task_id"] == task_id][-1:]
    b_new = [e for e in own_events(b) if e.get("task_id") == task_id]
    eventlog.ingest_remote(a, b_new)
    eventlog.ingest_remote(b, a_new)
    row_a, row_b = ts.get_task(a, task_id), ts.get_task(b, task_id)
    assert row_a["status"] == row_b["status"]
    assert row_a["needs_review"] == row_b["needs_review"] == 1
    assert "two workstations" in row_a["review_reason"]
    # Both events are kept: nothing is lost in a conflict.
    assert len(ts.timeline(a, task_id)) == len(ts.timeline(b, task_id))


def test_any_arrival_order_gives_the_same_tasks(tmp_path):
    a, _ = seed_demo(tmp_path / "a")
    b = workstation(tmp_path / "b")
    eventlog.ingest_remote(b, own_events(a))
    for task in ts.list_tasks(b, open_only=True):
        ts.add_note(b, task["task_id"], "seen on the second workstation")
    got = ts.capture_task(a, "ed_triage", "P100009", example_answers("ed_triage"))
    ts.transition_task(a, got.task_id, "accepted")
    everything = own_events(a) + own_events(b)
    digests = set()
    for seed in range(4):
        order = everything[:]
        random.Random(seed).shuffle(order)
        c = workstation(tmp_path / f"c{seed}")
        for body in order:
            eventlog.ingest_remote(c, [body])
        digests.add(json.dumps(task_rows(c)))
        c.close()
    assert len(digests) == 1
    assert len(json.loads(digests.pop())) == 6


def test_fold_is_pure():
    body = {"type": "task.created", "task_id": "t1", "workflow": "referral", "payload": {
        "patient_id": "P1", "status": "requested", "priority": "urgent", "answers": {}, "summary": "s"},
        "destination": "referral_office", "correlation_id": "t1", "recorded_at": "2026-11-25T03:00:00.000Z",
        "occurred_at": "2026-11-25T03:00:00.000Z", "actor": {"user_id": "nina"}, "mode": "downtime",
        "hlc": "1795000000000.00000", "device_id": "d1", "device_seq": 1, "event_id": "e1"}
    row = fold_task(None, body)
    moved = fold_task(row, {**body, "type": "task.transitioned", "event_id": "e2", "device_seq": 2,
                            "hlc": "1795000000001.00000", "base_version": 1,
                            "payload": {"from_status": "requested", "to_status": "accepted"}})
    assert row["status"] == "requested" and moved["status"] == "accepted" and moved["version"] == 2
    assert moved["needs_review"] == 0
