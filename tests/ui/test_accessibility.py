"""Every control a person can reach has an accessible name, and buttons are large targets."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QWidget,
)

import forms

from .conftest import WAIT_MS, sign_in
from .people import choose_workflow
from .test_task_detail import open_row

CONTROLS = (QAbstractButton, QLineEdit, QComboBox, QAbstractItemView, QPlainTextEdit, QTextEdit)


def unnamed_controls(root: QWidget) -> list[str]:
    missing = []
    for w in root.findChildren(QWidget):
        if isinstance(w, CONTROLS) and w.isVisible() and w.focusPolicy() != Qt.FocusPolicy.NoFocus:
            if isinstance(w, QLineEdit) and isinstance(w.parent(), QComboBox):
                continue  # an editable combo's line edit is named by its combo
            if not w.accessibleName().strip():
                missing.append(f"{type(w).__name__} '{getattr(w, 'text', lambda: '')()}'")
    return missing


def small_buttons(root: QWidget) -> list[str]:
    return [b.text() for b in root.findChildren(QPushButton) if b.isVisible() and b.height() < 40]


def check(root: QWidget) -> None:
    assert unnamed_controls(root) == []
    assert small_buttons(root) == []


def test_every_screen_names_its_controls(qtbot, window):
    check(window)  # unlock screen
    qtbot.mouseClick(window.unlock.break_glass_button, Qt.MouseButton.LeftButton)
    check(window.unlock.break_glass_dialog)
    window.unlock.break_glass_dialog.reject()
    sign_in(qtbot, window)
    check(window)  # board
    window.new_task()
    for workflow in forms.WORKFLOWS:
        choose_workflow(qtbot, window, forms.WORKFLOW_TITLES[workflow])
        qtbot.wait(10)
        check(window)
    qtbot.mouseClick(window.capture.picker.register_button, Qt.MouseButton.LeftButton)
    dialog = window.capture.picker.register_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT_MS)
    check(dialog)
    dialog.reject()
    window.show_board()
    open_row(qtbot, window, 0)
    check(window)  # task detail
    window.print_current()
    check(window.prints.dialog)
    window.prints.dialog.reject()


def test_break_glass_refuses_without_a_reason(qtbot, window):
    qtbot.mouseClick(window.unlock.break_glass_button, Qt.MouseButton.LeftButton)
    dialog = window.unlock.break_glass_dialog
    qtbot.keyClicks(dialog.code, "ABC123")
    qtbot.keyClicks(dialog.name, "Nurse Testperson Kappa")
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert "reason of at least 10 characters" in dialog.message.text()


def test_wrong_break_glass_code_is_refused_on_the_unlock_screen(qtbot, window):
    qtbot.mouseClick(window.unlock.break_glass_button, Qt.MouseButton.LeftButton)
    dialog = window.unlock.break_glass_dialog
    qtbot.keyClicks(dialog.code, "000000-000000")
    qtbot.keyClicks(dialog.name, "Nurse Testperson Kappa")
    dialog.reason.setFocus()
    qtbot.keyClicks(dialog.reason, "EHR and all accounts down, patient arriving")
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.unlock.message.isVisible(), timeout=WAIT_MS)
    assert "wrong password" in window.unlock.message.text().lower()
    assert window.stack.currentWidget() is window.unlock
