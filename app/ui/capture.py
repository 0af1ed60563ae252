"""Task capture: pick the workflow and the patient, fill in the form, save (Ctrl+S)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

import forms
from app.services import tasks as ts
from app.services.wording import error_text
from forms.vocabulary import PRIORITIES, PRIORITY_LABELS

from .form_engine import FormView
from .form_fields import local_datetime_to_iso
from .patient_picker import PatientPicker
from .theme import button_row, hidden_message, named, set_role

PAPER_REASON = "entered from a paper downtime form"


class PaperEntry(QWidget):
    """Entering a paper downtime form afterwards: when it really happened, and why it is late."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.on = named(QCheckBox("Entering a paper downtime form (back-dated)"), "Entering a paper form")
        self.when = named(QLineEdit(), "When it happened")
        self.when.setPlaceholderText("when it happened: YYYY-MM-DD HH:MM")
        self.when.setMaximumWidth(300)
        self.reason = named(QLineEdit(PAPER_REASON), "Reason for the late entry")
        row.addWidget(self.when)
        row.addWidget(self.reason, 1)
        self.on.toggled.connect(self._toggled)
        self._toggled(False)

    def _toggled(self, on: bool) -> None:
        self.setVisible(on)
        if on:
            self.when.setFocus()

    def reset(self) -> None:
        self.on.setChecked(False)
        self.when.clear()
        self.reason.setText(PAPER_REASON)

    def values(self) -> dict:
        """capture_task's back-entry arguments (none unless the box is ticked)."""
        if not self.on.isChecked():
            return {}
        return {"occurred_at": local_datetime_to_iso(self.when.text()) or None,
                "back_entry_reason": self.reason.text().strip() or None, "paper_form": True}


