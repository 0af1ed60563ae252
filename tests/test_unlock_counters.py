"""Failed-unlock counters and their pending records survive restoring keyring.json (or the counter file) alone."""

from __future__ import annotations

import json
import os

import pytest

from app.store import eventlog, users
from app.store.database import KEYRING_NAME
from app.store.errors import AccountLocked, TooSoon, WrongPassword
from app.store.keyring import COUNTERS_NAME
from app.store.store import Store

PASSWORD = "violet harbour lantern mist"
WRONG = "not the password at all"


@pytest.fixture
def workstation(tmp_path, fake_clock):
    store, _ = Store.create(tmp_path / "s", site_id="st-marys", unit_id="ward-7", admin_id="ada",
                            admin_name="Ada Admin", password=PASSWORD, settings={"lockout_limit": 5},
                            clock=fake_clock)
    store.close()
    return tmp_path / "s"


def fail(data_dir, clock, times: int) -> None:
    for _ in range(times):
        clock.advance(600)  # past any slowdown
        with pytest.raises(WrongPassword):
            Store.open(data_dir, "ada", WRONG, clock=clock)


def failures_in_chain(data_dir, clock) -> list[dict]:
    store = Store.open(data_dir, "ada", PASSWORD, clock=clock)
    try:
        return [json.loads(b)["payload"] for b in eventlog.bodies_of_type(store, "access.unlock_failed")]
    finally:
        store.close()


@pytest.mark.parametrize("restored", [KEYRING_NAME, COUNTERS_NAME])
def test_restoring_one_file_keeps_the_slowdown_and_the_lockout(workstation, fake_clock, restored):
    old = (workstation / restored).read_bytes()
    fail(workstation, fake_clock, 4)
    (workstation / restored).write_bytes(old)  # an older copy: no failures in it
    with pytest.raises(TooSoon):  # the 4th failure's slowdown still holds
        Store.open(workstation, "ada", PASSWORD, clock=fake_clock)
    fail_locks = pytest.raises(AccountLocked, match="now locked after 5")
    fake_clock.advance(600)
    with fail_locks:
        Store.open(workstation, "ada", WRONG, clock=fake_clock)
    (workstation / restored).write_bytes(old)
    with pytest.raises(AccountLocked):  # even the right password: the lock is still there
        Store.open(workstation, "ada", PASSWORD, clock=fake_clock)


def test_a_deleted_counter_file_changes_nothing(workstation, fake_clock):
    fail(workstation, fake_clock, 4)
    (workstation / COUNTERS_NAME).unlink()
    with pytest.raises(TooSoon):
        Store.open(workstation, "ada", PASSWORD, clock=fake_clock)


def test_pending_failure_records_reach_the_chain_after_the_keyring_is_restored(workstation, fake_clock):
    old = (workstation / KEYRING_NAME).read_bytes()
    fail(workstation, fake_clock, 3)
    (workstation / KEYRING_NAME).write_bytes(old)
    fake_clock.advance(600)
    recorded = failures_in_chain(workstation, fake_clock)
    assert [(f["user_id"], f["failed_count"]) for f in recorded] == [("ada", 1), ("ada", 2), ("ada", 3)]


def test_a_restored_keyring_that_still_lists_recorded_failures_does_not_record_them_twice(workstation, fake_clock):
    fail(workstation, fake_clock, 2)
    with_pending = (workstation / KEYRING_NAME).read_bytes()
    assert len(failures_in_chain(workstation, fake_clock)) == 2  # recorded, and cleared from the files
    (workstation / KEYRING_NAME).write_bytes(with_pending)
    fake_clock.advance(600)
    assert len(failures_in_chain(workstation, fake_clock)) == 2


def test_the_counter_file_is_private_and_holds_no_password(workstation, fake_clock):
    fail(workstation, fake_clock, 1)
    path = workstation / COUNTERS_NAME
    assert os.stat(path).st_mode & 0o077 == 0
    assert WRONG not in path.read_text()


def test_a_damaged_counter_file_does_not_stop_sign_in_and_the_keyring_counts_still_hold(workstation, fake_clock):
    fail(workstation, fake_clock, 4)
    (workstation / COUNTERS_NAME).write_text("{ not json")
    with pytest.raises(TooSoon):
        Store.open(workstation, "ada", PASSWORD, clock=fake_clock)
    fake_clock.advance(600)
    assert len(failures_in_chain(workstation, fake_clock)) == 4


def test_an_admin_unlock_clears_both_places(workstation, fake_clock):
    admin = Store.open(workstation, "ada", PASSWORD, clock=fake_clock)
    users.add_user(admin, "ivan", "Ivan IT", "admin", "copper meadow seventy lanterns")
    admin.close()
    fail(workstation, fake_clock, 4)
    fake_clock.advance(600)
    with pytest.raises(AccountLocked):
        Store.open(workstation, "ada", WRONG, clock=fake_clock)
    ivan = Store.open(workstation, "ivan", "copper meadow seventy lanterns", clock=fake_clock)
    users.unlock_account(ivan, "ada")
    ivan.close()
    Store.open(workstation, "ada", PASSWORD, clock=fake_clock).close()
