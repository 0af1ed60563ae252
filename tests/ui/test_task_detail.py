"""Opening a task from the board, its timeline, and moving it on with the allowed buttons only."""

from __future__ import annotations

from PySide6.QtCore import Qt

from sync.taskstate import allowed_next

from .conftest import WAIT_MS, read_store, sign_in


def open_row(qtbot, window, row: int) -> None:
    table = window.board.table
    table.setFocus()
    table.selectRow(row)
    qtbot.keyClick(table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.detail, timeout=WAIT_MS)


def row_of(window, workflow_title: str) -> int:
    model = window.board.model
    return next(r for r in range(model.rowCount()) if model.row_text(r)[2] == workflow_title)


def test_timeline_and_transition(qtbot, window, demo_dir):
    sign_in(qtbot, window)
    open_row(qtbot, window, row_of(window, "Referral"))
    detail = window.detail
    task = detail.task
    assert detail.status.text() == "Status: accepted"
    assert set(detail.status_buttons) == set(allowed_next("accepted"))
    assert "completed" not in detail.status_buttons  # not allowed straight from accepted

    timeline = detail.timeline_model
    assert [row[2] for row in timeline.rows] == ["requested", "requested → accepted"]
    assert all(row[6] == task["correlation_id"] for row in timeline.rows)
    assert timeline.rows[0][3] == "Ada Admin (IT) (admin)"
    assert timeline.rows[1][5] == "referral office"

    qtbot.mouseClick(detail.status_buttons["in-progress"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: detail.status.text() == "Status: in-progress", timeout=WAIT_MS)
    assert timeline.rows[-1][2] == "accepted → in-progress"
    assert timeline.rows[-1][3] == "Nina Okafor (RN) (nurse)"
    assert set(detail.status_buttons) == set(allowed_next("in-progress"))

    detail.hand_to.setFocus()
    qtbot.keyClicks(detail.hand_to, "bed")
    assert detail.hand_to.currentData() == "bed_control"
    qtbot.mouseClick(detail.status_buttons["completed"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: detail.status.text() == "Status: completed", timeout=WAIT_MS)
    assert timeline.rows[-1][5] == "bed control"
    assert detail.moves_label.text() == "This task is completed; only a correction is possible:"
    assert list(detail.status_buttons) == ["entered-in-error"]

    window.session.close_now()
    rows = read_store(demo_dir, "SELECT status, destination FROM tasks WHERE task_id = ?", [task["task_id"]])
    assert rows == [{"status": "completed", "destination": "bed_control"}]


def test_entered_in_error_needs_a_reason(qtbot, window, demo_dir):
    sign_in(qtbot, window)
    open_row(qtbot, window, row_of(window, "ED triage"))
    detail = window.detail
    qtbot.mouseClick(detail.status_buttons["entered-in-error"], Qt.MouseButton.LeftButton)
    assert detail.message.isVisible() and "Reason" in detail.message.text()
    assert detail.reason.hasFocus()
    qtbot.keyClicks(detail.reason, "captured on the wrong patient")
    qtbot.mouseClick(detail.status_buttons["entered-in-error"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: detail.status.text() == "Status: entered-in-error", timeout=WAIT_MS)
    assert detail.timeline_model.rows[-1][7] == "captured on the wrong patient"


def test_escape_goes_back_to_the_board(qtbot, window):
    sign_in(qtbot, window)
    open_row(qtbot, window, 0)
    qtbot.keyClick(window.detail.back_button, Qt.Key.Key_Escape)
    assert window.stack.currentWidget() is window.board
