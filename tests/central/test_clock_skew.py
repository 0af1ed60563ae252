"""Workstations with wrong clocks, on real encrypted stores and the real central over HTTP
(SQLite and PostgreSQL): order follows cause, no clock drags another, skew is measured and shown,
and times beyond a device's own clock are held for review, never lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from central_helpers import PASSWORD, capture, enroll_store

from app.services import sync as sync_service
from app.services import tasks as ts
from app.store.store import Store
from sync.clock import MAX_DRIFT_MS, Clock, parse_hlc, utc_now


def skewed(hours: float = 0.0, seconds: float = 0.0) -> Clock:
    """A real clock that runs ``hours`` + ``seconds`` ahead of this machine's (behind when negative)."""
    shift = timedelta(hours=hours, seconds=seconds)
    return Clock(lambda: utc_now() + shift)


@pytest.fixture
def workstation(tmp_path):
    """workstation(name, clock): a real SQLCipher store whose wall clock is ``clock``."""
    made = []

    def make(name: str, clock: Clock | None = None) -> Store:
        store, _ = Store.create(tmp_path / name, site_id="st-marys", unit_id="ward-7", admin_id="admin",
                                admin_name="Ada Admin (IT)", password=PASSWORD, clock=clock or Clock())
        made.append(store)
        return store

    yield make
    for store in made:
        if store.db is not None:
            store.close()


def sync(store: Store) -> dict:
    return sync_service.sync(store, sync_service.Link.from_store(store))


def board_row(store: Store, task_id: str) -> dict:
    return store.query("SELECT status, version, needs_review, last_event_id FROM tasks WHERE task_id = ?",
                       [task_id])[0]


def test_a_workstation_30_hours_fast_cannot_revert_anothers_board(central, workstation):
    url, db = central
    fast, right = workstation("fast", skewed(hours=30)), workstation("right")
    enroll_store(fast, url, db)
    enroll_store(right, url, db)
    task_id = capture(right, "referral")
    sync(right)
    sync(fast)
    ts.transition_task(fast, task_id, "accepted")  # stamped 30 h ahead
    sync(fast)
    sync(right)
    ts.transition_task(right, task_id, "in-progress")  # made after seeing "accepted", stamped now
    for store in (right, fast, right):
        sync(store)
    assert board_row(right, task_id) == board_row(fast, task_id)
    assert board_row(right, task_id)["status"] == "in-progress"
    assert board_row(right, task_id)["needs_review"] == 0
    ts.transition_task(right, task_id, "completed")  # the nurse can complete the task
    sync(right)
    sync(fast)
    assert board_row(fast, task_id) == board_row(right, task_id)
    assert board_row(fast, task_id)["status"] == "completed"
    moves = [e.get("to_status") for e in ts.timeline(right, task_id)]
    assert moves == ["requested", "accepted", "in-progress", "completed"]


def test_a_23_hours_fast_workstation_does_not_drag_anothers_clock(central, workstation, tmp_path):
    url, db = central
    fast, right = workstation("fast", skewed(hours=23)), workstation("right")
    enroll_store(fast, url, db)
    enroll_store(right, url, db)
    task_id = capture(fast, "referral")
    sync(fast)
    assert sync(right)["pulled"] >= 1
    far = fast.query("SELECT hlc FROM events WHERE task_id = ?", [task_id])[0]["hlc"]

    def ahead_of_own_wall_ms(store: Store) -> int:
        wall = int(store.clock.now().timestamp() * 1000)
        return parse_hlc(store.clock.tick())[0] - wall

    assert ahead_of_own_wall_ms(right) <= MAX_DRIFT_MS
    ts.transition_task(right, task_id, "accepted")
    mine = right.query("SELECT hlc FROM events WHERE task_id = ? AND device_id = ?",
                       [task_id, right.device_id])[0]["hlc"]
    assert mine < far  # its own clock, not the fast one's ...
    assert ts.get_task(right, task_id)["status"] == "accepted"  # ... and still in cause order
    right.close()
    again = Store.open(tmp_path / "right", "admin", PASSWORD, clock=Clock())  # a new process, same log
    assert ahead_of_own_wall_ms(again) <= MAX_DRIFT_MS
    again.close()
