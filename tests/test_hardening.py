"""Faults found in review, each pinned by a test: clocks, concurrency, forged input, roles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from clihelp import ADMIN_PASSWORD, NURSE_PASSWORD, tideover
from store_rows import rows

from app.services import patients as pt
from app.services import tasks as ts
from app.services.demo import DEMO_PASSWORD, example_answers, seed_demo
from app.store import eventlog, users
from app.store.errors import NotPermitted, StoreError, TooSoon, WrongPassword
from app.store.keyring import BREAK_GLASS_ID, Keyring
from app.store.store import Store
from sync.canonical import GENESIS_HASH
from sync.clock import FakeClock
from sync.errors import ChainBroken, InvalidEvent
from sync.events import parse_event, recompute_hash, seal

PASSWORD = "violet harbour lantern mist"


def test_a_clock_that_steps_back_cannot_order_a_transition_before_the_capture(tmp_path, fake_clock):
    store, made = seed_demo(tmp_path / "s", clock=fake_clock)
    store.close()
    earlier = FakeClock(fake_clock.current - timedelta(minutes=30))  # NTP stepped the clock back
    store = Store.open(tmp_path / "s", "nina", DEMO_PASSWORD, clock=earlier)
    ts.transition_task(store, made["referral"], "in-progress")
    assert ts.get_task(store, made["referral"])["status"] == "in-progress"
    line = ts.timeline(store, made["referral"])
    assert line[0]["type"] == "task.created" and line[-1]["to_status"] == "in-progress"
    store.close()


def test_a_far_future_remote_clock_is_not_followed(fake_clock):
    assert fake_clock.observe("9999999999999.00000") is False
    assert fake_clock.tick() < "9999999999999"


def test_two_processes_writing_one_store_keep_one_chain(tmp_path):
    store, _ = seed_demo(tmp_path / "s")
    other = Store.open(tmp_path / "s", "nina", DEMO_PASSWORD)  # e.g. a CLI command beside the app
    ts.capture_task(other, "referral", "P100001", example_answers("referral"))
    other.close()
    got = ts.capture_task(store, "referral", "P100002", example_answers("referral"))
    assert ts.get_task(store, got.task_id)["status"] == "requested"
    assert store.verify() == eventlog.event_count(store)
    store.close()


def test_users_added_in_two_sessions_both_keep_their_keys(tmp_path):
    a, _ = Store.create(tmp_path / "s", site_id="site-a", unit_id="ward-7", admin_id="ada",
                        admin_name="Ada", password=PASSWORD)
    b = Store.open(tmp_path / "s", "ada", PASSWORD)
    users.add_user(a, "bob", "Bob", "nurse", "bob has a long passphrase")
    users.add_user(b, "carol", "Carol", "nurse", "carol has a long passphrase")
    a.close()
    b.close()
    assert Store.open(tmp_path / "s", "bob", "bob has a long passphrase").actor.user_id == "bob"
    assert Store.open(tmp_path / "s", "carol", "carol has a long passphrase").actor.user_id == "carol"


def test_parallel_wrong_passwords_cannot_skip_the_lockout(tmp_path):
    store, _ = Store.create(tmp_path / "s", site_id="site-a", unit_id="ward-7", admin_id="ada",
                            admin_name="Ada", password=PASSWORD, settings={"lockout_limit": 3})
    store.close()
    code = ("import sys; from app.store.store import Store\n"
            "try: Store.open(sys.argv[1], 'ada', 'wrong password number ' + sys.argv[2])\n"
            "except Exception as e: print(type(e).__name__)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "s"), str(i)], stdout=subprocess.PIPE,
                              text=True) for i in range(8)]
    kinds = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert set(kinds) <= {"WrongPassword", "AccountLocked", "TooSoon"}
    keyring = Keyring.load(tmp_path / "s" / "keyring.json")
    assert keyring.users["ada"].locked
    # Every password actually tried was counted and kept for the chain; the rest were refused unseen.
    assert keyring.users["ada"].failed_count == len(keyring.pending_failures) == 3
    assert not list((tmp_path / "s").glob("*.tmp"))


def test_break_glass_is_slowed_but_never_locked(tmp_path, fake_clock):
    store, code = Store.create(tmp_path / "s", site_id="site-a", unit_id="ward-7", admin_id="ada",
                               admin_name="Ada", password=PASSWORD, settings={"lockout_limit": 2},
                               clock=fake_clock)
    store.close()
    for _ in range(6):
        with pytest.raises((WrongPassword, TooSoon)):
            Store.open_break_glass(tmp_path / "s", "WRONG-CODE-0000", "testing the emergency path", "Nurse X",
                                   clock=fake_clock)
        fake_clock.advance(400)
    assert not Keyring.load(tmp_path / "s" / "keyring.json").users[BREAK_GLASS_ID].locked
    bg = Store.open_break_glass(tmp_path / "s", code, "patient in resus, all locked", "Nurse X", clock=fake_clock)
    bg.close()


def test_temporary_ids_of_two_workstations_never_collide(tmp_path):
    a, _ = seed_demo(tmp_path / "a")
    b, _ = seed_demo(tmp_path / "b")
    ida, _ = pt.register_temp_patient(a, "Zztest-Nobody", "Female A")
    idb, _ = pt.register_temp_patient(b, "Zztest-Other", "Female B")
    assert ida != idb and ida.startswith("DT-ward-7-") and idb.startswith("DT-ward-7-")


def test_pulled_events_with_gaps_still_verify_and_private_types_are_not_taken(tmp_path):
    a, made = seed_demo(tmp_path / "a")
    b, _ = Store.create(tmp_path / "b", site_id="demo-general", unit_id="ward-7", admin_id="ada",
                        admin_name="Ada", password=PASSWORD)
    bodies = [json.loads(x) for x in eventlog.own_bodies(a)]
    taken = eventlog.ingest_remote(b, bodies)
    assert taken == sum(1 for x in bodies if x["type"].split(".")[0] in ("task", "patient", "census"))
    assert not rows(b, "SELECT 1 FROM users WHERE user_id = 'nina'")  # roles never come from elsewhere
    assert b.verify() > taken
    assert ts.get_task(b, made["referral"])["workflow"] == "referral"


def test_a_remote_event_with_coerced_fields_is_refused(tmp_path):
    store, _ = seed_demo(tmp_path / "a")
    body = json.loads(next(eventlog.bodies_of_type(store, "task.created")))
    body["device_seq"] = str(body["device_seq"])
    body["hash"] = recompute_hash(body)
    with pytest.raises(InvalidEvent, match="canonical form"):
        parse_event(body)


def test_an_illegal_status_in_a_payload_is_refused():
    from tests_fields import task_fields

    with pytest.raises(InvalidEvent, match="to_status"):
        seal(task_fields(type="task.transitioned", payload={"from_status": "requested", "to_status": "banana"}),
             GENESIS_HASH)


def test_edited_indexed_columns_are_found(tmp_path):
    store, made = seed_demo(tmp_path / "a")
    store.db.conn.execute("DROP TRIGGER events_no_update")
    store.db.conn.execute("UPDATE events SET task_id = 'elsewhere' WHERE type = 'task.transitioned' AND "
                          "task_id = ?", [made["referral"]])
    with pytest.raises(ChainBroken, match="indexed columns"):
        store.verify()


def test_a_failed_init_leaves_nothing_behind(tmp_path):
    with pytest.raises(StoreError, match="site id"):
        Store.create(tmp_path / "s", site_id="st marys", unit_id="ward-7", admin_id="ada", admin_name="Ada",
                     password=PASSWORD)
    with pytest.raises(StoreError, match="admin user"):
        Store.create(tmp_path / "s", site_id="st-marys", unit_id="ward-7", admin_id="ada", admin_name="A" * 300,
                     password=PASSWORD)
    store, _ = Store.create(tmp_path / "s", site_id="st-marys", unit_id="ward-7", admin_id="ada",
                            admin_name="Ada", password=PASSWORD)
    store.close()


def test_cli_long_display_name_is_one_clear_line(tmp_path):
    data = tmp_path / "w"
    tideover(data, "init", "--site", "s1", "--unit", "u1", "--admin", "ada")
    proc = tideover(data, "user", "add", "bob", "--role", "nurse", "--display-name", "B" * 130,
                    env={"TIDEOVER_NEW_PASSWORD": NURSE_PASSWORD}, check=False)
    assert proc.returncode == 1 and "display_name" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_refused_audit_export_touches_no_file_and_a_granted_one_is_private(tmp_path):
    data = tmp_path / "w"
    tideover(data, "init", "--site", "s1", "--unit", "u1", "--admin", "ada")
    tideover(data, "user", "add", "nina", "--role", "nurse", env={"TIDEOVER_NEW_PASSWORD": NURSE_PASSWORD})
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    proc = tideover(data, "audit", "export", "--out", str(precious), user="nina", password=NURSE_PASSWORD,
                    check=False)
    assert proc.returncode == 3 and precious.read_text() == "keep me"
    out = tmp_path / "audit.jsonl"
    tideover(data, "audit", "export", "--out", str(out), password=ADMIN_PASSWORD)
    assert os.stat(out).st_mode & 0o077 == 0 and out.read_text().count("\n") > 3


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small filesystem; "
                    "tests/test_store.py covers full disks in process")
def test_cli_on_a_full_disk_prints_one_line_and_no_traceback(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        data = mnt / "w"
        tideover(data, "init", "--site", "s1", "--unit", "u1", "--admin", "ada")
        census = tmp_path / "census.json"
        census.write_text(json.dumps([{"patient_id": "P1", "family": "Zztest-A", "given": "B"}]))
        tideover(data, "census", "import", str(census))
        try:  # fill the disk
            with open(mnt / "filler", "wb") as fh:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
        except OSError:
            pass
        answers = tmp_path / "a.json"
        answers.write_text(json.dumps(example_answers("referral")))
        proc = tideover(data, "capture", "--workflow", "referral", "--patient", "P1", "--answers", str(answers),
                        check=False)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr and "nothing from this action was saved" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) <= 2  # the refusal, and perhaps the lock that failed
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_nurses_do_not_read_the_break_glass_review(nurse_store):
    from app.services.workstation import break_glass_review

    with pytest.raises(NotPermitted):
        break_glass_review(nurse_store)


def test_the_break_glass_entry_is_not_a_user(tmp_path):
    store, code = Store.create(tmp_path / "s", site_id="site-a", unit_id="ward-7", admin_id="ada",
                               admin_name="Ada", password=PASSWORD)
    store.close()
    with pytest.raises(NotPermitted, match="break-glass sign-in"):
        Store.open(tmp_path / "s", BREAK_GLASS_ID, code)


def test_checkpoints_are_append_only(demo_store):
    import sqlcipher3

    demo_store.checkpoint("sync")
    assert [r["name"] for r in rows(demo_store, "SELECT name FROM migrations ORDER BY number")][:2] == \
        ["event_log_and_projections", "checkpoints_append_only"]
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        demo_store.db.execute("DELETE FROM checkpoints")


def test_an_older_store_gets_new_migrations_when_it_is_opened(tmp_path):
    store, _ = seed_demo(tmp_path / "s")
    # Make it look like a store written before migration 2 shipped.
    store.db.conn.execute("DROP TRIGGER checkpoints_no_update")
    store.db.conn.execute("DROP TRIGGER checkpoints_no_delete")
    store.db.conn.execute("DELETE FROM migrations WHERE number = 2")
    store.close()
    store = Store.open(tmp_path / "s", "admin", DEMO_PASSWORD)
    names = {r["name"] for r in rows(store, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"checkpoints_no_update", "checkpoints_no_delete"} <= names
    assert store.verify() > 0
    store.close()
