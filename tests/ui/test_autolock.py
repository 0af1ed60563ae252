"""Auto-lock: after the site's idle time the store is closed and the unlock screen is back."""

from __future__ import annotations

from .conftest import WAIT_MS, read_bodies, set_setting, sign_in


def test_idle_workstation_locks_itself(qtbot, make_window, demo_dir):
    set_setting(demo_dir, "auto_lock_seconds", 1)
    window = make_window(demo_dir)
    sign_in(qtbot, window)
    window.new_task()
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.unlock, timeout=WAIT_MS)
    assert window.unlock.message.text().startswith("Locked after under 1 min without activity")
    assert window.banner.mode.text() == "LOCKED"
    assert window.board.model.total == 0
    assert window.capture.picker.patient is None
    window.session.close_now()
    rows = read_bodies(demo_dir, "WHERE type = 'access.locked'")
    assert any(r["payload"]["why"] == "idle" for r in rows)


def test_a_lock_that_cannot_be_recorded_is_reported_not_dropped(qtbot, window, demo_dir):
    """The database refuses the access.locked event (as a full disk would): the screen still locks, the
    store still closes, and the person sees that the lock was not recorded."""
    from .conftest import wait_idle

    sign_in(qtbot, window)
    window.session.call(lambda store: store.db.execute(
        "CREATE TEMP TRIGGER refuse_lock BEFORE INSERT ON events WHEN NEW.type = 'access.locked' "
        "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END"))
    wait_idle(qtbot, window)
    window.session.lock("manual")
    qtbot.waitUntil(lambda: "lock could not be recorded" in window.unlock.message.text(), timeout=WAIT_MS)
    assert window.stack.currentWidget() is window.unlock and not window.session.is_unlocked
    assert window.unlock.message.property("role") == "error"
    wait_idle(qtbot, window)
    rows = read_bodies(demo_dir, "WHERE type = 'access.locked'")
    assert not any(r["payload"]["why"] == "manual" for r in rows)
