"""Patient data stays off the clipboard: Ctrl+C on the board, the timeline and the answers copies nothing."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from .conftest import sign_in
from .test_task_detail import open_row

SENTINEL = "clipboard before the test"


def press_copy(qtbot, widget) -> None:
    widget.setFocus()
    qtbot.keyClick(widget, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)


def test_copy_keys_do_not_put_patient_data_on_the_clipboard(qtbot, window):
    clipboard = QApplication.clipboard()
    clipboard.setText(SENTINEL)
    sign_in(qtbot, window)
    board = window.board.table
    board.selectRow(0)
    press_copy(qtbot, board)
    assert clipboard.text() == SENTINEL
    open_row(qtbot, window, 0)
    window.detail.timeline.selectRow(0)
    press_copy(qtbot, window.detail.timeline)
    window.detail.answers.selectAll()
    press_copy(qtbot, window.detail.answers)
    assert clipboard.text() == SENTINEL


def test_a_plain_table_would_copy_without_the_guard(qtbot, window):
    """The check above can fail: an unguarded QTableView does copy the selected cell."""
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QTableView

    clipboard = QApplication.clipboard()
    clipboard.setText(SENTINEL)
    model = QStandardItemModel(1, 1)
    model.setItem(0, 0, QStandardItem("ZZTEST-PLAIN"))
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.show()
    view.selectRow(0)
    view.setCurrentIndex(model.index(0, 0))
    press_copy(qtbot, view)
    assert clipboard.text() == "ZZTEST-PLAIN"
