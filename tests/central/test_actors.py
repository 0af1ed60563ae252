"""The central takes an event only from an actor granted that role on its device (issue 8, finding 10)."""

from __future__ import annotations

from central_helpers import (
    capture,
    enroll_store,
    held_event_ids,
    push_answers,
    quarantined,
    record_past_the_store,
)
from fastapi.testclient import TestClient
from store_rows import rows

from app.services import sync as sync_service
from app.store import users
from app.store.store import Store
from sync.central.app import create_app
from sync.central.db import CentralDB
from sync.central.queries import list_quarantine
from sync.checkpoint import new_signing_key


def answers(resp) -> list[tuple[int, str, str | None]]:
    assert resp.status_code == 200, resp.text
    return push_answers(resp)


def test_an_actor_unknown_to_the_device_claiming_admin_is_quarantined(api, device):
    client, db = api
    evs = device.genesis()
    device.acting_as("mallory", "admin")
    evs.append(device.task())
    assert answers(device.push(client, evs))[-1] == (3, "quarantined", "actor_not_granted")
    assert [q["reason"] for q in list_quarantine(db)] == ["actor_not_granted"]
    assert "never granted" in list_quarantine(db)[0]["detail"]


def test_grants_in_the_same_batch_and_in_earlier_batches_count(api, device):
    client, db = api
    first = device.genesis() + [device.grant("nina", "nurse")]
    device.acting_as("nina", "nurse")
    first.append(device.task())  # granted earlier in the same batch
    assert [a[1] for a in answers(device.push(client, first))] == ["accepted"] * 4
    later = [device.task()]
    device.acting_as("ada", "admin")
    later.append(device.grant("sam", "super_user"))
    device.acting_as("sam", "super_user")
    later.append(device.task())
    assert [a[1] for a in answers(device.push(client, later))] == ["accepted"] * 3
    device.acting_as("nina", "admin")  # nina holds nurse, not admin
    assert answers(device.push(client, [device.task()])) == [(8, "quarantined", "actor_not_granted")]


def test_a_grant_signed_by_a_non_admin_or_a_wrong_key_is_quarantined_and_grants_nothing(api, device):
    client, db = api
    evs = device.genesis() + [device.grant("nina", "nurse")]
    evs.append(device.grant("eve", "admin", by="nina"))  # a nurse's own key does not grant
    evs.append(device.grant("mal", "admin", by="ada", key=new_signing_key()))  # not ada's key
    device.acting_as("eve", "admin")
    evs.append(device.task())
    assert answers(device.push(client, evs))[3:] == [(4, "quarantined", "grant_invalid"),
                                                      (5, "quarantined", "grant_invalid"),
                                                      (6, "quarantined", "actor_not_granted")]


def test_a_legacy_device_keeps_its_unsigned_grants_until_it_seals_them(api, device):
    client, db = api
    system = {"user_id": "system", "display_name": "Tideover workstation", "role": "admin"}
    evs = [device.event("device.initialized", {"public_key": device.public_key}, actor=system)]
    evs.append(device.event("user.added", {"user_id": "ada", "display_name": "Ada", "role": "admin"},
                            actor={"user_id": "ada", "display_name": "Ada", "role": "admin"}))
    device.acting_as("ada", "admin")
    evs.append(device.task())
    evs.append(device.event("device.grants_sealed", {"users": ["ada"]}, actor=system))
    evs.append(device.event("user.added", {"user_id": "eve", "display_name": "Eve", "role": "admin"}))
    assert [a[1:] for a in answers(device.push(client, evs))] == [("accepted", None)] * 4 + \
        [("quarantined", "grant_invalid")]


def test_a_second_server_reads_the_grants_another_one_took(api, device, db_url):
    client, db = api
    evs = device.genesis() + [device.grant("nina", "nurse")]
    assert len(answers(device.push(client, evs))) == 3
    other_db = CentralDB(db_url)
    try:
        with TestClient(create_app(other_db)) as other:
            device.acting_as("nina", "nurse")
            assert answers(device.push(other, [device.task()])) == [(4, "accepted", None)]
            device.acting_as("ada", "admin")
            assert answers(device.push(other, [device.grant("sam", "nurse")]))[0][1] == "accepted"
        device.acting_as("sam", "nurse")
        assert answers(device.push(client, [device.task()])) == [(6, "accepted", None)]  # first server's cache
    finally:
        other_db.dispose()


def test_a_real_workstation_syncs_its_signed_grants_and_a_forged_admin_is_quarantined(central, make_store,
                                                                                        tmp_path):
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    users.add_user(a, "nina", "Nina", "nurse", "nina knows a long passphrase")
    capture(a)  # the admin loads the census
    data_dir = a.data_dir
    a.close()
    nina = Store.open(data_dir, "nina", "nina knows a long passphrase")
    task_id = capture(nina)
    # With the data key, past the store: nina grants herself admin and acts as admin.
    forged = record_past_the_store(nina, "user.added", {"user_id": "nina2", "display_name": "N", "role": "admin"},
                                   nina.actor.model_dump())
    as_admin = record_past_the_store(nina, "access.view", {"what": "board"},
                                     {**nina.actor.model_dump(), "role": "admin"})
    summary = sync_service.sync(nina, sync_service.Link.from_store(nina))
    assert summary["results"]["quarantined"] == 2 and summary["refused"] is None
    assert {(h["event_id"], h["reason"]) for h in summary["held_back"]} == {
        (forged.event_id, "grant_invalid"), (as_admin.event_id, "actor_not_granted")}
    assert {q["reason"] for q in quarantined(db)} == {"grant_invalid", "actor_not_granted"}
    held = set(held_event_ids(db))
    assert forged.event_id not in held and as_admin.event_id not in held
    assert rows(nina, "SELECT count(*) AS n FROM tasks WHERE task_id = ?", [task_id])[0]["n"] == 1
    nina.close()


def test_a_store_made_before_user_keys_syncs_whole_after_its_upgrade(central, tmp_path):
    import shutil
    from pathlib import Path

    url, db = central
    data = tmp_path / "legacy"
    shutil.copytree(Path(__file__).parent.parent / "fixtures" / "store_before_grants", data)
    ada = Store.open(data, "ada", "legacy workstation passphrase")  # seals its grants, binds ada's key
    enroll_store(ada, url, db)
    users.add_user(ada, "omar", "Omar", "nurse", "omar has a long passphrase")  # signed with ada's new key
    ada.close()
    nina = Store.open(data, "nina", "legacy workstation passphrase")
    capture(nina)
    summary = sync_service.sync(nina, sync_service.Link.from_store(nina))
    assert summary["refused"] is None and summary["pending"] == 0
    assert summary["results"]["quarantined"] == summary["results"]["rejected"] == 0
    assert set(held_event_ids(db, nina.device_id)) == {r["event_id"] for r in rows(nina,
        "SELECT event_id FROM events WHERE device_id = ?", [nina.device_id])}
    # After the seal, an unsigned grant written past the store is quarantined at the central.
    forged = record_past_the_store(nina, "user.added", {"user_id": "eve", "display_name": "Eve", "role": "admin"},
                                   nina.actor.model_dump())
    summary = sync_service.sync(nina, sync_service.Link.from_store(nina))
    assert [(h["event_id"], h["reason"]) for h in summary["held_back"]] == [(forged.event_id, "grant_invalid")]
    nina.close()
