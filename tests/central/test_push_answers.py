"""Per-event answers of a push, and everything a bad request must not write (fine-grained, in process)."""

from __future__ import annotations

import json

import pytest
from central_helpers import SYSTEM, FakeDevice, counts, held_event_ids, push_answers, quarantined

from sync.central.enroll import create_token
from sync.checkpoint import new_signing_key


@pytest.fixture
def central_app_options() -> dict:
    return {"max_body": 256 * 1024}  # a small body limit, to see a too-large push refused


def test_accepted_then_duplicate_with_the_highest_gapless_seq(api, device):
    client, db = api
    evs = [device.init_event(), device.task(), device.task()]
    first = device.push(client, evs)
    again = device.push(client, evs)
    assert first.status_code == 200 and again.status_code == 200
    assert push_answers(first) == [(1, "accepted", None), (2, "accepted", None), (3, "accepted", None)]
    assert push_answers(again) == [(1, "duplicate", None), (2, "duplicate", None), (3, "duplicate", None)]
    assert first.json()["highest_gapless_seq"] == again.json()["highest_gapless_seq"] == 3
    assert sorted(held_event_ids(db)) == sorted(e["event_id"] for e in evs)


def test_meaningless_events_are_quarantined_and_do_not_block_the_rest(api, device):
    client, db = api
    evs = [device.init_event(),
           device.raw_event("task.teleported", {"x": 1}, workflow="ed_triage", task_id="t1"),
           device.raw_event("task.note_added", {"text": ""}, workflow="ed_triage", task_id="t1", base_version=1),
           device.raw_event("task.note_added", {"text": "ok"}, workflow="not_a_workflow", task_id="t1"),
           device.task()]
    resp = device.push(client, evs)
    assert resp.status_code == 200
    assert push_answers(resp) == [(1, "accepted", None), (2, "quarantined", "unknown_type"),
                             (3, "quarantined", "invalid_payload"), (4, "rejected", "invalid_fields"),
                             (5, "accepted", None)]
    assert resp.json()["highest_gapless_seq"] == 5
    assert sorted(held_event_ids(db)) == sorted([evs[0]["event_id"], evs[4]["event_id"]])
    assert {q["device_seq"]: q["reason"] for q in quarantined(db)} == {
        2: "unknown_type", 3: "invalid_payload", 4: "invalid_fields"}
    # Sending them again gives the same answers and writes nothing more.
    before = counts(db)
    assert push_answers(device.push(client, evs)) == [(1, "duplicate", None), (2, "quarantined", "unknown_type"),
                                                 (3, "quarantined", "invalid_payload"),
                                                 (4, "rejected", "invalid_fields"), (5, "duplicate", None)]
    assert counts(db)["events"] == before["events"] and counts(db)["quarantine"] == before["quarantine"]


def test_an_event_id_already_held_from_another_device_is_quarantined(api, device):
    client, db = api
    other = FakeDevice()
    other.enroll(client, db)
    taken = other.init_event()
    assert other.push(client, [taken]).status_code == 200
    reused = device.raw_event("device.initialized", {"public_key": device.public_key}, event_id=taken["event_id"],
                              actor=SYSTEM)
    resp = device.push(client, [reused, device.task()])
    assert push_answers(resp) == [(1, "quarantined", "id_reused"), (2, "accepted", None)]
    assert held_event_ids(db, other.device_id) == [taken["event_id"]]


def test_same_task_edited_on_two_devices_from_one_version(api, device):
    client, db = api
    other = FakeDevice()
    other.enroll(client, db)
    created = device.task()
    mine = device.transition(created["task_id"], base_version=1, to="accepted")
    theirs = other.transition(created["task_id"], base_version=1, to="cancelled")
    assert push_answers(device.push(client, [created, mine])) == [(1, "accepted", None), (2, "accepted", None)]
    resp = other.push(client, [theirs])
    assert push_answers(resp) == [(1, "conflict", "concurrent_edit")]
    held = held_event_ids(db)
    assert mine["event_id"] in held and theirs["event_id"] in held
    from sync.central.queries import list_conflicts

    [c] = list_conflicts(db)
    assert (c["task_id"], c["base_version"], c["event_id"], c["other_event_id"]) == (
        created["task_id"], 1, theirs["event_id"], mine["event_id"])


