"""One definition of a valid event at both ends: the central stores an event only if every
workstation of the unit can take it. Each case pushes a hand-made, correctly chained and signed
event to the real central over HTTP, then a real workstation store of the unit syncs."""

from __future__ import annotations

import httpx
import pytest
from central_helpers import FakeDevice, enroll_store, held_event_ids, quarantined
from store_rows import rows

from app.services import sync as sync_service
from sync.canonical import event_hash
from sync.errors import InvalidEvent
from sync.events import parse_event

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def rechained(device: FakeDevice, body: dict) -> dict:
    """``body`` (the device's last event, changed by the test) hashed again so its chain still links."""
    body = {k: v for k, v in body.items() if k != "hash"}
    body["hash"] = event_hash(body)
    device.head = body["hash"]
    device.made[-1] = body
    return body


def without(body: dict, *path: str) -> dict:
    body = {**body, "actor": dict(body["actor"]), "payload": dict(body["payload"])}
    where = body
    for key in path[:-1]:
        where = where[key]
    del where[path[-1]]
    return body


CASES = {
    "causation_id omitted": lambda b: without(b, "causation_id"),
    "actor.on_behalf_of omitted": lambda b: without(b, "actor", "on_behalf_of"),
    "payload default omitted": lambda b: without(b, "payload", "priority"),
    "Arabic-Indic digits in occurred_at": lambda b: {**b, "occurred_at": b["occurred_at"].translate(ARABIC_INDIC)},
    "Arabic-Indic digits in the hlc": lambda b: {**b, "hlc": b["hlc"].translate(ARABIC_INDIC)},
    "a month that does not exist": lambda b: {**b, "recorded_at": "2026-13-25T08:00:00.000Z"},
    "a bool where a number belongs": lambda b: {**b, "base_version": False},
    "an integral float in the answers": lambda b: {**b, "payload": {**b["payload"], "answers": {"n": 1.0}}},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_central_refuses_what_a_workstation_cannot_take_and_the_unit_goes_on(central, make_store, case):
    url, db = central
    reader = make_store("reader")
    enroll_store(reader, url, db)
    dev = FakeDevice()
    with httpx.Client(base_url=url) as client:
        dev.enroll(client, db)
        before = dev.task()
        bad = rechained(dev, CASES[case](dev.task()))
        after = dev.task()
        resp = dev.push(client, [before, bad, after])
    assert resp.status_code == 200, resp.text
    answers = {r["event_id"]: r for r in resp.json()["results"]}
    with pytest.raises(InvalidEvent):
        parse_event(bad)  # what every workstation does with a pulled event
    assert answers[bad["event_id"]]["result"] in ("rejected", "quarantined"), answers[bad["event_id"]]
    assert bad["event_id"] not in held_event_ids(db)
    assert bad["event_id"] in {q["event_id"] for q in quarantined(db)}
    summary = sync_service.sync(reader, sync_service.Link.from_store(reader))
    tasks = {r["task_id"] for r in rows(reader, "SELECT task_id FROM tasks")}
    assert {before["task_id"], after["task_id"]} <= tasks
    assert summary["pulled"] == 2
