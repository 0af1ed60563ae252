"""The unit board's table model: every task once, filtered and sorted on precomputed keys.

Filtering and sorting run in plain Python over parallel lists built once per load, so a filter on
50,000 tasks costs a list comprehension, not 50,000 calls from C++ into Python. The proxy only
forwards sorting to the model; the view talks to the proxy like any Qt view.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from app.services.board import destination_text, is_overdue, patient_name, priority_rank, priority_text
from app.services.wording import age_text
from forms.vocabulary import PRIORITIES, WORKFLOW_TITLES, is_finished
from sync.clock import Clock
from sync.clock import parse_time as parse_event_time

COLUMNS = ("Priority", "Patient", "Workflow", "Status", "Destination", "Summary", "Waiting")
TASK_ID_ROLE = Qt.ItemDataRole.UserRole + 1
_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, TASK_ID_ROLE, Qt.ItemDataRole.BackgroundRole,
                    Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole, Qt.ItemDataRole.AccessibleTextRole})
MOST_URGENT = PRIORITIES[-1]  # its rows are red
STAT_BG, OVERDUE_BG, CLOSED_FG = QColor("#ffd0d0"), QColor("#ffe2a8"), QColor("#555555")


def parse_time(text: str | None) -> float:
    """Seconds since the epoch of an event time (sync.clock.parse_time: the one parser of event times)."""
    if not text:
        return 0.0
    return parse_event_time(text).timestamp()


@dataclass
class BoardFilter:
    workflow: str = ""
    status: str = ""  # "" any, "open" not final, or one status
    priority: str = ""
    destination: str = ""
    text: str = ""


class BoardModel(QAbstractTableModel):
    """Rows of ``list_tasks`` with the board's keys computed once; ``visible`` maps rows to tasks."""

    def __init__(self, parent=None, clock: Clock | None = None):
        super().__init__(parent)
        self._rows: list[dict] = []
        self._search: list[str] = []
        self._at: list[float] = []
        self._overdue: list[bool] = []
        self._cols: dict[str, list[str]] = {}
        self._open: list[bool] = []
        self._order: list[int] = []
        self._visible: list[int] = []
        self._filter = BoardFilter()
        self._sort = (-1, Qt.SortOrder.AscendingOrder)
        self._now = 0.0
        self.clock = clock or Clock()  # the app's one clock (the session's)

    # -- loading ---------------------------------------------------------------------------
    def load(self, rows: list[dict], now: float | None = None) -> None:
        self.beginResetModel()
        self._rows = rows
        intern = sys.intern
        self._cols = {key: [intern(r[key] or "") for r in rows]
                      for key in ("workflow", "status", "priority", "destination")}
        self._open = [not is_finished(r["status"]) for r in rows]
        self._search = [f"{r.get('family') or ''} {r.get('given') or ''} {r.get('given') or ''} "
                        f"{r.get('family') or ''} {r['patient_id']}".lower() for r in rows]
        self._at = [parse_time(r.get("occurred_at") or r.get("created_at")) for r in rows]
        self._order = list(range(len(rows)))
        self._now = now if now is not None else self.clock.now().timestamp()
        self._mark_overdue()
        if self._sort[0] >= 0:
            self._order.sort(key=self._sort_key(self._sort[0]),
                             reverse=self._sort[1] == Qt.SortOrder.DescendingOrder)
        self._visible = self._matching()
        self.endResetModel()

    def clear(self) -> None:
        """Forget every row (on lock: no patient data stays in memory for the next person)."""
        self.load([])

    def tick(self, now: float | None = None) -> None:
        """Re-evaluate waiting times and overdue marks against ``now``."""
        self._now = now if now is not None else self.clock.now().timestamp()
        self._mark_overdue()
        if self._visible:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._visible) - 1, len(COLUMNS) - 1))

    def _mark_overdue(self) -> None:
        now = self._now
        self._overdue = [is_overdue(r["priority"], r["status"], now - at) for r, at in zip(self._rows, self._at,
                                                                                        strict=True)]

    # -- filtering and sorting ---------------------------------------------------------------
    @property
    def filter(self) -> BoardFilter:
        return self._filter

    def set_filter(self, board_filter: BoardFilter) -> None:
        self.beginResetModel()
        self._filter = board_filter
        self._visible = self._matching()
        self.endResetModel()

    def _matching(self) -> list[int]:
        """Row numbers passing the filter, in sort order: one comprehension per active condition."""
        f, order = self._filter, self._order
        needle = f.text.strip().lower()
        if needle:
            search = self._search
            order = [i for i in order if needle in search[i]]
        for key in ("workflow", "priority", "destination"):
            want = getattr(f, key)
            if want:
                col = self._cols[key]
                order = [i for i in order if col[i] == want]
        if f.status == "open":
            is_open = self._open
            order = [i for i in order if is_open[i]]
        elif f.status:
            col = self._cols["status"]
            order = [i for i in order if col[i] == f.status]
        return order if order is not self._order else list(order)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order)
        self._order.sort(key=self._sort_key(column), reverse=order == Qt.SortOrder.DescendingOrder)
        self._visible = self._matching()
        self.layoutChanged.emit()

    def _sort_key(self, column: int):
        rows, at = self._rows, self._at
        name = COLUMNS[column]
        if name == "Priority":
            return lambda i: (priority_rank(rows[i]["priority"]), not self._open[i], at[i])
        if name == "Patient":
            return lambda i: self._search[i]
        if name == "Waiting":
            return lambda i: -at[i]
        field = {"Workflow": "workflow", "Status": "status", "Destination": "destination",
                 "Summary": "summary"}[name]
        return lambda i: (rows[i][field] or "", -at[i])

    # -- reading -----------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return len(self._rows)

    def task_at(self, row: int) -> dict:
        return self._rows[self._visible[row]]

    def visible_tasks(self) -> list[dict]:
        return [self._rows[i] for i in self._visible]

    def row_text(self, row: int) -> list[str]:
        return [self._display(self._visible[row], c) for c in range(len(COLUMNS))]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._visible)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if role not in _ROLES or not index.isValid():
            return None
        i = self._visible[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(i, index.column())
        row = self._rows[i]
        if role == TASK_ID_ROLE:
            return row["task_id"]
        if role == Qt.ItemDataRole.BackgroundRole:
            if not self._open[i]:
                return None
            if row["priority"] == MOST_URGENT:
                return QBrush(STAT_BG)
            if self._overdue[i]:
                return QBrush(OVERDUE_BG)
            return None
        if role == Qt.ItemDataRole.ForegroundRole and not self._open[i]:
            return QBrush(CLOSED_FG)
        if role == Qt.ItemDataRole.FontRole and (row["priority"] == MOST_URGENT or self._overdue[i]) \
                and self._open[i]:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self._display(i, index.column())
        return None

    def _display(self, i: int, column: int) -> str:
        row = self._rows[i]
        name = COLUMNS[column]
        if name == "Priority":
            return priority_text(row["priority"])
        if name == "Patient":
            return patient_name(row)
        if name == "Workflow":
            return WORKFLOW_TITLES.get(row["workflow"], row["workflow"])
        if name == "Status":
            return row["status"] + (" (review)" if row.get("needs_review") else "")
        if name == "Destination":
            return destination_text(row.get("destination"))
        if name == "Summary":
            return row.get("summary") or ""
        waited = age_text(self._now - self._at[i])
        if not self._open[i]:
            return f"closed ({waited} ago)"
        return f"⚠ {waited} OVERDUE" if self._overdue[i] else waited


class BoardProxy(QSortFilterProxyModel):
    """Passes sorting to the model's key-based sort instead of comparing cells one by one."""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        source = self.sourceModel()
        if isinstance(source, BoardModel):
            source.sort(column, order)
