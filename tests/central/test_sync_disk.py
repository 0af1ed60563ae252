"""A small disk: pulls keep a reserve for captures, the WAL is cut back, and messages say what was saved."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from central_helpers import PASSWORD, capture, enroll_store, held_event_ids
from store_rows import rows

from app.services import disk
from app.services import sync as sync_service
from app.services import tasks as ts
from app.store import outbox
from app.store.database import DB_NAME
from app.store.errors import DiskFull
from app.store.store import Store

GB = 1024 ** 3


def free(free_bytes: int, total: int = 64 * GB):
    def usage(_path):
        return disk.Usage(total, total - free_bytes, free_bytes)

    return usage


def notes_from_another_workstation(store, n: int) -> None:
    """n shared events (notes on one task), made in one transaction."""
    task_id = capture(store)
    store.record_many([("task.note_added", {"text": f"synthetic note {i}"}, None,
                        {"workflow": "ed_triage", "task_id": task_id}) for i in range(n)])


def own_ids(store) -> set[str]:
    return {r["event_id"] for r in rows(store, "SELECT event_id FROM events WHERE device_id = ?", [store.device_id])}


def test_reserve_is_the_smaller_of_the_site_mb_and_percent():
    assert disk.reserve_bytes({}, 64 * GB) == 500 * disk.MB
    assert disk.reserve_bytes({}, 4 * GB) == int(4 * GB * 0.05)  # 5 % of a small disk: ~205 MB
    assert disk.reserve_bytes({"pull_reserve_mb": 2000, "pull_reserve_percent": 10}, 64 * GB) == 2000 * disk.MB
    assert disk.reserve_bytes({"pull_reserve_mb": 0}, 64 * GB) == 0


def test_a_pull_under_the_reserve_stops_and_says_what_was_saved(central, make_store):
    url, db = central
    a, b = make_store("a"), make_store("b")
    enroll_store(a, url, db)
    enroll_store(b, url, db)
    notes_from_another_workstation(b, 20)
    sync_service.sync(b, sync_service.Link.from_store(b))
    task_a = capture(a, "referral", "P100002")

    summary = sync_service.sync(a, sync_service.Link.from_store(a), free_space=free(300 * disk.MB))

    # The push went through and says so; nothing was pulled and the cursor did not move.
    assert summary["pushed"] == len(own_ids(a)) and summary["pending"] == 0
    assert own_ids(a) <= set(held_event_ids(db))
    assert summary["pulled"] == 0 and summary["pull_stopped"] == "disk_reserve"
    assert summary["message"].startswith(f"pushed {summary['pushed']} events (the central holds them); pulled 0:")
    assert "300 MB free" in summary["message"] and "500 MB kept for captures" in summary["message"]
    assert int(a.meta().get("pull_cursor", "0")) == 0
    # Capture still works, and once there is room the next sync brings everything.
    ts.transition_task(a, task_a, "accepted")
    later = sync_service.sync(a, sync_service.Link.from_store(a), free_space=free(5 * GB))
    assert later["pull_stopped"] is None and "message" not in later
    assert later["pulled"] == 22  # b's census, task and 20 notes


def test_a_large_pull_stops_between_pages_keeps_the_first_and_cuts_the_wal(central, make_store):
    url, db = central
    a, b = make_store("a"), make_store("b")
    enroll_store(a, url, db)
    enroll_store(b, url, db)
    notes_from_another_workstation(b, 1500)  # two pull pages of 1,000
    sync_service.sync(b, sync_service.Link.from_store(b))
    checks = []

    def shrinking(path):
        checks.append(path)
        return free(5 * GB if len(checks) == 1 else 100 * disk.MB)(path)

    summary = sync_service.sync(a, sync_service.Link.from_store(a), free_space=shrinking)

    assert checks[0] == a.data_dir
    assert summary["pulled"] == 1000 and summary["pull_stopped"] == "disk_reserve"
    assert "pulled 1000: stopped with 100 MB free" in summary["message"]
    assert "what was pulled is kept" in summary["message"]
    assert rows(a, "SELECT count(*) AS n FROM events WHERE device_id = ?", [b.device_id])[0]["n"] == 1000
    # The pulled page went through the WAL; it is cut back afterwards (the sync's own notes are a few pages).
    assert os.path.getsize(a.data_dir / (DB_NAME + "-wal")) < 64 * 1024
    rest = sync_service.sync(a, sync_service.Link.from_store(a), free_space=free(5 * GB))
    assert rest["pulled"] == 1502 - 1000  # b's census, task and 1,500 notes, less the first page
    assert a.verify() > 0


def test_a_disk_that_fills_during_the_pull_keeps_the_push_and_says_so(central, make_store):
    url, db = central
    a, b = make_store("a"), make_store("b")
    enroll_store(a, url, db)
    enroll_store(b, url, db)
    notes_from_another_workstation(b, 300)
    sync_service.sync(b, sync_service.Link.from_store(b))
    sync_service.sync(a, sync_service.Link.from_store(a))  # a's own chain so far is at the central
    notes_from_another_workstation(b, 300)
    sync_service.sync(b, sync_service.Link.from_store(b))
    a.record("access.view", {"what": "board"})
    cursor = a.meta()["pull_cursor"]
    # SQLite reports a full disk and a database at its page limit with the same SQLITE_FULL error;
    # the few answer rows of the push fit in pages the file has, the pulled events do not.
    pages = a.db.execute("PRAGMA page_count").fetchone()[0]
    a.db.execute(f"PRAGMA max_page_count = {pages}")

    summary = sync_service.sync(a, sync_service.Link.from_store(a))

    assert summary["pushed"] == 1 and summary["results"]["accepted"] == 1 and summary["pending"] == 0
    assert summary["message"] == (
        "pushed 1 events (the central holds them); pulled 0: the disk is full, nothing of the pull was kept; "
        "the rest waits at the central. Free space (call IT); if captures fail too, switch to paper downtime forms.")
    assert a.meta()["pull_cursor"] == cursor
    a.db.execute("PRAGMA max_page_count = 1073741823")
    assert sync_service.sync(a, sync_service.Link.from_store(a))["pulled"] == 301  # the new task and its notes


def test_a_sync_checkpoint_the_full_disk_refuses_is_said_not_dropped(central, make_store):
    """After a pull the disk stopped, the sync's own signed checkpoint cannot be written either: the
    summary says so (it used to be dropped without a word)."""
    url, db = central
    a, b = make_store("a"), make_store("b")
    enroll_store(a, url, db)
    enroll_store(b, url, db)
    sync_service.sync(a, sync_service.Link.from_store(a))
    notes_from_another_workstation(b, 300)
    sync_service.sync(b, sync_service.Link.from_store(b))
    a.record("access.view", {"what": "board"})
    checkpoints = a.db.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
    # The database refuses the checkpoint as a full disk does; the pulled events do not fit either.
    a.db.execute("CREATE TEMP TRIGGER full_for_checkpoints BEFORE INSERT ON checkpoints "
                 "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END")
    pages = a.db.execute("PRAGMA page_count").fetchone()[0]
    a.db.execute(f"PRAGMA max_page_count = {pages}")

    summary = sync_service.sync(a, sync_service.Link.from_store(a))

    assert summary["pull_stopped"] and summary["checkpoint_written"] is False
    assert summary["message"].endswith("; this sync's signed checkpoint and time could not be written either "
                                       "(the next sync writes them)")
    a.db.execute("PRAGMA max_page_count = 1073741823")
    a.db.execute("DROP TRIGGER full_for_checkpoints")
    assert a.db.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == checkpoints


def test_a_disk_full_while_noting_push_answers_says_the_central_may_hold_them(central, make_store):
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    notes_from_another_workstation(a, 2000)  # 2,000 answers to note: new pages of sync_state
    pages = a.db.execute("PRAGMA page_count").fetchone()[0]
    a.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(DiskFull, match="the central may hold events pushed just now") as caught:
        sync_service.sync(a, sync_service.Link.from_store(a))
    assert "nothing was saved" not in str(caught.value)
    assert 0 < len(held_event_ids(db)) and set(held_event_ids(db)) <= own_ids(a)  # the first batches got there
    a.db.execute("PRAGMA max_page_count = 1073741823")
    again = sync_service.sync(a, sync_service.Link.from_store(a))
    assert again["pending"] == 0 and set(held_event_ids(db)) == own_ids(a)
    assert outbox.pending_count(a) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small filesystem needs root; the in-process "
                    "tests above cover the reserve and SQLITE_FULL paths")
def test_on_a_real_small_disk_the_pull_leaves_room_for_captures(central, tmp_path):
    url, db = central
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], check=True)
    a = None
    try:
        a, _ = Store.create(mnt / "a", site_id="st-marys", unit_id="ward-7", admin_id="admin",
                            admin_name="Ada Admin (IT)", password=PASSWORD)
        b, _ = Store.create(tmp_path / "b", site_id="st-marys", unit_id="ward-7", admin_id="admin",
                            admin_name="Ada Admin (IT)", password=PASSWORD)
        enroll_store(a, url, db)
        enroll_store(b, url, db)
        notes_from_another_workstation(b, 50)
        sync_service.sync(b, sync_service.Link.from_store(b))
        # The site keeps 10 % of this 24 MB disk (2.4 MB); something else left 2 MB free.
        a.settings["pull_reserve_percent"] = 10
        with open(mnt / "filler", "wb") as fh:
            fh.write(b"\0" * (mnt_free(mnt) - 2 * 1024 * 1024))
        summary = sync_service.sync(a, sync_service.Link.from_store(a))
        assert summary["pull_stopped"] == "disk_reserve", summary
        assert summary["pulled"] == 0 and "Captures still work" in summary["message"]
        capture(a, "referral", "P100002")  # capture still works after the pull stopped
    finally:
        if a is not None and a.db is not None:
            a.db.conn.close()
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def mnt_free(path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_cli_says_what_the_sync_saved_when_the_site_reserve_stops_the_pull(central, make_store, tmp_path,
                                                                                monkeypatch, capsys):
    from app.cli import main as tideover
    from sync.central.enroll import create_token

    url, db = central
    b = make_store("b")
    enroll_store(b, url, db)
    capture(b)
    sync_service.sync(b, sync_service.Link.from_store(b))
    monkeypatch.setenv("TIDEOVER_PASSWORD", PASSWORD)
    base = ["--data-dir", str(tmp_path / "cli"), "--user", "admin"]
    # The site keeps the whole disk: every pull must stop, every push still goes.
    assert tideover([*base, "init", "--site", "st-marys", "--unit", "ward-7", "--admin", "admin",
                     "--pull-reserve-mb", "100000000", "--pull-reserve-percent", "100"]) == 0
    token, _ = create_token(db, "st-marys", "ward-7")
    assert tideover([*base, "enroll", "--central", url, "--token", token]) == 0
    capsys.readouterr()
    assert tideover([*base, "sync"]) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["pushed"] > 0 and summary["pending"] == 0 and summary["pulled"] == 0
    assert err.strip() == summary["message"]
    assert err.startswith(f"pushed {summary['pushed']} events (the central holds them); pulled 0: stopped with")
    assert "Traceback" not in err
