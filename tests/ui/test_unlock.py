"""Unlocking: a wrong password is refused with a message and a counter; the right one opens the board."""

from __future__ import annotations

from PySide6.QtCore import Qt

from .conftest import WAIT_MS, read_bodies, sign_in


def test_wrong_password_shows_message_and_counter_then_right_password_opens_board(qtbot, window, demo_dir):
    screen = window.unlock
    assert window.stack.currentWidget() is screen
    assert window.banner.mode.text() == "LOCKED"
    qtbot.keyClicks(screen.user, "nina")
    qtbot.keyClicks(screen.password, "not the password at all")
    qtbot.mouseClick(screen.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.message.isVisible(), timeout=WAIT_MS)
    assert "wrong password" in screen.message.text().lower()
    assert "tries left" in screen.message.text()
    assert screen.attempts.text() == "Failed attempts on this screen: 1"
    assert screen.password.text() == ""
    assert window.stack.currentWidget() is screen

    sign_in(qtbot, window)
    assert window.banner.mode.text() == "DOWNTIME"
    # The mode shows at once; the rest of the banner follows when the store has answered.
    qtbot.waitUntil(lambda: "Nina Okafor" in window.banner.who.text(), timeout=WAIT_MS)
    assert window.board.count.text() == "Showing 4 of 5 tasks"
    assert not screen.attempts.isVisible()

    window.session.close_now()
    failed = read_bodies(demo_dir, "WHERE type = 'access.unlock_failed'")
    assert len(failed) == 1 and failed[0]["payload"]["user_id"] == "nina"


def test_empty_password_is_refused_without_trying(qtbot, window):
    screen = window.unlock
    qtbot.keyClicks(screen.user, "nina")
    qtbot.keyClick(screen.password, Qt.Key.Key_Return)
    assert screen.message.isVisible()
    assert "password" in screen.message.text()
    assert screen.attempts.isHidden()


def test_ctrl_l_locks_and_clears_the_board(qtbot, window, demo_dir):
    sign_in(qtbot, window)
    qtbot.keyClick(window.board.table, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.unlock, timeout=WAIT_MS)
    assert window.board.model.total == 0
    assert window.banner.mode.text() == "LOCKED"
    window.session.close_now()
    rows = read_bodies(demo_dir, "WHERE type = 'access.locked'")
    assert rows[-1]["payload"]["why"] == "manual"
