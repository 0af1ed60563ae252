"""The print chooser (Ctrl+P): what to print (board, task, blank form) and where (PDF file or printer)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

import forms
from sync.clock import local_text

from .theme import button_row, named, set_role

MAX_BOARD_ROWS = 1000  # about 40 pages; a paper board longer than that helps nobody


class PrintDialog(QDialog):
    """Emits ``chosen(what, workflow, pdf_path)``: what is board / task / blank_form; pdf_path '' = printer."""

    chosen = Signal(str, str, str)

    def __init__(self, *, board_count: int, task_label: str | None, workflow: str | None, pdf_folder: Path,
                 now: datetime, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Print")
        self.setAccessibleName("Print")
        self.setMinimumWidth(640)
        box = QVBoxLayout(self)
        what = QGroupBox("What to print")
        wl = QVBoxLayout(what)
        capped = f", first {MAX_BOARD_ROWS} printed" if board_count > MAX_BOARD_ROWS else ""
        self.board = named(QRadioButton(f"Unit board as shown now ({board_count} tasks{capped})"),
                           "Print the unit board")
        self.task = named(QRadioButton(f"This task: {task_label}" if task_label else "This task (open a task first)"),
                          "Print this task")
        self.task.setEnabled(bool(task_label))
        self.blank = named(QRadioButton("Blank downtime paper form for:"), "Print a blank downtime form")
        self.blank_workflow = named(QComboBox(), "Workflow of the blank form")
        for w in forms.WORKFLOWS:
            self.blank_workflow.addItem(forms.WORKFLOW_TITLES[w], w)
        if workflow:
            self.blank_workflow.setCurrentIndex(self.blank_workflow.findData(workflow))
        self.what_group = QButtonGroup(self)
        for b in (self.board, self.task, self.blank):
            self.what_group.addButton(b)
        blank_row = QHBoxLayout()
        blank_row.addWidget(self.blank)
        blank_row.addWidget(self.blank_workflow, 1)
        wl.addWidget(self.board)
        wl.addWidget(self.task)
        wl.addLayout(blank_row)
        (self.task if task_label else self.board).setChecked(True)
        box.addWidget(what)

        where = QGroupBox("Where")
        hl = QVBoxLayout(where)
        self.to_pdf = named(QRadioButton("PDF file"), "Print to a PDF file")
        self.to_printer = named(QRadioButton("Printer…"), "Print to a printer")
        self.where_group = QButtonGroup(self)
        self.where_group.addButton(self.to_pdf)
        self.where_group.addButton(self.to_printer)
        self.to_printer.setChecked(True)
        pdf_row = QHBoxLayout()
        self.pdf_path = named(QLineEdit(), "PDF file name")
        stamp = local_text(now, "stamp")
        self.pdf_path.setText(str(pdf_folder / f"tideover-{stamp}.pdf"))
        self.browse = named(QPushButton("Choose file…"), "Choose the PDF file")
        pdf_row.addWidget(self.to_pdf)
        pdf_row.addWidget(self.pdf_path, 1)
        pdf_row.addWidget(self.browse)
        hl.addWidget(self.to_printer)
        hl.addLayout(pdf_row)
        box.addWidget(where)
        note = set_role(QLabel("Printouts carry patient data: collect them from the printer at once and "
                               "keep them with the patient's notes. Every print is recorded."), "hint")
        note.setWordWrap(True)
        box.addWidget(note)
        self.cancel = named(QPushButton("Cancel"), "Cancel printing")
        self.print_button = named(set_role(QPushButton("Print"), "primary"), "Print now")
        self.print_button.setDefault(True)
        button_row(box, self.cancel, self.print_button)
        self.cancel.clicked.connect(self.reject)
        self.print_button.clicked.connect(self._print)
        self.browse.clicked.connect(self._browse)
        self.pdf_path.textEdited.connect(lambda _t: self.to_pdf.setChecked(True))
        self.blank_workflow.currentIndexChanged.connect(lambda _i: self.blank.setChecked(True))
        self.print_button.setFocus()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the printout as PDF", self.pdf_path.text(), "PDF (*.pdf)")
        if path:
            self.pdf_path.setText(path)
            self.to_pdf.setChecked(True)

    def _print(self) -> None:
        what = "board" if self.board.isChecked() else "task" if self.task.isChecked() else "blank_form"
        path = self.pdf_path.text().strip() if self.to_pdf.isChecked() else ""
        if self.to_pdf.isChecked() and not path:
            self.pdf_path.setFocus()
            return
        if path and not path.lower().endswith(".pdf"):
            path += ".pdf"
        self.chosen.emit(what, self.blank_workflow.currentData(), path)
        self.accept()