def test_a_gap_is_refused_whole_and_says_where_to_resume(api, device):
    client, db = api
    evs = [device.init_event(), device.task(), device.task(), device.task()]
    assert device.push(client, evs[:2]).status_code == 200
    before = counts(db)
    resp = device.push(client, evs[3:])  # batch 3 of 3 arrives before batch 2
    assert resp.status_code == 409
    assert resp.json()["error"] == "seq_gap" and resp.json()["highest_gapless_seq"] == 2
    assert counts(db) == before
    assert push_answers(device.push(client, evs[2:])) == [(3, "accepted", None), (4, "accepted", None)]


BAD_BODIES = [
    (b"{not json", 400, "malformed_json"),
    (b"[]", 422, "invalid_request"),
    (json.dumps({"device_id": 5, "checkpoint": {}, "events": []}).encode(), 422, "invalid_request"),
    (json.dumps({"device_id": "d", "checkpoint": {"device_id": "d"}, "events": [{}]}).encode(), 422,
     "invalid_request"),
]


@pytest.mark.parametrize("body,status,code", BAD_BODIES, ids=["malformed", "array", "wrong-types", "no-fields"])
def test_malformed_requests_are_4xx_and_write_nothing(api, device, body, status, code):
    client, db = api
    before = counts(db)
    resp = client.post("/v1/push", content=body, headers=device.auth)
    assert resp.status_code == status and resp.json()["error"] == code
    assert counts(db) == before


def test_wrong_types_inside_an_event_are_422(api, device):
    client, db = api
    ev = device.init_event()
    batch = device.batch([ev])
    batch["events"][0] = {**ev, "device_seq": "1"}
    before = counts(db)
    resp = client.post("/v1/push", content=json.dumps(batch), headers=device.auth)
    assert resp.status_code == 422 and "device_seq" in resp.json()["detail"]
    assert counts(db) == before


def test_an_oversize_body_is_413_and_writes_nothing(api, device):
    client, db = api
    before = counts(db)
    huge = device.task()
    batch = device.batch([huge])
    batch["padding"] = "x" * (300 * 1024)
    resp = client.post("/v1/push", content=json.dumps(batch), headers=device.auth)
    assert resp.status_code == 413 and resp.json()["error"] == "too_large"
    assert counts(db) == before


def test_a_forged_checkpoint_signature_is_refused(api, device):
    client, db = api
    before = counts(db)
    resp = device.push(client, [device.init_event(), device.task()], key=new_signing_key())
    assert resp.status_code == 422 and resp.json()["error"] == "bad_signature"
    assert counts(db) == before


def test_an_edited_event_is_refused(api, device):
    client, db = api
    evs = [device.init_event(), device.task()]
    evs[1]["payload"]["summary"] = "changed after it was made"
    before = counts(db)
    resp = device.push(client, evs)
    assert resp.status_code == 409 and resp.json()["error"] == "hash_mismatch"
    assert resp.json()["device_seq"] == 2
    assert counts(db) == before


def test_a_re_hashed_edit_no_longer_matches_the_signed_checkpoint(api, device):
    client, db = api
    evs = [device.init_event(), device.task()]
    batch = device.batch(evs)
    from sync.canonical import event_hash

    forged = dict(evs[1], payload={**evs[1]["payload"], "summary": "forged"})
    forged.pop("hash")
    forged["hash"] = event_hash(forged)
    batch["events"][1] = forged
    before = counts(db)
    resp = client.post("/v1/push", content=json.dumps(batch), headers=device.auth)
    assert resp.status_code == 422 and resp.json()["error"] == "checkpoint_mismatch"
    assert counts(db) == before


def test_a_broken_link_is_refused(api, device):
    client, db = api
    a, b = device.init_event(), device.task()
    device.head = "f" * 64  # the next event links to nothing the central holds
    c = device.task()
    before = counts(db)
    resp = device.push(client, [a, b, c])
    assert resp.status_code == 409 and resp.json()["error"] == "chain_broken" and resp.json()["device_seq"] == 3
    assert counts(db) == before


def test_events_of_another_device_are_403(api, device):
    client, db = api
    other = FakeDevice()
    other.enroll(client, db)
    theirs = [other.init_event()]
    before = counts(db)
    # Signed with the other device's key and sent with this device's credential.
    resp = client.post("/v1/push", content=json.dumps(other.batch(theirs)), headers=device.auth)
    assert resp.status_code == 403 and resp.json()["error"] == "not_your_device"
    # This device's own chain, but claiming another unit.
    mine = device.raw_event("device.initialized", {"public_key": device.public_key}, unit_id="ward-9")
    resp = device.push(client, [mine])
    assert resp.status_code == 403
    assert counts(db) == before


