"""Auto-lock: after the site's idle time the store is closed and the unlock screen is back."""

from __future__ import annotations

import json

from .conftest import WAIT_MS, read_store, set_setting, sign_in


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
    rows = read_store(demo_dir, "SELECT body FROM events WHERE type = 'access.locked'")
    assert any(json.loads(r["body"])["payload"]["why"] == "idle" for r in rows)
