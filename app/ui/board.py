"""The unit board: every task on this workstation, filtered and sorted, opened with Enter."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.services.board import destination_text
from forms.vocabulary import PRIORITIES, PRIORITY_LABELS, STATUSES, WORKFLOW_TITLES, WORKFLOWS
from sync.clock import Clock

from .board_model import COLUMNS, TASK_ID_ROLE, BoardFilter, BoardModel, BoardProxy
from .theme import named, no_copy, set_role

COLUMN_WIDTHS = {"Priority": 110, "Patient": 230, "Workflow": 200, "Status": 130, "Destination": 140,
                 "Summary": 330, "Waiting": 170}


def _combo(name: str, choices: list[tuple[str, str]]) -> QComboBox:
    combo = named(QComboBox(), name)
    for label, value in choices:
        combo.addItem(label, value)
    combo.setMinimumWidth(150)
    return combo


class BoardScreen(QWidget):
    """Filter bar, table and actions. Emits ``open_task(task_id)`` and ``new_task()``."""

    open_task = Signal(str)
    new_task = Signal()
    print_requested = Signal()

    def __init__(self, parent: QWidget | None = None, clock: Clock | None = None):
        super().__init__(parent)
        self.setObjectName("boardScreen")
        box = QVBoxLayout(self)
        top = QHBoxLayout()
        title = set_role(QLabel("Unit board"), "title")
        self.count = named(QLabel(""), "Tasks shown")
        self.new_button = named(set_role(QPushButton("New task (Ctrl+N)"), "primary"), "New task")
        self.open_button = named(QPushButton("Open task (Enter)"), "Open the selected task")
        self.print_button = named(QPushButton("Print… (Ctrl+P)"), "Print")
        top.addWidget(title)
        top.addWidget(self.count)
        top.addStretch(1)
        for b in (self.open_button, self.print_button, self.new_button):
            top.addWidget(b)
        box.addLayout(top)

        filters = QHBoxLayout()
        self.search = named(QLineEdit(), "Search by patient")
        self.search.setPlaceholderText("Search patient name or ID (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.workflow = _combo("Filter by workflow", [("All workflows", "")] +
                               [(WORKFLOW_TITLES[w], w) for w in WORKFLOWS])
        self.status = _combo("Filter by status", [("Open tasks", "open"), ("All statuses", "")] +
                             [(s, s) for s in STATUSES])
        self.priority = _combo("Filter by priority", [("All priorities", "")] +
                               [(PRIORITY_LABELS[p], p) for p in reversed(PRIORITIES)])
        self.destination = _combo("Filter by destination", [("All destinations", "")])
        filters.addWidget(self.search, 2)
        for c in (self.workflow, self.status, self.priority, self.destination):
            filters.addWidget(c, 1)
        box.addLayout(filters)

        self.legend = set_role(QLabel("‼ STAT rows are red · ⚠ OVERDUE rows are amber · closed tasks are grey"),
                               "hint")
        box.addWidget(self.legend)
        self.model = BoardModel(self, clock)
        self.proxy = BoardProxy(self)
        self.proxy.setDynamicSortFilter(False)
        self.proxy.setSourceModel(self.model)
        self.table = no_copy(named(QTableView(), "Unit board tasks"))
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(40)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for i, name in enumerate(COLUMNS):
            self.table.setColumnWidth(i, COLUMN_WIDTHS[name])
        header.setSortIndicatorShown(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # STAT first, longest waiting first
        box.addWidget(self.table, 1)

        self.search.textChanged.connect(self.apply_filter)
        for c in (self.workflow, self.status, self.priority, self.destination):
            c.currentIndexChanged.connect(self.apply_filter)
        self.table.activated.connect(self._activated)
        self.table.doubleClicked.connect(self._activated)
        self.open_button.clicked.connect(self._open_selected)
        self.new_button.clicked.connect(self.new_task)
        self.print_button.clicked.connect(self.print_requested)
        self.apply_filter()
        self.setTabOrder(self.search, self.workflow)
        self.setTabOrder(self.workflow, self.status)
        self.setTabOrder(self.status, self.priority)
        self.setTabOrder(self.priority, self.destination)
        self.setTabOrder(self.destination, self.table)

    def load(self, rows: list[dict]) -> None:
        """Show these tasks (``list_tasks`` rows), keeping the filter and sort the person chose."""
        current = self.destination.currentData()
        destinations = sorted({r["destination"] for r in rows if r.get("destination")})
        self.destination.blockSignals(True)
        self.destination.clear()
        self.destination.addItem("All destinations", "")
        for d in destinations:
            self.destination.addItem(destination_text(d), d)
        self.destination.setCurrentIndex(max(0, self.destination.findData(current)))
        self.destination.blockSignals(False)
        self.model.load(rows)
        self.apply_filter()

    def clear(self) -> None:
        self.model.clear()
        self.search.clear()
        self._update_count()

    def apply_filter(self, *_args) -> None:
        self.model.set_filter(BoardFilter(
            workflow=self.workflow.currentData() or "", status=self.status.currentData() or "",
            priority=self.priority.currentData() or "", destination=self.destination.currentData() or "",
            text=self.search.text()))
        self._update_count()

    def _update_count(self) -> None:
        self.count.setText(f"Showing {self.model.rowCount()} of {self.model.total} tasks")

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def selected_task_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            index = self.table.currentIndex()
            return index.data(TASK_ID_ROLE) if index.isValid() else None
        return rows[0].data(TASK_ID_ROLE)

    def _activated(self, index: QModelIndex) -> None:
        task_id = index.data(TASK_ID_ROLE)
        if task_id:
            self.open_task.emit(task_id)

    def _open_selected(self) -> None:
        task_id = self.selected_task_id()
        if task_id:
            self.open_task.emit(task_id)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.table.hasFocus():
            self._open_selected()
            return
        super().keyPressEvent(event)

    def filter_description(self) -> str:
        parts = [c.currentText() for c in (self.workflow, self.status, self.priority, self.destination)]
        if self.search.text().strip():
            parts.append(f"patient contains '{self.search.text().strip()}'")
        return ", ".join(parts)