def test_no_credential_is_401(api, device):
    client, db = api
    before = counts(db)
    batch = json.dumps(device.batch([device.init_event()]))
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {device.device_id}.forged"}):
        resp = client.post("/v1/push", content=batch, headers=headers)
        assert resp.status_code == 401 and resp.json()["error"] == "unauthorized"
    assert client.get("/v1/pull").status_code == 401
    assert counts(db) == before


def test_replayed_expired_and_wrong_unit_tokens_are_refused(api):
    client, db = api
    dev = FakeDevice()
    token, _ = create_token(db, dev.site, dev.unit)
    assert client.post("/v1/enroll", json=dev.enroll_body(token)).status_code == 200
    before = counts(db)
    again = FakeDevice()
    replay = client.post("/v1/enroll", json=again.enroll_body(token))
    assert replay.status_code == 401 and replay.json()["error"] == "token_invalid"
    expired, _ = create_token(db, dev.site, dev.unit, ttl_hours=-1)
    wrong_unit, _ = create_token(db, dev.site, "ward-9")
    after_tokens = counts(db)
    for tok in (expired, wrong_unit):
        resp = client.post("/v1/enroll", json=again.enroll_body(tok))
        assert resp.status_code == 401
    assert counts(db) == after_tokens
    assert counts(db)["devices"] == before["devices"] == 1
    assert client.post("/v1/enroll", content=b"{oops").status_code == 400


def test_pull_returns_other_devices_shared_events_after_the_cursor(api, device):
    client, db = api
    other = FakeDevice()
    other.enroll(client, db)
    elsewhere = FakeDevice(unit="ward-9")
    elsewhere.enroll(client, db)
    mine = [device.init_event(), device.task()]
    theirs = [other.init_event(), other.task(), other.task()]
    far = [elsewhere.init_event(), elsewhere.task()]
    for dev, evs in ((device, mine), (other, theirs), (elsewhere, far)):
        assert dev.push(client, evs).status_code == 200
    page = client.get("/v1/pull", params={"after": 0, "limit": 1}, headers=device.auth).json()
    assert [e["event_id"] for e in page["events"]] == [theirs[1]["event_id"]] and page["more"] is True
    rest = client.get("/v1/pull", params={"after": page["cursor"]}, headers=device.auth).json()
    assert [e["event_id"] for e in rest["events"]] == [theirs[2]["event_id"]] and rest["more"] is False
    assert rest["events"][0] == theirs[2]  # the body as the device made it


def test_a_nul_character_is_refused_and_long_ids_are_rejected(api, device):
    client, db = api
    before = counts(db)
    resp = device.push(client, [device.raw_event("task.note_added", {"text": "a\x00b"}, workflow="ed_triage",
                                                 task_id="t1")])
    assert resp.status_code == 422 and "NUL" in resp.json()["detail"]
    assert counts(db) == before
    device.seq, device.head, device.made = 0, "0" * 64, []  # start the chain again: nothing was held
    first = device.init_event()
    long_id = device.raw_event("task.note_added", {"text": "ok"}, workflow="ed_triage", task_id="t" * 65)
    huge_version = device.raw_event("task.note_added", {"text": "ok"}, workflow="ed_triage", task_id="t1",
                                    base_version=2 ** 60)
    resp = device.push(client, [first, long_id, huge_version])
    assert push_answers(resp) == [(1, "accepted", None), (2, "rejected", "invalid_fields"),
                             (3, "rejected", "invalid_fields")]


def test_enrollment_refuses_a_malformed_public_key(api):
    client, db = api
    dev = FakeDevice()
    token, _ = create_token(db, dev.site, dev.unit)
    before = counts(db)
    resp = client.post("/v1/enroll", json={**dev.enroll_body(token), "public_key": "A" * 44})
    assert resp.status_code == 422
    assert counts(db) == before


def test_an_event_id_used_twice_in_one_batch_is_quarantined_the_second_time(api, device):
    client, db = api
    first = device.init_event()
    again = device.raw_event("task.note_added", {"text": "ok"}, workflow="ed_triage", task_id="t1",
                             event_id=first["event_id"])
    after = device.task()
    resp = device.push(client, [first, again, after])
    assert push_answers(resp) == [(1, "accepted", None), (2, "quarantined", "id_reused"), (3, "accepted", None)]
    assert sorted(held_event_ids(db)) == sorted([first["event_id"], after["event_id"]])
    assert resp.json()["highest_gapless_seq"] == 3
