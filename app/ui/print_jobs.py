"""Carrying out a print: gather the data (on the store worker), lay it out, then record ``access.print``."""

from __future__ import annotations

from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QDialog, QWidget

import forms
from app.services.printing import print_folder, record_print, task_printout
from app.services.wording import error_text

from . import printing
from .print_dialog import MAX_BOARD_ROWS, PrintDialog
from .worker import StoreWorker


class PrintJobs:
    """Opens the print chooser and prints what was chosen; reports through ``notify(text, error)``."""

    def __init__(self, window: QWidget, session, board, detail, notify):
        self.window, self.session, self.board, self.detail, self.notify = window, session, board, detail, notify
        self.dialog: PrintDialog | None = None
        # Laying out a long printout takes seconds: it runs on its own thread (never the store's),
        # QPainter on a QPrinter and a QTextDocument made in that thread are safe there.
        self.renderer = StoreWorker(window)

    def open_dialog(self, *, prefer_task: bool) -> PrintDialog:
        task = self.detail.task if prefer_task else None
        label = None
        if task is not None:
            label = f"{forms.WORKFLOW_TITLES.get(task['workflow'])} for {self.detail.patient.text()}"
        folder = print_folder(self.session.data_dir, self.session.identity.get("user_id", "unknown"))
        self.dialog = PrintDialog(board_count=self.board.model.rowCount(), task_label=label,
                                  workflow=task["workflow"] if task else None, pdf_folder=folder,
                                  now=self.session.clock.now(), parent=self.window)
        self.dialog.chosen.connect(self.print)
        self.dialog.open()
        return self.dialog

    def _context(self) -> dict:
        return {**self.session.identity, "printed_at": self.session.clock.now()}

    def print(self, what: str, workflow: str, pdf_path: str) -> None:
        context = self._context()
        self.notify("Printing…", False)
        if what == "board":
            shown = self.board.model.rowCount()
            rows = [self.board.model.row_text(r) for r in range(min(shown, MAX_BOARD_ROWS))]
            filt = f"Filter: {self.board.filter_description()}"
            if shown > MAX_BOARD_ROWS:
                filt += (f" · only the first {MAX_BOARD_ROWS} of {shown} tasks are printed: narrow the board "
                         f"with the filters to print the rest")
            self._output(printing.board_html(rows, context, filt), "Unit board", what, len(rows), None, pdf_path,
                         landscape=True)
        elif what == "task" and self.detail.task is not None:
            task_id = self.detail.task["task_id"]
            self.session.call(task_printout, task_id, on_error=self._failed,
                              on_done=lambda task: self._output(printing.task_html(task, context),
                                                                "Task", what, 1, task_id, pdf_path,
                                                                landscape=True))
        else:
            self._output(printing.blank_form_html(workflow, context), f"Blank form {workflow}", "blank_form", 1,
                         None, pdf_path)

    def _output(self, document: str, title: str, what: str, count: int, target_id: str | None, pdf_path: str,
                *, landscape: bool = False) -> None:
        if pdf_path:
            try:
                printer = printing.pdf_printer(pdf_path)
            except OSError as err:
                self.notify(f"Could not print to {pdf_path}: {err.strerror or err}. Nothing was printed.", True)
                return
        else:
            printer = QPrinter(QPrinter.PrinterMode.HighResolution)
            chooser = QPrintDialog(printer, self.window)
            if chooser.exec() != QDialog.DialogCode.Accepted:
                self.notify("Printing cancelled; nothing was printed.", False)
                return
        footer = f"Tideover · {title} · {self.session.identity.get('unit_id', '')}"
        where = pdf_path or printer.printerName() or "the printer"
        self.notify(f"Printing {title.lower()}…", False)

        def printed(pages: int) -> None:
            self.session.call(record_print, what, count, target_id=target_id, fmt="pdf" if pdf_path else "paper",
                              on_error=self._failed,
                              on_done=lambda _e: self.notify(
                                  f"Printed {title.lower()} ({pages} page(s)) to {where}.", False))

        self._printer = printer  # kept alive until the render thread is done with it
        self.renderer.run(printing.render, printer, document, title=title, footer=footer,
                          training=self.session.training, landscape=landscape, on_done=printed,
                          on_error=lambda err: self.notify(f"Could not print: {err}", True))

    def _failed(self, err: Exception) -> None:
        self.notify(f"Could not print: {error_text(err)}", True)
