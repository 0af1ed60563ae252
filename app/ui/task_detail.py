"""One task: who it is for, the answers, the timeline of every transition, and the allowed next moves."""

from __future__ import annotations

import html

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

import forms
from app.services import tasks as ts
from app.services.board import destination_text, hand_over_choices, patient_name, priority_text
from app.services.printing import response_lines
from app.services.wording import error_text
from forms.vocabulary import STATUS_ACTIONS, is_finished, needs_reason
from sync.clock import local_text, parse_time
from sync.taskstate import allowed_next

from .theme import hidden_message, named, no_copy, set_role

TIMELINE_COLUMNS = ("Time", "Event", "Status", "Actor", "Source", "Destination", "Correlation id", "Detail")
EVENT_TEXT = {"task.created": "captured", "task.transitioned": "status changed", "task.note_added": "note",
              "task.answers_updated": "answers amended"}


def local_time(text: str | None) -> str:
    if not text:
        return ""
    return local_text(parse_time(text), "seconds")


def timeline_cells(entry: dict) -> list[str]:
    status = entry.get("to_status") or ""
    if entry.get("from_status"):
        status = f"{entry['from_status']} → {status}"
    detail = entry.get("detail") or ""
    if entry["occurred_at"][:16] != entry["recorded_at"][:16]:  # back-dated: say when it was typed in
        detail = f"{detail} (entered {local_time(entry['recorded_at'])})".strip()
    return [local_time(entry["occurred_at"]), EVENT_TEXT.get(entry["type"], entry["type"]), status,
            f"{entry['actor']} ({entry['role'].replace('_', ' ')})", entry["source"],
            destination_text(entry.get("destination"), ""), entry["correlation_id"], detail]


class TimelineModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[list[str]] = []

    def load(self, entries: list[dict]) -> None:
        self.beginResetModel()
        self.rows = [timeline_cells(e) for e in entries]
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(TIMELINE_COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return TIMELINE_COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if index.isValid() and role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole,
                                        Qt.ItemDataRole.ToolTipRole):
            return self.rows[index.row()][index.column()]
        return None


def answers_html(workflow: str, answers_qr: dict) -> str:
    lines = response_lines(workflow, answers_qr)
    out = []
    for depth, label, value in lines:
        pad = 18 * depth
        if value:
            out.append(f"<p style='margin:2px 0 2px {pad}px'>{html.escape(label)}: <b>{html.escape(value)}</b></p>")
        else:
            out.append(f"<p style='margin:8px 0 2px {pad}px'><u>{html.escape(label)}</u></p>")
    return "".join(out) or "<p>No answers.</p>"


