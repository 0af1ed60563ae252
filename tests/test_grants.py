"""Role grants on the workstation: signed by an admin's own key, refused otherwise (issue 8, finding 7)."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from clihelp import NURSE_PASSWORD, as_json, tideover
from store_rows import rows

from app.services.demo import DEMO_PASSWORD
from app.store import eventlog, users
from app.store.database import transaction
from app.store.errors import NotPermitted
from app.store.store import SYSTEM_ACTOR, Store
from sync.checkpoint import new_signing_key, public_key_text
from sync.errors import NotGranted
from sync.events import new_id
from sync.grants import DEVICE_SIGNER, grant_text, sign

LEGACY = Path(__file__).parent / "fixtures" / "store_before_grants"
LEGACY_PASSWORD = "legacy workstation passphrase"


def _grant_payload(store: Store, user_id: str, role: str, *, signer: str, key, event_id: str) -> dict:
    payload = {"user_id": user_id, "display_name": user_id.title(), "role": role,
               "public_key": public_key_text(new_signing_key()), "granted_by": signer}
    payload["signature"] = sign(key, grant_text(store.device_id, event_id, payload))
    return payload


def _users(store: Store) -> dict[str, str]:
    return {r["user_id"]: r["role"] for r in rows(store, "SELECT user_id, role FROM users")}


def test_every_grant_of_a_new_store_is_signed_and_verifies(demo_store):
    book = users.grant_book(demo_store)
    assert not book.legacy and book.first_admin[0] == "admin"
    assert {u: r[0] for u, r in book.users.items()} == {"admin": "admin", "nina": "nurse",
                                                        "colm": "unit_coordinator", "sam": "super_user"}
    grants = [orjson.loads(b) for b in eventlog.bodies_of_type(demo_store, "user.added")]
    assert all(g["payload"]["granted_by"] == "admin" and g["payload"]["signature"] for g in grants)
    assert demo_store.verify() > 0


def test_a_nurse_cannot_make_herself_admin_through_the_store(nurse_store):
    head, users = nurse_store.head, _users(nurse_store)
    device_key = nurse_store._signing_key  # the device key is in the store: a nurse with the data key has it
    attempts = [
        {"user_id": "nina", "display_name": "Nina", "role": "admin"},  # unsigned, as before the fix
        _grant_payload(nurse_store, "eve", "admin", signer="nina", key=nurse_store._user_key, event_id=new_id()),
        _grant_payload(nurse_store, "eve", "admin", signer="admin", key=new_signing_key(), event_id=new_id()),
    ]
    for payload in attempts:
        with pytest.raises(NotPermitted, match="refused"):
            nurse_store.record("user.added", payload)
    eid = new_id()
    forged = _grant_payload(nurse_store, "eve", "admin", signer=DEVICE_SIGNER, key=device_key, event_id=eid)
    with pytest.raises(NotPermitted, match="recovery"):
        nurse_store.record("user.added", forged, actor=SYSTEM_ACTOR, event_id=eid)
    with pytest.raises(NotPermitted):
        nurse_store.record("user.role_changed", {**attempts[1], "user_id": "nina"})
    assert nurse_store.head == head and _users(nurse_store) == users


def test_a_role_change_is_signed_and_an_old_grant_cannot_be_replayed(demo_store):
    users.change_role(demo_store, "nina", "admin")
    users.change_role(demo_store, "nina", "nurse")
    grant = orjson.loads(list(eventlog.bodies_of_type(demo_store, "user.role_changed"))[0])
    assert grant["payload"]["role"] == "admin"
    with pytest.raises(NotPermitted, match="signature"):  # same grant, new event: the signature covers the id
        demo_store.record("user.role_changed", grant["payload"])
    assert users.grant_book(demo_store).role_of("nina") == "nurse"
    data_dir = demo_store.data_dir
    demo_store.close()
    nina = Store.open(data_dir, "nina", DEMO_PASSWORD)
    assert nina.actor.role == "nurse"
    nina.close()


def test_the_role_comes_from_the_signed_grants_not_the_users_table(nurse_store):
    nurse_store.db.execute("UPDATE users SET role = 'admin' WHERE user_id = 'nina'")  # with the data key
    data_dir = nurse_store.data_dir
    nurse_store.close()
    again = Store.open(data_dir, "nina", DEMO_PASSWORD)
    assert again.actor.role == "nurse"
    with pytest.raises(NotPermitted):
        users.add_user(again, "eve", "Eve", "admin", "a long enough passphrase for eve")
    again.close()


def _write_past_the_store(store: Store, type_: str, payload: dict, actor: dict, event_id: str | None = None):
    """What someone with the data key can do: append a well-chained event with SQL, then re-sign the head."""
    with transaction(store.db):
        head = eventlog.read_head(store.db, store.device_id)
        ev = eventlog._seal(store, type_, payload, actor, {"event_id": event_id} if event_id else {}, head)
        eventlog.append(store, ev)
        store._projector.flush()
    store._projector.forget()
    store._head = eventlog.read_head(store.db, store.device_id)
    store.checkpoint("forged")
    return ev


def test_audit_verify_names_a_grant_written_past_the_store(nurse_store):
    nina = nurse_store.actor.model_dump()
    _write_past_the_store(nurse_store, "user.added", {"user_id": "eve", "display_name": "Eve", "role": "admin"},
                          nina)
    with pytest.raises(NotGranted, match="eve|signed"):
        nurse_store.verify()


def test_audit_verify_names_an_event_whose_actor_claims_a_role_never_granted(nurse_store):
    as_admin = {**nurse_store.actor.model_dump(), "role": "admin"}
    ev = _write_past_the_store(nurse_store, "access.view", {"what": "board"}, as_admin)
    with pytest.raises(NotGranted) as err:
        nurse_store.verify()
    assert err.value.reason == "actor_not_granted" and err.value.event_id == ev.event_id


def test_cli_refuses_a_nurse_grant_and_audit_verify_exits_4_on_a_forged_one(tmp_path):
    data = tmp_path / "ward"
    tideover(data, "init", "--site", "st-synthetic", "--unit", "ward-7", "--admin", "ada")
    tideover(data, "user", "add", "nina", "--role", "nurse", env={"TIDEOVER_NEW_PASSWORD": NURSE_PASSWORD})
    refused = tideover(data, "user", "add", "eve", "--role", "admin", user="nina", password=NURSE_PASSWORD,
                       env={"TIDEOVER_NEW_PASSWORD": "eve has a long passphrase"}, check=False)
    assert refused.returncode == 3 and "admin" in refused.stderr
    tideover(data, "user", "role", "nina", "--role", "super_user")
    assert {u["user_id"]: u["role"] for u in as_json(tideover(data, "user", "list", "--json"))}["nina"] == \
        "super_user"
    assert "every chain intact" in tideover(data, "audit", "verify", user="nina", password=NURSE_PASSWORD).stdout
    store = Store.open(data, "nina", NURSE_PASSWORD)
    _write_past_the_store(store, "user.role_changed",
                          _grant_payload(store, "nina", "admin", signer="nina", key=store._user_key,
                                         event_id=new_id()) | {"display_name": "Nina"}, store.actor.model_dump())
    store.close()
    verify = tideover(data, "audit", "verify", user="nina", password=NURSE_PASSWORD, check=False)
    assert verify.returncode == 4 and "grant" in verify.stderr


def test_site_recovery_grants_the_new_admin_with_the_device_key(tmp_path):
    from app.store.keyring import make_recovery_keypair

    priv, pub = make_recovery_keypair(None)
    store, _ = Store.create(tmp_path / "s", site_id="s", unit_id="u", admin_id="ada", admin_name="Ada",
                            password=DEMO_PASSWORD, recovery_public_pem=pub)
    store.close()
    ivan = Store.recover(tmp_path / "s", priv, None, "ivan", "Ivan IT", "ivan has a long passphrase")
    grant = orjson.loads(list(eventlog.bodies_of_type(ivan, "user.added"))[-1])
    assert grant["payload"]["granted_by"] == DEVICE_SIGNER and grant["actor"]["user_id"] == "system"
    users.add_user(ivan, "nina", "Nina", "nurse", "nina has a long passphrase")  # ivan signs with his own key
    assert ivan.verify() > 0
    ivan.close()


def test_a_store_made_before_user_keys_is_sealed_and_its_users_get_keys(tmp_path):
    data = tmp_path / "legacy"
    shutil.copytree(LEGACY, data)
    ada = Store.open(data, "ada", LEGACY_PASSWORD)
    before = users.grant_book(ada)
    assert before.legacy and before.sealed and before.users["ada"][1] is not None
    assert before.users["nina"] == ["nurse", None]  # nina binds hers when she signs in
    users.add_user(ada, "omar", "Omar", "nurse", "omar has a long passphrase")
    assert ada.verify() > 0
    ada.close()
    nina = Store.open(data, "nina", LEGACY_PASSWORD)
    book = users.grant_book(nina)
    assert book.users["nina"][1] is not None and book.users["omar"][0] == "nurse"
    with pytest.raises(NotPermitted):  # sealed: an unsigned grant no longer counts
        nina.record("user.added", {"user_id": "eve", "display_name": "Eve", "role": "admin"})
    assert [r["type"] for r in rows(nina, "SELECT type FROM events WHERE type IN ('device.grants_sealed', "
                                          "'user.key_bound') ORDER BY seq")] == \
        ["device.grants_sealed", "user.key_bound", "user.key_bound"]
    assert nina.verify() > 0
    nina.close()
    again = Store.open(data, "nina", LEGACY_PASSWORD)  # nothing more to upgrade
    assert rows(again, "SELECT count(*) AS n FROM events WHERE type = 'user.key_bound'")[0]["n"] == 2
    again.close()