class CaptureScreen(QWidget):
    """Emits ``captured(task_id)`` once the task is durable, ``cancelled()`` on Cancel / Esc."""

    captured = Signal(str)
    cancelled = Signal()

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("captureScreen")
        self.session = session
        self.form: FormView | None = None
        box = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(set_role(QLabel("New task"), "title"))
        top.addSpacing(20)
        self.workflow = named(QComboBox(), "Workflow")
        for w in forms.WORKFLOWS:
            self.workflow.addItem(forms.WORKFLOW_TITLES[w], w)
        self.workflow.setMinimumWidth(260)
        self.priority = named(QComboBox(), "Priority")
        for p in PRIORITIES:
            self.priority.addItem(PRIORITY_LABELS[p], p)
        workflow_label = QLabel("&Workflow")
        workflow_label.setBuddy(self.workflow)
        priority_label = QLabel("P&riority")
        priority_label.setBuddy(self.priority)
        top.addWidget(workflow_label)
        top.addWidget(self.workflow)
        top.addWidget(priority_label)
        top.addWidget(self.priority)
        self.priority.setToolTip("Some answers raise it and choose where the task goes "
                                 "(e.g. ESI 1 goes to resus as STAT).")
        self.priority.setAccessibleDescription(self.priority.toolTip())
        self.paper = PaperEntry()
        top.addSpacing(20)
        top.addWidget(self.paper.on)
        top.addStretch(1)
        box.addLayout(top)
        box.addWidget(self.paper)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.picker = PatientPicker(session)
        self.picker.setMinimumWidth(340)
        self.form_holder = QWidget()
        self.form_layout = QVBoxLayout(self.form_holder)
        self.form_layout.setContentsMargins(0, 0, 0, 0)
        self.form_title = set_role(QLabel(""), "subtitle")
        self.form_layout.addWidget(self.form_title)
        self.splitter.addWidget(self.picker)
        self.splitter.addWidget(self.form_holder)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 2)
        box.addWidget(self.splitter, 1)

        self.message = hidden_message("error", "Capture message")
        box.addWidget(self.message)
        self.cancel_button = named(QPushButton("Cancel (Esc)"), "Cancel new task")
        self.save_button = named(set_role(QPushButton("Save task (Ctrl+S)"), "primary"), "Save task")
        button_row(box, self.cancel_button, self.save_button)

        self.workflow.currentIndexChanged.connect(self._build_form)
        self.cancel_button.clicked.connect(self.cancelled)
        self.save_button.clicked.connect(self.save)
        self.picker.chosen.connect(lambda _p: self.message.hide())
        self._build_form()

    def _offer_workflows(self) -> None:
        """The workflow choice: the ones the site profile switches on (every one without a profile)."""
        overlay = getattr(self.session, "overlay", None)
        wanted = overlay.workflows_enabled() if overlay is not None else forms.WORKFLOWS
        if tuple(self.workflow.itemData(i) for i in range(self.workflow.count())) == tuple(wanted):
            return
        self.workflow.blockSignals(True)
        self.workflow.clear()
        for w in wanted:
            self.workflow.addItem(forms.WORKFLOW_TITLES[w], w)
        self.workflow.blockSignals(False)

    def _questionnaire(self, workflow: str) -> dict:
        return forms.load_questionnaire(workflow, getattr(self.session, "overlay", None))

    def start(self, workflow: str | None = None) -> None:
        """A fresh capture: no patient, an empty form; focus on the workflow choice."""
        self._offer_workflows()
        if workflow and self.workflow.findData(workflow) >= 0:
            self.workflow.setCurrentIndex(self.workflow.findData(workflow))
        self._build_form()
        self.priority.setCurrentIndex(0)
        self.paper.reset()
        self.message.hide()
        self.save_button.setEnabled(True)
        self.picker.reset()
        self.workflow.setFocus()

    def clear(self) -> None:
        """On lock: drop every typed answer and the chosen patient."""
        self._build_form()
        self.picker.patient = None
        self.picker.results_model.clear()
        self.picker.search.clear()

    @property
    def current_workflow(self) -> str:
        return self.workflow.currentData()

    def _build_form(self, *_args) -> None:
        if self.form is not None:
            self.form.setParent(None)
            self.form.deleteLater()
        workflow = self.current_workflow
        self.form = FormView(self._questionnaire(workflow), clock=self.session.clock)
        self.form.setObjectName(f"form:{workflow}")
        self.form_title.setText(f"{forms.WORKFLOW_TITLES[workflow]} form")
        self.form_layout.addWidget(self.form, 1)
        self.form.show()
        if hasattr(self, "message"):  # a message about the previous form no longer applies
            self.message.hide()
        self.setTabOrder(self.priority, self.picker.search)

    def save(self) -> None:
        self.message.hide()
        answers = self.form.answers()
        workflow = self.current_workflow
        problems: list[str] = []
        try:
            forms.validate_answers(workflow, answers, self._questionnaire(workflow))
        except forms.FormError as err:
            problems = self.form.show_problems(err.problems)
            self._say(f"The form is not complete: {len(err.problems)} thing(s) to fix, shown in red.", problems)
            if self.picker.patient is None:
                self._say_more("Choose the patient too.")
            return
        self.form.clear_problems()
        if self.paper.on.isChecked() and not self.paper.when.text().strip():
            self._say("Type when the paper form was filled in (YYYY-MM-DD HH:MM), as written on it.")
            self.paper.when.setFocus()
            return
        if self.picker.patient is None:
            self._say("Choose the patient first: search the census, or register a temporary patient.")
            self.picker.search.setFocus()
            return
        self.save_button.setEnabled(False)
        self.session.call(ts.capture_task, workflow, self.picker.patient["patient_id"], answers,
                          priority=self.priority.currentData(), **self.paper.values(), on_done=self._saved,
                          on_error=self._failed)

    def _saved(self, captured) -> None:
        self.save_button.setEnabled(True)
        self.captured.emit(captured.task_id)

    def _failed(self, err: Exception) -> None:
        self.save_button.setEnabled(True)
        if isinstance(err, forms.FormError):
            unplaced = self.form.show_problems(err.problems)
            self._say("The form was refused: fix the fields shown in red.", unplaced)
        else:
            self._say(error_text(err))

    def _say(self, text: str, extra: list[str] | None = None) -> None:
        self.message.setText("\n".join([text, *(extra or [])]))
        self.message.show()

    def _say_more(self, text: str) -> None:
        self.message.setText(self.message.text() + "\n" + text)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            return
        super().keyPressEvent(event)
