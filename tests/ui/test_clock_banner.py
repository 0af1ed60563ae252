"""A workstation whose clock is off: the central measures it at each sync and the banner says so."""

from __future__ import annotations

from datetime import timedelta

from app.ui.banner import clock_warning
from sync.clock import Clock, utc_now

from .conftest import SYNC_WAIT_MS, sign_in


def running(seconds: float) -> Clock:
    return Clock(lambda: utc_now() + timedelta(seconds=seconds))


def test_a_workstation_3_minutes_fast_gets_a_clock_warning_on_the_banner(qtbot, make_window, enrolled_dir):
    window = make_window(enrolled_dir, sync_every_ms=120_000, clock=running(180))
    sign_in(qtbot, window)  # the sign-in is pushed, with this workstation's clock reading
    qtbot.waitUntil(lambda: window.banner.clock.isVisible(), timeout=SYNC_WAIT_MS)
    assert window.banner.clock.text() == "⚠ Clock 3 min fast"
    assert "ask IT to set the clock right" in window.banner.clock.toolTip()


def test_a_workstation_on_time_gets_no_clock_warning(qtbot, make_window, enrolled_dir):
    window = make_window(enrolled_dir, sync_every_ms=120_000)
    sign_in(qtbot, window)
    qtbot.waitUntil(lambda: window.banner.central.text().startswith("Central: reachable"), timeout=SYNC_WAIT_MS)
    qtbot.waitUntil(lambda: window._status is not None and window._status.get("clock_offset_s") is not None,
                    timeout=SYNC_WAIT_MS)
    assert not window.banner.clock.isVisible()


def test_the_warning_says_which_way_and_nothing_under_two_minutes():
    assert clock_warning({"clock_offset_s": -7190.0, "clock_off": True})[0] == "⚠ Clock 2 h slow"
    assert clock_warning({"clock_offset_s": 100.0, "clock_off": False}) is None
    assert clock_warning({}) is None
