"""Choosing the patient: search the cached census (its age shown), or register a temporary patient."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.services import patients as pt
from app.services.wording import age_text, error_text

from .theme import button_row, dialog_layout, hidden_message, named, no_copy, set_role

PATIENT_ROLE = Qt.ItemDataRole.UserRole + 1


def patient_line(p: dict) -> str:
    """'ZZTEST-ASHBY, Alice · P100001 · born 1940-01-01 · ward-7 bed 1' (temporary ones say so)."""
    parts = [f"{p['family'].upper()}, {p['given']}", p["patient_id"]]
    if p.get("birth_date"):
        parts.append(f"born {p['birth_date']}")
    if p.get("location"):
        parts.append(p["location"])
    if p.get("temporary"):
        parts.append("TEMPORARY")
    return " · ".join(parts)


class PatientPicker(QWidget):
    """Census search with results; emits ``chosen(patient)`` when one is picked."""

    chosen = Signal(dict)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.patient: dict | None = None
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(set_role(QLabel("Patient"), "subtitle"))
        self.census_age = named(set_role(QLabel("Census: loading…"), "hint"), "Census age")
        self.census_age.setWordWrap(True)
        box.addWidget(self.census_age)
        self.search = named(QLineEdit(), "Search the census")
        self.search.setPlaceholderText("name, MRN, ID or bed")
        self.search.setClearButtonEnabled(True)
        box.addWidget(self.search)
        self.results_model = QStandardItemModel(self)
        self.results = no_copy(named(QListView(), "Census search results"))
        self.results.setModel(self.results_model)
        self.results.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.results.setWordWrap(True)
        self.results.setMinimumHeight(150)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        box.addWidget(self.results, 1)
        self.selected = named(set_role(QLabel("No patient chosen yet."), "warning"), "Chosen patient")
        self.selected.setWordWrap(True)
        box.addWidget(self.selected)
        self.register_button = named(QPushButton("Not on the census? Register temporary patient…"),
                                     "Register a temporary patient")
        box.addWidget(self.register_button)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.run_search)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self._pick_first)
        self.results.activated.connect(self._pick)
        self.results.clicked.connect(self._pick)
        self.register_button.clicked.connect(self.open_register)

    def reset(self) -> None:
        self.patient = None
        self.search.clear()
        self.results_model.clear()
        self.selected.setText("No patient chosen yet.")
        set_role(self.selected, "warning")
        self.session.call(pt.census_age_seconds, on_done=self._show_census_age)
        self.run_search()

    def _show_census_age(self, seconds: float | None) -> None:
        if seconds is None:
            self.census_age.setText("No census loaded: register patients as temporary.")
        else:
            self.census_age.setText(f"Census as of {age_text(seconds)} ago — check the wristband.")

    def run_search(self) -> None:
        self.session.call(pt.view_patient_search, self.search.text(), 50, on_done=self._show_results)

    def _show_results(self, patients: list[dict]) -> None:
        self.results_model.clear()
        for p in patients:
            item = QStandardItem(patient_line(p))
            item.setData(p, PATIENT_ROLE)
            self.results_model.appendRow(item)
        if not patients:
            empty = QStandardItem("No match on the census.")
            empty.setEnabled(False)
            self.results_model.appendRow(empty)

    def _pick_first(self) -> None:
        if self.results_model.rowCount():
            self._pick(self.results_model.index(0, 0))

    def _pick(self, index) -> None:
        p = index.data(PATIENT_ROLE)
        if p:
            self.choose(p)

    def choose(self, patient: dict) -> None:
        self.patient = patient
        self.selected.setText("Chosen: " + patient_line(patient))
        set_role(self.selected, "ok")
        self.chosen.emit(patient)

    def open_register(self) -> None:
        dialog = TempPatientDialog(self.session, self)
        dialog.registered.connect(self.choose)
        dialog.open()
        self.register_dialog = dialog


class TempPatientDialog(QDialog):
    """Register a patient under a downtime identifier; a similar census name needs explicit confirmation."""

    registered = Signal(dict)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.similar: list[dict] = []
        box, form = dialog_layout(self, "Register a temporary patient",
                                  "Only for a patient who is not on the census. They get a downtime identifier "
                                  "that a super-user links to the real record after recovery.", min_width=620)
        self.family = named(QLineEdit(), "Family name")
        self.given = named(QLineEdit(), "Given name")
        self.birth_date = named(QLineEdit(), "Date of birth")
        self.birth_date.setPlaceholderText("YYYY-MM-DD, if known")
        self.sex = named(QComboBox(), "Sex")
        for label in ("unknown", "female", "male", "other"):
            self.sex.addItem(label, label)
        self.location = named(QLineEdit(), "Location or bed")
        form.addRow("&Family name *", self.family)
        form.addRow("&Given name *", self.given)
        form.addRow("Date of &birth", self.birth_date)
        form.addRow("&Sex", self.sex)
        form.addRow("&Location", self.location)
        box.addLayout(form)
        self.warning = hidden_message("warning", "Similar patients warning")
        box.addWidget(self.warning)
        self.similar_model = QStandardItemModel(self)
        self.similar_list = no_copy(named(QListView(), "Similar patients on the census"))
        self.similar_list.setModel(self.similar_model)
        self.similar_list.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.similar_list.setMinimumHeight(140)
        self.similar_list.setMaximumHeight(160)
        self.similar_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.similar_list.hide()
        box.addWidget(self.similar_list)
        self.use_existing = named(QPushButton("Use the selected census patient instead"),
                                  "Use the selected census patient")
        self.use_existing.hide()
        box.addWidget(self.use_existing)
        self.confirm = named(QCheckBox("I have checked the wristband: this is a different person"),
                             "Confirm this is a different person")
        self.confirm.hide()
        box.addWidget(self.confirm)
        self.message = hidden_message("error", "Registration message")
        box.addWidget(self.message)
        self.cancel = named(QPushButton("Cancel"), "Cancel registration")
        self.submit = named(set_role(QPushButton("Check and register"), "primary"), "Register temporary patient")
        button_row(box, self.cancel, self.submit)
        self.cancel.clicked.connect(self.reject)
        self.submit.clicked.connect(self._submit)
        self.confirm.toggled.connect(self._confirm_toggled)
        self.use_existing.clicked.connect(self._use_existing)
        for w in (self.family, self.given, self.birth_date):
            w.textChanged.connect(self._details_changed)

    def _details_changed(self) -> None:
        # Changed names must be checked again against the census.
        if self.similar:
            self.similar = []
            for w in (self.warning, self.similar_list, self.use_existing, self.confirm):
                w.hide()
            self.confirm.setChecked(False)
            self.submit.setText("Check and register")
            self.submit.setEnabled(True)

    def _confirm_toggled(self, checked: bool) -> None:
        self.submit.setEnabled(checked)

    def _details(self) -> tuple[str, str, str | None]:
        return self.family.text().strip(), self.given.text().strip(), self.birth_date.text().strip() or None

    def _submit(self) -> None:
        family, given, birth = self._details()
        if not family or not given:
            self._fail_text("A temporary patient needs a family name and a given name "
                            "(use 'Unknown' with a descriptor if they are not known).")
            (self.family if not family else self.given).setFocus()
            return
        self.message.hide()
        self.submit.setEnabled(False)
        if self.similar:
            self._register(confirmed=True)
        else:
            self.session.call(pt.similar_patients, family, given, birth, on_done=self._checked,
                              on_error=self._fail)

    def _checked(self, similar: list[dict]) -> None:
        if not similar:
            self._register(confirmed=False)
            return
        self.similar = similar
        self.similar_model.clear()
        for p in similar:
            item = QStandardItem(f"{p['family'].upper()}, {p['given']} · {p['patient_id']} · born {p.get('birth_date') or '?'}"
                        f" · {p.get('location') or ''}")
            item.setData(p, PATIENT_ROLE)
            self.similar_model.appendRow(item)
        self.similar_list.setCurrentIndex(self.similar_model.index(0, 0))
        self.warning.setText(f"WARNING: {len(similar)} similar name(s) already on the census. Check the wristband. "
                             "Use the census patient if it is the same person; register a new one only if it "
                             "is a different person.")
        for w in (self.warning, self.similar_list, self.use_existing, self.confirm):
            w.show()
        self.confirm.setChecked(False)
        self.submit.setText("Register as a different person")
        self.submit.setEnabled(False)
        self.similar_list.setFocus()

    def _use_existing(self) -> None:
        index = self.similar_list.currentIndex()
        p = index.data(PATIENT_ROLE) if index.isValid() else None
        if p:
            self.registered.emit(p)
            self.accept()

    def _register(self, *, confirmed: bool) -> None:
        family, given, birth = self._details()
        self.session.call(pt.register_temp_patient, family, given, birth_date=birth,
                          sex=self.sex.currentData(), location=self.location.text().strip() or None,
                          confirm_not_duplicate=confirmed, on_done=self._registered, on_error=self._fail)

    def _registered(self, result: tuple[str, list]) -> None:
        patient_id, _similar = result
        family, given, birth = self._details()
        self.registered.emit({"patient_id": patient_id, "family": family, "given": given, "birth_date": birth,
                              "location": self.location.text().strip() or None, "temporary": 1, "mrn": None})
        self.accept()

    def _fail(self, err: Exception) -> None:
        self._fail_text(error_text(err))

    def _fail_text(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()
        self.submit.setEnabled(not self.similar or self.confirm.isChecked())
