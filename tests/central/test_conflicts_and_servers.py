"""Concurrent edits across workstations, and several stateless API servers on one database."""

from __future__ import annotations

import json
import threading

import httpx
from central_helpers import FakeDevice, Redirect, ThreadServer, capture, enroll_store, held_event_ids
from store_rows import rows

from app.services import sync as sync_service
from app.services import tasks as ts
from sync.central.app import create_app
from sync.central.queries import list_conflicts


def sync(store, url=None):
    """Sync with the pinned central; ``url``: through that server of it (as a load balancer would send it)."""
    transport = Redirect(int(url.rsplit(":", 1)[1])) if url else None
    return sync_service.sync(store, sync_service.Link.from_store(store), transport=transport)


def task_row(store, task_id):
    return rows(store, "SELECT status, version, needs_review, last_event_id FROM tasks WHERE task_id = ?",
                       [task_id])[0]


def test_one_task_changed_on_two_workstations_is_kept_flagged_and_folded_alike(central, make_store):
    url, db = central
    a, b = make_store("a"), make_store("b")
    enroll_store(a, url, db)
    enroll_store(b, url, db)
    task_id = capture(a, "referral")
    sync(a)
    sync(b)  # b now holds the task at version 1
    ts.transition_task(a, task_id, "accepted")
    ts.transition_task(b, task_id, "cancelled", reason="duplicate referral")
    sync(a)
    second = sync(b)
    sync(a)
    assert second["results"]["conflict"] == 1
    [conflict] = list_conflicts(db)
    assert conflict["task_id"] == task_id and conflict["base_version"] == 1
    # Both edits are held, and both workstations fold them to the same task, marked for review.
    assert task_row(a, task_id) == task_row(b, task_id)
    assert task_row(a, task_id)["needs_review"] == 1


def test_two_servers_on_one_database_take_concurrent_pushes_exactly_once(central_db, make_store):
    stores = [make_store(f"ws{i}") for i in range(4)]
    with ThreadServer(create_app(central_db)) as one, ThreadServer(create_app(central_db)) as two:
        servers = [one.url, two.url]
        for i, store in enumerate(stores):
            enroll_store(store, servers[i % 2], central_db)
            capture(store, patient=f"P10000{i + 1}")
        errors = []

        def push(store, url):
            try:
                link = sync_service.Link.from_store(store, url)
                with sync_service.http_client(link) as client:
                    sync_service.push(store, client, batch_size=3)
            except Exception as err:  # noqa: BLE001 - reported below
                errors.append(err)

        # Four workstations push at once, half through each server (a store is used by one thread).
        threads = [threading.Thread(target=push, args=(s, servers[i % 2])) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        held = held_event_ids(central_db)
        own = set()
        for store in stores:
            own |= {r["event_id"] for r in rows(store, "SELECT event_id FROM events WHERE device_id = ?",
                                                        [store.device_id])}
        assert len(held) == len(set(held)) and set(held) == own
        # Each pulls through the other server (its answers signed with the same central key) and sees the
        # other workstations' tasks.
        for i, store in enumerate(stores):
            sync(store, servers[(i + 1) % 2])
        for store in stores:
            assert rows(store, "SELECT count(*) AS n FROM tasks")[0]["n"] == 4


def test_the_same_batch_through_two_servers_at_once_is_taken_once(central_db):
    with ThreadServer(create_app(central_db)) as one, ThreadServer(create_app(central_db)) as two:
        device = FakeDevice()
        with httpx.Client(base_url=one.url) as client:
            device.enroll(client, central_db)
        body = json.dumps(device.batch([device.init_event()] + [device.task() for _ in range(50)]))
        answers = []

        def post(url):
            answers.append(httpx.post(url + "/v1/push", content=body, headers=device.auth, timeout=30))

        threads = [threading.Thread(target=post, args=(url,)) for url in (one.url, two.url, one.url, two.url)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [a.status_code for a in answers] == [200] * 4
        results = sorted(tuple(sorted({r["result"] for r in a.json()["results"]})) for a in answers)
        assert results == [("accepted",), ("duplicate",), ("duplicate",), ("duplicate",)]
        assert sorted(held_event_ids(central_db)) == sorted(e["event_id"] for e in device.made)
