"""The encrypted workstation store: keys, unlock, append-only log, tampering, faults."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import sqlcipher3
from store_rows import rows

from app.services import tasks as ts
from app.services.demo import DEMO_PASSWORD, example_answers, seed_demo
from app.store import eventlog, integrity, users
from app.store.bodies import decode, encode
from app.store.database import DB_NAME, KEYRING_NAME
from app.store.errors import (
    AccountLocked,
    AlreadyInitialized,
    DiskFull,
    NotInitialized,
    NotPermitted,
    StoreError,
    TooSoon,
    WeakPassword,
    WrongPassword,
    WrongStore,
)
from app.store.keyring import make_recovery_keypair
from app.store.store import Store, unlock_delay
from sync.errors import ChainBroken

PASSWORD = "violet harbour lantern mist"


def new_store(path, clock=None, **settings):
    store, code = Store.create(path, site_id="site-a", unit_id="ward-7", admin_id="ada",
                               admin_name="Ada Admin", password=PASSWORD, settings=settings or None,
                               clock=clock)
    return store, code


def raw_connection(store_dir, data_key: bytes):
    conn = sqlcipher3.connect(str(store_dir / DB_NAME), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{data_key.hex()}'\"")
    return conn


def test_database_file_is_encrypted_and_key_is_only_stored_wrapped(tmp_path):
    store, _ = new_store(tmp_path / "s")
    data_key = store._data_key
    store.close()
    raw = (tmp_path / "s" / DB_NAME).read_bytes()
    assert not raw.startswith(b"SQLite format 3")
    assert b"Ada Admin" not in raw and b"task" not in raw
    keyring_text = (tmp_path / "s" / KEYRING_NAME).read_text()
    assert data_key.hex() not in keyring_text
    import base64

    assert base64.b64encode(data_key).decode() not in keyring_text
    plain = sqlcipher3.connect(str(tmp_path / "s" / DB_NAME))
    with pytest.raises(sqlcipher3.DatabaseError):
        plain.execute("SELECT count(*) FROM sqlite_master").fetchone()


def test_journal_settings_survive_power_loss(tmp_path):
    store, _ = new_store(tmp_path / "s")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert [r["name"] for r in rows(store, "SELECT name FROM migrations ORDER BY number")][0] == \
        "event_log_and_projections"
    store.close()


def test_weak_passwords_are_refused_by_nist_rules(tmp_path):
    with pytest.raises(WeakPassword, match="at least 15"):
        Store.create(tmp_path / "a", site_id="s", unit_id="u", admin_id="ada", admin_name="A",
                     password="short one")
    for bad in ("passwordpassword", "aaaaaaaaaaaaaaaaaa", "abcabcabcabcabcabc", "abcdefghijklmnop",
                "123456789987654321"):
        with pytest.raises(WeakPassword):
            Store.create(tmp_path / "b", site_id="s", unit_id="u", admin_id="ada", admin_name="A", password=bad)
    assert not (tmp_path / "b" / DB_NAME).exists()
    store, _ = Store.create(tmp_path / "c", site_id="s", unit_id="u", admin_id="ada", admin_name="A",
                            password="abc12 longer with no rules!", settings={"min_password_length": 8})
    store.close()


def test_init_twice_is_refused(tmp_path):
    store, _ = new_store(tmp_path / "s")
    store.close()
    with pytest.raises(AlreadyInitialized):
        new_store(tmp_path / "s")


def test_open_without_store_says_how_to_set_one_up(tmp_path):
    with pytest.raises(NotInitialized, match="tideover init"):
        Store.open(tmp_path / "nothing", "ada", PASSWORD)


def test_wrong_password_is_counted_slowed_locked_and_recorded(tmp_path, fake_clock):
    store, _ = new_store(tmp_path / "s", clock=fake_clock, lockout_limit=4)
    store.close()
    with pytest.raises(WrongPassword, match="3 tries left"):
        Store.open(tmp_path / "s", "ada", "not the password at all", clock=fake_clock)
    with pytest.raises(WrongPassword, match="2 tries left"):
        Store.open(tmp_path / "s", "ada", "still not the password", clock=fake_clock)
    with pytest.raises(WrongPassword, match="1 tries left"):
        Store.open(tmp_path / "s", "ada", "third wrong password", clock=fake_clock)
    # After three failures the next try must wait; even the right password is not tried yet.
    with pytest.raises(TooSoon) as slow:
        Store.open(tmp_path / "s", "ada", PASSWORD, clock=fake_clock)
    assert slow.value.retry_after == pytest.approx(unlock_delay(3))
    fake_clock.advance(unlock_delay(3) + 1)
    with pytest.raises(AccountLocked, match="now locked"):
        Store.open(tmp_path / "s", "ada", "fourth wrong password", clock=fake_clock)
    fake_clock.advance(3600)
    with pytest.raises(AccountLocked):
        Store.open(tmp_path / "s", "ada", PASSWORD, clock=fake_clock)


def test_failed_unlocks_enter_the_chain_at_the_next_sign_in(tmp_path, fake_clock):
    store, _ = new_store(tmp_path / "s", clock=fake_clock)
    store.close()
    with pytest.raises(WrongPassword):
        Store.open(tmp_path / "s", "ada", "not the password at all", clock=fake_clock)
    # A password typed into the user field must not be kept anywhere in the clear.
    with pytest.raises(WrongPassword):
        Store.open(tmp_path / "s", "my secret passphrase typed here", "x" * 20, clock=fake_clock)
    assert "my secret passphrase" not in (tmp_path / "s" / KEYRING_NAME).read_text()
    store = Store.open(tmp_path / "s", "ada", PASSWORD, clock=fake_clock)
    failed = [json.loads(b) for b in eventlog.bodies_of_type(store, "access.unlock_failed")]
    assert [f["payload"]["user_id"] for f in failed] == ["ada", "(unknown user)"]
    assert store.verify() > 0
    # A success resets the counter.
    assert store.keyring.users["ada"].failed_count == 0
    store.close()


def test_admin_unlocks_a_locked_account(tmp_path):
    store, _ = new_store(tmp_path / "s", lockout_limit=1)
    users.add_user(store, "nina", "Nina Nurse", "nurse", "quiet meadow under rain")
    store.close()
    with pytest.raises(AccountLocked):
        Store.open(tmp_path / "s", "nina", "wrong password entirely")
    admin = Store.open(tmp_path / "s", "ada", PASSWORD)
    users.unlock_account(admin, "nina")
    admin.close()
    nina = Store.open(tmp_path / "s", "nina", "quiet meadow under rain")
    assert nina.actor.role == "nurse"
    with pytest.raises(NotPermitted):
        users.add_user(nina, "x", "X", "nurse", "another long passphrase")
    nina.close()


def test_break_glass_needs_reason_and_is_flagged(tmp_path):
    store, code = new_store(tmp_path / "s")
    store.close()
    with pytest.raises(NotPermitted, match="reason"):
        Store.open_break_glass(tmp_path / "s", code, "", "Nurse On Nights")
    with pytest.raises(WrongPassword):
        Store.open_break_glass(tmp_path / "s", "AAAAAA-BBBBBB", "all accounts locked out", "Nurse On Nights")
    bg = Store.open_break_glass(tmp_path / "s", code, "all accounts locked during outage", "Nurse On Nights")
    from app.services.workstation import break_glass_review

    with pytest.raises(NotPermitted):
        break_glass_review(bg)  # the review is for a super-user or admin, not the break-glass user
    bg.close()
    admin = Store.open(tmp_path / "s", "ada", PASSWORD)
    review = break_glass_review(admin)
    sign_ins = [r for r in review if r["type"] == "access.sign_in"]
    assert sign_ins[0]["reason"] == "all accounts locked during outage"
    assert "Nurse On Nights" in sign_ins[0]["actor"]
    admin.close()


def test_recovery_key_opens_a_workstation_whose_users_are_gone(tmp_path):
    priv, pub = make_recovery_keypair(b"it safe phrase")
    store, _ = Store.create(tmp_path / "s", site_id="site-a", unit_id="ward-7", admin_id="ada",
                            admin_name="Ada", password=PASSWORD, recovery_public_pem=pub)
    store.close()
    other_priv, _ = make_recovery_keypair(None)
    with pytest.raises(WrongPassword):
        Store.recover(tmp_path / "s", other_priv, None, "ivan", "Ivan IT", "new admin long passphrase")
    rec = Store.recover(tmp_path / "s", priv, b"it safe phrase", "ivan", "Ivan IT", "new admin long passphrase")
    rec.close()
    assert Store.open(tmp_path / "s", "ivan", "new admin long passphrase").actor.role == "admin"


def test_events_are_append_only(demo_store):
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        demo_store.db.execute("UPDATE events SET body = '{}' WHERE seq = 1")
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        demo_store.db.execute("DELETE FROM events WHERE seq = 1")


def test_database_of_another_site_is_refused(tmp_path):
    a, _ = new_store(tmp_path / "a")
    a.close()
    b, _ = Store.create(tmp_path / "b", site_id="site-b", unit_id="ward-1", admin_id="ada",
                        admin_name="Ada", password=PASSWORD)
    b.close()
    shutil.copy(tmp_path / "b" / DB_NAME, tmp_path / "a" / DB_NAME)
    with pytest.raises(WrongStore, match="another site"):
        Store.open(tmp_path / "a", "ada", PASSWORD)


def test_truncated_database_is_refused_clearly(tmp_path):
    store, _ = new_store(tmp_path / "s")
    store.close()
    path = tmp_path / "s" / DB_NAME
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    for side in ("-wal", "-shm"):
        (tmp_path / "s" / (DB_NAME + side)).unlink(missing_ok=True)
    with pytest.raises(WrongStore):
        Store.open(tmp_path / "s", "ada", PASSWORD).verify()


def test_damaged_keyring_is_refused_clearly(tmp_path):
    store, _ = new_store(tmp_path / "s")
    store.close()
    (tmp_path / "s" / KEYRING_NAME).write_text("{ half a file")
    with pytest.raises(WrongStore, match="keyring"):
        Store.open(tmp_path / "s", "ada", PASSWORD)


def test_editing_an_event_behind_the_triggers_is_found_by_verify(demo_store):
    conn, seq = demo_store.db.conn, 7
    conn.execute("DROP TRIGGER events_no_update")
    body = json.loads(decode(*conn.execute("SELECT body, body_codec FROM events WHERE seq = ?", [seq]).fetchone()))
    body["occurred_at"] = "2026-01-01T00:00:00.000Z"
    # Written back the way the store writes bodies (compressed): only the hash check can find it.
    conn.execute("UPDATE events SET body = ?, body_codec = ? WHERE seq = ?", [*encode(json.dumps(body).encode()), seq])
    with pytest.raises(ChainBroken) as err:
        demo_store.verify()
    assert err.value.event_id == body["event_id"]


def test_deleting_an_event_is_found_by_verify(demo_store):
    conn = demo_store.db.conn
    conn.execute("DROP TRIGGER events_no_delete")
    gone = conn.execute("SELECT event_id FROM events WHERE seq = 5").fetchone()[0]
    conn.execute("DELETE FROM events WHERE seq = 5")
    with pytest.raises(ChainBroken, match="missing"):
        demo_store.verify()
    assert gone


def test_removing_the_newest_events_is_found_by_the_signed_checkpoint(demo_store):
    demo_store.checkpoint("sync")
    conn = demo_store.db.conn
    conn.execute("DROP TRIGGER events_no_delete")
    last = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
    conn.execute("DELETE FROM events WHERE seq = ?", [last])
    with pytest.raises(ChainBroken, match="checkpoint"):
        demo_store.verify()


def test_flipping_a_byte_in_the_file_is_detected(tmp_path):
    store, made = seed_demo(tmp_path / "s")
    store.close()
    path = tmp_path / "s" / DB_NAME
    data = bytearray(path.read_bytes())
    # Flip one byte in every page after the first: SQLCipher's per-page HMAC must notice.
    for offset in range(4096 + 100, len(data), 4096):
        data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(WrongStore):
        s = Store.open(tmp_path / "s", "admin", DEMO_PASSWORD)
        s.verify()


def test_a_full_disk_fails_the_capture_cleanly_and_loses_nothing(nurse_store):
    before = eventlog.event_count(nurse_store)
    head = nurse_store.head
    pages = nurse_store.db.execute("PRAGMA page_count").fetchone()[0]
    # SQLite reports a full disk and a database at its page limit with the same SQLITE_FULL error.
    nurse_store.db.execute(f"PRAGMA max_page_count = {pages}")
    big = example_answers("referral")
    big["reason"] = "Synthetic reason " * 200
    with pytest.raises(DiskFull, match="disk is full"):
        for _ in range(50):
            ts.capture_task(nurse_store, "referral", "P100001", big)
    nurse_store.db.execute("PRAGMA max_page_count = 1073741823")
    after = eventlog.event_count(nurse_store)
    assert nurse_store.verify() == after
    assert nurse_store.head.device_seq == head.device_seq + (after - before)
    captured = ts.capture_task(nurse_store, "referral", "P100001", example_answers("referral"))
    assert ts.get_task(nurse_store, captured.task_id)["status"] == "requested"


def test_rebuild_gives_the_same_projections(demo_store):
    ts.add_note(demo_store, demo_store.made["referral"], "called the cardiology registrar")
    before, after, count = integrity.rebuild_projections(demo_store)
    assert before == after
    assert count == eventlog.event_count(demo_store)
    demo_store.db.execute("UPDATE tasks SET status = 'completed'")
    assert integrity.projection_digest(demo_store) != before
    _b, repaired, _n = integrity.rebuild_projections(demo_store)
    assert repaired == before


def test_record_many_is_all_or_nothing(nurse_store):
    head = nurse_store.head
    good = ("access.view", {"what": "board"}, None, {})
    bad = ("task.created", {"patient_id": "P1"}, None, {"workflow": "ed_triage", "task_id": "t"})
    with pytest.raises(Exception, match="answers"):
        nurse_store.record_many([good, bad])
    assert nurse_store.head == head
    assert nurse_store.verify() == eventlog.event_count(nurse_store)


def test_keyring_and_store_files_are_private(tmp_path):
    store, _ = new_store(tmp_path / "s")
    store.close()
    for name in (DB_NAME, KEYRING_NAME):
        mode = os.stat(tmp_path / "s" / name).st_mode & 0o777
        assert mode & 0o077 == 0, f"{name} is readable by others: {oct(mode)}"


def test_store_error_kinds():
    assert StoreError("x").kind == "store"
    assert DiskFull("x").kind == "disk_full"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small filesystem needs root; "
                    "test_a_full_disk_fails_the_capture_cleanly_and_loses_nothing covers the same path")
def test_a_really_full_filesystem_fails_cleanly(tmp_path):
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    try:
        store, _ = seed_demo(mnt / "s")
        returned = []
        with pytest.raises(DiskFull, match="nothing from this action was saved"):
            for _ in range(5000):
                returned.append(ts.capture_task(store, "referral", "P100001", example_answers("referral")).task_id)
        assert len(returned) > 10
        held = {r["task_id"] for r in rows(store, "SELECT task_id FROM tasks")}
        assert set(returned) <= held
        assert store.verify() == eventlog.event_count(store)
        store.db.conn.close()
        store.db = None
        # IT frees space (here: the filesystem grows); the store reopens with every capture in it.
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        reopened = Store.open(mnt / "s", "admin", DEMO_PASSWORD)
        assert set(returned) <= {r["task_id"] for r in rows(reopened, "SELECT task_id FROM tasks")}
        more = ts.capture_task(reopened, "referral", "P100001", example_answers("referral"))
        assert ts.get_task(reopened, more.task_id)["status"] == "requested"
        reopened.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)

