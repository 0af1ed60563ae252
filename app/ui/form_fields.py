"""One input per Questionnaire question, each giving back a simple-answer value.

A field never judges its value: anything typed goes back to ``forms.validate_answers`` as typed (or
as the number / ISO time it clearly means), so the form's own rules produce every message.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from forms.questionnaire import UNIT_OPTION_URL, option_code, option_display
from sync.clock import Clock, local_text, parse_local

from .theme import named, set_flag, set_role

BLANK_CHOICE = "— choose —"


def initial_value(item: dict) -> Any:
    for init in item.get("initial", ()):
        for key, value in init.items():
            if key == "valueCoding":
                return value["code"]
            if key.startswith("value"):
                return value
    return None


def local_datetime_to_iso(text: str) -> str:
    """'2026-11-25 03:40' (local time) -> '2026-11-25T03:40:00+00:00'; other text comes back as typed."""
    when = parse_local(text)
    return when.isoformat(timespec="seconds") if when else text.strip()


def _number(text: str, kind: type) -> Any:
    text = text.strip().replace(",", ".") if kind is float else text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        if kind is int:
            try:
                as_float = float(text)
            except ValueError:
                return text
            return as_float  # 37.5 for a whole number: the form says "must be a whole number"
        return text


class Field(QObject):
    """A question's label, input and error line; ``value()`` is its simple answer or None."""

    changed = Signal()

    def __init__(self, item: dict, path: str):
        super().__init__()
        self.item, self.link_id, self.path = item, item["linkId"], path
        self.required = bool(item.get("required"))
        self.repeats = bool(item.get("repeats"))
        text = item.get("text", self.link_id)
        self.label = QLabel(text + (" *" if self.required else ""))
        self.label.setWordWrap(True)
        self.error = set_role(QLabel(""), "field-error")
        self.error.setWordWrap(True)
        self.error.hide()
        self.row = QWidget()
        self.row.setObjectName(f"field:{path}")
        lay = QVBoxLayout(self.row)
        lay.setContentsMargins(0, 2, 0, 2)
        lay.setSpacing(2)
        lay.addWidget(self.label)
        self.input = self.build()
        lay.addWidget(self.input)
        lay.addWidget(self.error)
        self.name = text + (" (required)" if self.required else "")
        self.focus_widget().setAccessibleName(self.name) if not self.focus_widget().accessibleName() else None
        self.error.setAccessibleName(f"Problem with {text}")
        self.label.setBuddy(self.focus_widget())
        init = initial_value(item)
        if init is not None:
            self.set_value(init)

    # subclasses: build, value, set_value, focus_widget
    def build(self) -> QWidget:
        raise NotImplementedError

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def focus_widget(self) -> QWidget:
        return self.input

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        set_flag(self.focus_widget(), "invalid", True)
        self.focus_widget().setAccessibleDescription(message)

    def clear_error(self) -> None:
        self.error.hide()
        set_flag(self.focus_widget(), "invalid", False)
        self.focus_widget().setAccessibleDescription("")


class TextField(Field):
    def build(self) -> QWidget:
        if self.item["type"] == "text" or self.repeats:
            edit = QPlainTextEdit()
            edit.setTabChangesFocus(True)
            edit.setFixedHeight(80)
            if self.repeats:
                edit.setPlaceholderText("one per line")
            edit.textChanged.connect(self.changed)
            return edit
        edit = QLineEdit()
        if self.item.get("maxLength"):
            edit.setMaxLength(int(self.item["maxLength"]))
        edit.textChanged.connect(self.changed)
        return edit

    def value(self) -> Any:
        if isinstance(self.input, QPlainTextEdit):
            text = self.input.toPlainText()
            if self.repeats:
                return [line.strip() for line in text.splitlines() if line.strip()]
            return text.strip() or None
        return self.input.text().strip() or None

    def set_value(self, value: Any) -> None:
        if isinstance(self.input, QPlainTextEdit):
            self.input.setPlainText("\n".join(value) if isinstance(value, list) else str(value or ""))
        else:
            self.input.setText(str(value or ""))


class NumberField(Field):
    def build(self) -> QWidget:
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setMaximumWidth(200)
        self.edit.textChanged.connect(self.changed)
        lay.addWidget(self.edit)
        self.units = [e["valueCoding"] for e in self.item.get("extension", ()) if e.get("url") == UNIT_OPTION_URL]
        self.unit_box: QComboBox | None = None
        if len(self.units) > 1:
            self.unit_box = named(QComboBox(), f"Unit for {self.item.get('text')}")
            for u in self.units:
                self.unit_box.addItem(u.get("display", u["code"]), u["code"])
            lay.addWidget(self.unit_box)
        elif self.units:
            lay.addWidget(QLabel(self.units[0].get("display", self.units[0]["code"])))
        lay.addStretch(1)
        return box

    def focus_widget(self) -> QWidget:
        return self.edit

    def value(self) -> Any:
        number = _number(self.edit.text(), int if self.item["type"] == "integer" else float)
        if number is None or self.item["type"] != "quantity" or isinstance(number, str):
            return number
        unit = self.unit_box.currentData() if self.unit_box else (self.units[0]["code"] if self.units else None)
        return {"value": number, "unit": unit} if unit else number

    def set_value(self, value: Any) -> None:
        if isinstance(value, dict):
            if self.unit_box and value.get("unit"):
                self.unit_box.setCurrentIndex(max(0, self.unit_box.findData(value["unit"])))
            value = value.get("value")
        self.edit.setText("" if value is None else f"{value:g}" if isinstance(value, float) else str(value))


