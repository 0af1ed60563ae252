"""Printing to PDF: the board, a task and a blank downtime form, read back from the PDF; each print recorded."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from PySide6.QtCore import Qt

from .conftest import WAIT_MS, read_bodies, sign_in
from .people import click_box, pick
from .test_task_detail import open_row, row_of


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def print_to_pdf(qtbot, window, path: Path, *, blank: str | None = None) -> None:
    focus = window.stack.currentWidget()
    qtbot.keyClick(focus, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    dialog = window.prints.dialog
    qtbot.waitUntil(lambda: dialog.isVisible(), timeout=WAIT_MS)
    if blank:
        click_box(qtbot, dialog.blank)
        pick(qtbot, dialog.blank_workflow, blank)
    click_box(qtbot, dialog.to_pdf)
    dialog.pdf_path.selectAll()
    qtbot.keyClicks(dialog.pdf_path, str(path))
    qtbot.mouseClick(dialog.print_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: str(path) in window.notice.text() or "Could not" in window.notice.text(),
                    timeout=WAIT_MS)
    assert window.notice.text().startswith("Printed"), window.notice.text()
    assert str(path) in window.notice.text()


def print_events(data_dir: Path) -> list[dict]:
    return [body["payload"] for body in read_bodies(data_dir, "WHERE type = 'access.print'")]


def test_print_board_task_and_blank_form_to_pdf(qtbot, window, demo_dir, tmp_path):
    sign_in(qtbot, window)
    board_pdf = tmp_path / "board.pdf"
    print_to_pdf(qtbot, window, board_pdf)
    text = pdf_text(board_pdf)
    assert "Unit board" in text
    assert os.stat(board_pdf).st_mode & 0o777 == 0o600  # patient data: this account only
    for name in ("ZZTEST-ASHBY, Alice", "ZZTEST-BROOK, Hana", "ZZTEST-CARVER, Oskar", "ZZTEST-DALE, Viktor"):
        assert name in text
    assert "ZZTEST-ELLIS" not in text  # the completed specimen task is filtered out on screen
    assert "TRAINING" not in text

    open_row(qtbot, window, row_of(window, "Referral"))
    task_id = window.detail.task["task_id"]
    task_pdf = tmp_path / "task.pdf"
    print_to_pdf(qtbot, window, task_pdf)
    text = pdf_text(task_pdf)
    assert "Referral task" in text and "ZZTEST-DALE, Viktor" in text
    assert "Cardiology" in text and "Dr Testdoctor Epsilon" in text
    # The stored answers carry no labels: these come from the form version they were made with.
    assert "Specialty" in text and "Referring clinician" in text
    assert re.search(r"requested →\s+accepted", text)

    blank_pdf = tmp_path / "blank.pdf"
    print_to_pdf(qtbot, window, blank_pdf, blank="ED")
    text = pdf_text(blank_pdf)
    assert "DOWNTIME PAPER FORM: ED triage" in text
    assert "Chief complaint *" in text and "Heart rate" in text

    window.session.close_now()
    events = print_events(demo_dir)
    assert [(e["what"], e["count"], e["format"]) for e in events] == [
        ("board", 4, "pdf"), ("task", 1, "pdf"), ("blank_form", 1, "pdf")]
    assert events[1]["target_id"] == task_id


def test_a_pdf_goes_by_default_to_the_users_private_print_folder(qtbot, window, demo_dir):
    sign_in(qtbot, window)
    qtbot.keyClick(window.stack.currentWidget(), Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    dialog = window.prints.dialog
    qtbot.waitUntil(lambda: dialog.isVisible(), timeout=WAIT_MS)
    path = Path(dialog.pdf_path.text())
    folder = demo_dir / "prints" / window.session.identity["user_id"]
    assert path.parent == folder
    assert os.stat(folder).st_mode & 0o777 == 0o700 and os.stat(folder.parent).st_mode & 0o777 == 0o700
    click_box(qtbot, dialog.to_pdf)
    qtbot.mouseClick(dialog.print_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.notice.text().startswith(("Printed", "Could not")), timeout=WAIT_MS)
    assert str(path) in window.notice.text(), window.notice.text()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert "Unit board" in pdf_text(path)


def test_a_pdf_over_a_wider_file_is_narrowed_to_the_user(qtbot, window, tmp_path):
    sign_in(qtbot, window)
    shared = tmp_path / "shared.pdf"
    shared.write_bytes(b"old")
    os.chmod(shared, 0o644)
    print_to_pdf(qtbot, window, shared)
    assert os.stat(shared).st_mode & 0o777 == 0o600 and "Unit board" in pdf_text(shared)
