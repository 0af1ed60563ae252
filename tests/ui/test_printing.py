"""Printing to PDF: the board, a task and a blank downtime form, read back from the PDF; each print recorded."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from PySide6.QtCore import Qt

from .conftest import WAIT_MS, read_store, sign_in
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
    rows = read_store(data_dir, "SELECT body FROM events WHERE type = 'access.print' ORDER BY seq")
    return [json.loads(r["body"])["payload"] for r in rows]


def test_print_board_task_and_blank_form_to_pdf(qtbot, window, demo_dir, tmp_path):
    sign_in(qtbot, window)
    board_pdf = tmp_path / "board.pdf"
    print_to_pdf(qtbot, window, board_pdf)
    text = pdf_text(board_pdf)
    assert "Unit board" in text
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