class TimeField(Field):
    """date, dateTime and time, typed as text in local time, with a 'Now'/'Today' button."""

    FORMATS = {"date": ("YYYY-MM-DD", "Today"), "dateTime": ("YYYY-MM-DD HH:MM", "Now"), "time": ("HH:MM", "Now")}

    def __init__(self, item: dict, path: str, clock: Clock):
        self.clock = clock  # the app's one clock: "Now" is the session's now
        super().__init__(item, path)

    def build(self) -> QWidget:
        placeholder, now_label = self.FORMATS[self.item["type"]]
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setMaximumWidth(260)
        self.edit.textChanged.connect(self.changed)
        self.now_button = named(QPushButton(now_label), f"{now_label} for {self.item.get('text')}")
        self.now_button.clicked.connect(lambda: self.edit.setText(local_text(self.clock.now(), self.item["type"])))
        lay.addWidget(self.edit)
        lay.addWidget(self.now_button)
        lay.addStretch(1)
        return box

    def focus_widget(self) -> QWidget:
        return self.edit

    def value(self) -> Any:
        text = self.edit.text().strip()
        if not text:
            return None
        if self.item["type"] == "dateTime":
            return local_datetime_to_iso(text)
        if self.item["type"] == "time" and len(text) == 5:
            return text + ":00"
        return text

    def set_value(self, value: Any) -> None:
        text = str(value or "")
        if self.item["type"] == "dateTime" and text:
            text = local_text(text)
        self.edit.setText(text)


class ChoiceField(Field):
    """One answer from a list (a combo box; editable for open-choice), or several as check boxes."""

    def build(self) -> QWidget:
        self.options = [(option_code(o), option_display(o)) for o in self.item.get("answerOption", ())]
        if self.repeats:
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            self.checks = []
            for code, display in self.options:
                check = named(QCheckBox(display), f"{self.item.get('text')}: {display}")
                check.toggled.connect(self.changed)
                self.checks.append((code, check))
                lay.addWidget(check)
            return box
        combo = QComboBox()
        combo.setEditable(self.item["type"] == "open-choice")
        combo.addItem(BLANK_CHOICE, None)
        for code, display in self.options:
            combo.addItem(display, code)
        combo.setMinimumWidth(280)
        combo.currentIndexChanged.connect(self.changed)
        if combo.isEditable():
            combo.lineEdit().setPlaceholderText("choose or type")
            combo.editTextChanged.connect(self.changed)
            combo.setCurrentIndex(-1)
        return combo

    def focus_widget(self) -> QWidget:
        return self.checks[0][1] if self.repeats and self.checks else self.input

    def value(self) -> Any:
        if self.repeats:
            return [code for code, check in self.checks if check.isChecked()]
        combo: QComboBox = self.input
        if combo.isEditable():
            text = combo.currentText().strip()
            if not text or text == BLANK_CHOICE:
                return None
            for code, display in self.options:
                if text in (display, str(code)):
                    return code
            return text
        return combo.currentData()

    def set_value(self, value: Any) -> None:
        if self.repeats:
            wanted = value if isinstance(value, list) else [value]
            for code, check in self.checks:
                check.setChecked(code in wanted)
            return
        combo: QComboBox = self.input
        index = next((i for i in range(combo.count()) if combo.itemData(i) == value and
                      isinstance(combo.itemData(i), bool) == isinstance(value, bool)), -1)
        if index >= 0:
            combo.setCurrentIndex(index)
        elif combo.isEditable():
            combo.setEditText(str(value))


class BooleanField(Field):
    """Yes / No as two large radio buttons; unanswered until one is chosen."""

    def build(self) -> QWidget:
        box = QWidget()
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        text = self.item.get("text", self.link_id)
        self.yes = named(QRadioButton("Yes"), f"{text}: yes")
        self.no = named(QRadioButton("No"), f"{text}: no")
        self.group = QButtonGroup(box)
        self.group.addButton(self.yes)
        self.group.addButton(self.no)
        for b in (self.yes, self.no):
            b.toggled.connect(self.changed)
            lay.addWidget(b)
        lay.addStretch(1)
        return box

    def focus_widget(self) -> QWidget:
        return self.yes

    def value(self) -> Any:
        if self.yes.isChecked():
            return True
        if self.no.isChecked():
            return False
        return None

    def set_value(self, value: Any) -> None:
        if value is True:
            self.yes.setChecked(True)
        elif value is False:
            self.no.setChecked(True)


def make_field(item: dict, path: str, clock: Clock) -> Field:
    t = item["type"]
    if item.get("answerOption") or t in ("choice", "open-choice"):
        return ChoiceField(item, path)
    if t == "boolean":
        return BooleanField(item, path)
    if t in ("integer", "decimal", "quantity"):
        return NumberField(item, path)
    if t in ("date", "dateTime", "time"):
        return TimeField(item, path, clock)
    return TextField(item, path)