class TaskDetailScreen(QWidget):
    """Emits ``back()`` and ``changed(task_id)`` after a transition is recorded."""

    back = Signal()
    changed = Signal(str)
    print_requested = Signal()

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("taskDetailScreen")
        self.session = session
        self.task: dict | None = None
        box = QVBoxLayout(self)
        top = QHBoxLayout()
        self.back_button = named(QPushButton("← Board (Esc)"), "Back to the board")
        self.title = named(set_role(QLabel(""), "title"), "Task title")
        self.print_button = named(QPushButton("Print task… (Ctrl+P)"), "Print this task")
        top.addWidget(self.back_button)
        top.addWidget(self.title, 1)
        top.addWidget(self.print_button)
        box.addLayout(top)
        facts = QGridLayout()
        self.patient = named(set_role(QLabel(""), "subtitle"), "Patient")
        self.status = named(QLabel(""), "Status")
        self.priority = named(QLabel(""), "Priority")
        self.destination = named(QLabel(""), "Destination")
        self.summary = named(QLabel(""), "Summary")
        self.summary.setWordWrap(True)
        facts.addWidget(self.patient, 0, 0, 1, 3)
        facts.addWidget(self.status, 1, 0)
        facts.addWidget(self.priority, 1, 1)
        facts.addWidget(self.destination, 1, 2)
        facts.addWidget(self.summary, 2, 0, 1, 3)
        box.addLayout(facts)

        moves = QHBoxLayout()
        self.moves_label = QLabel("Move to:")
        moves.addWidget(self.moves_label)
        self.move_buttons = QHBoxLayout()
        moves.addLayout(self.move_buttons)
        moves.addStretch(1)
        box.addLayout(moves)
        handoff = QHBoxLayout()
        self.hand_to = named(QComboBox(), "Hand to (destination)")
        self.hand_to.setMinimumWidth(220)
        self.reason = named(QLineEdit(), "Reason or note for this change")
        self.reason.setPlaceholderText("reason (needed for entered-in-error)")
        hand_label = QLabel("&Hand to")
        hand_label.setBuddy(self.hand_to)
        handoff.addWidget(hand_label)
        handoff.addWidget(self.hand_to)
        reason_label = QLabel("Rea&son")
        reason_label.setBuddy(self.reason)
        handoff.addWidget(reason_label)
        handoff.addWidget(self.reason, 1)
        box.addLayout(handoff)
        self.message = hidden_message("error", "Task message")
        box.addWidget(self.message)

        split = QSplitter(Qt.Orientation.Vertical)
        self.answers = no_copy(named(QTextBrowser(), "Form answers"))
        self.answers.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        self.timeline_model = TimelineModel(self)
        self.timeline = no_copy(named(QTableView(), "Timeline of the task"))
        self.timeline.setModel(self.timeline_model)
        self.timeline.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.timeline.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.timeline.verticalHeader().hide()
        self.timeline.verticalHeader().setDefaultSectionSize(36)
        self.timeline.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.timeline.horizontalHeader().setStretchLastSection(True)
        for i, width in enumerate((170, 130, 190, 220, 150, 120, 150)):
            self.timeline.setColumnWidth(i, width)
        timeline_box = QWidget()
        tl = QVBoxLayout(timeline_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(set_role(QLabel("Timeline"), "subtitle"))
        tl.addWidget(self.timeline)
        answers_box = QWidget()
        al = QVBoxLayout(answers_box)
        al.setContentsMargins(0, 0, 0, 0)
        al.addWidget(set_role(QLabel("Form answers"), "subtitle"))
        al.addWidget(self.answers)
        split.addWidget(answers_box)
        split.addWidget(timeline_box)
        box.addWidget(split, 1)
        self.back_button.clicked.connect(self.back)
        self.print_button.clicked.connect(self.print_requested)

    def show_task(self, task: dict) -> None:
        """Paint a task from ``show_task`` (with patient and timeline)."""
        self.task = task
        patient = task.get("patient") or {"patient_id": task["patient_id"]}
        self.title.setText(f"{forms.WORKFLOW_TITLES.get(task['workflow'], task['workflow'])} task")
        dob = f" · born {patient['birth_date']}" if patient.get("birth_date") else ""
        self.patient.setText(f"{patient_name(patient)} · {patient['patient_id']}{dob}")
        self.status.setText(f"Status: {task['status']}")
        self.priority.setText(f"Priority: {priority_text(task['priority'])}")
        self.destination.setText(f"Destination: {destination_text(task.get('destination'))}")
        self.summary.setText(f"Summary: {task.get('summary') or ''}")
        self.answers.setHtml(answers_html(task["workflow"], task["answers"]))
        self.timeline_model.load(task["timeline"])
        self.message.hide()
        self.reason.clear()
        self.hand_to.clear()
        self.hand_to.addItem(f"(no change: {destination_text(task.get('destination'), 'none')})", None)
        for d in hand_over_choices(task):
            self.hand_to.addItem(destination_text(d), d)
        self._show_moves(task["status"])
        self.back_button.setFocus()

    def _show_moves(self, status: str) -> None:
        while self.move_buttons.count():
            item = self.move_buttons.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.status_buttons: dict[str, QPushButton] = {}
        moves = allowed_next(status)
        if not moves:
            self.moves_label.setText("This task is closed; no further moves.")
        elif is_finished(status):
            self.moves_label.setText(f"This task is {status}; only a correction is possible:")
        else:
            self.moves_label.setText("Move to:")
        for to_status in moves:
            button = named(QPushButton(STATUS_ACTIONS.get(to_status, to_status)), f"Move to {to_status}")
            button.clicked.connect(lambda _c=False, s=to_status: self.move(s))
            self.move_buttons.addWidget(button)
            self.status_buttons[to_status] = button

    def move(self, to_status: str) -> None:
        if self.task is None:
            return
        destination = self.hand_to.currentData()
        reason = self.reason.text().strip() or None
        if needs_reason(to_status) and not reason:
            self._say("Say why this task was entered in error (in Reason), then press the button again.")
            self.reason.setFocus()
            return
        for b in self.status_buttons.values():
            b.setEnabled(False)
        task_id = self.task["task_id"]
        self.session.call(ts.transition_task, task_id, to_status, destination=destination, reason=reason,
                          on_done=lambda _e: self.changed.emit(task_id), on_error=self._failed)

    def _failed(self, err: Exception) -> None:
        for b in self.status_buttons.values():
            b.setEnabled(True)
        self._say(error_text(err))

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def clear(self) -> None:
        self.task = None
        self.answers.clear()
        self.timeline_model.load([])
        for w in (self.title, self.patient, self.status, self.priority, self.destination, self.summary):
            w.clear()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.key() == Qt.Key.Key_Escape:
            self.back.emit()
            return
        super().keyPressEvent(event)
