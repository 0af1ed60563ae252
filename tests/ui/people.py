"""How a person fills in the capture screen: type, pick from lists by typing, click Yes/No."""

from __future__ import annotations

import time

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QComboBox

from .conftest import WAIT_MS

_last_pick = [0.0]


def type_into(qtbot, field, text: str) -> None:
    widget = field.focus_widget()
    widget.setFocus()
    qtbot.keyClicks(widget, text)


def _shortest_unique_prefix(combo: QComboBox, text: str) -> str:
    """The fewest first letters of ``text`` that only the wanted entry starts with."""
    items = [combo.itemText(i).lower() for i in range(combo.count())]
    for n in range(1, len(text) + 1):
        prefix = text[:n].lower()
        if sum(item.startswith(prefix) for item in items) == 1:
            return text[:n]
    return text


def pick(qtbot, combo: QComboBox, text: str) -> None:
    """Choose an entry of a list by typing its first letters, as on a keyboard (space would open the list).

    Only as many letters as tell the entry apart are typed: Qt joins letters into one search only
    while they come within the keyboard input interval, and on a loaded machine a pause between two
    synthetic key presses can pass it, so "Referral" would become "R", then "e" (ED triage).
    """
    assert " " not in text
    combo.setFocus()
    # Letters typed within the keyboard input interval add up to one search: let the last one end.
    since = (time.monotonic() - _last_pick[0]) * 1000
    if since < QApplication.keyboardInputInterval() + 50:
        qtbot.wait(int(QApplication.keyboardInputInterval() + 50 - since))
    qtbot.keyClicks(combo, _shortest_unique_prefix(combo, text))
    _last_pick[0] = time.monotonic()
    assert combo.currentText().lower().startswith(text.lower()), (combo.currentText(), text)


def click_box(qtbot, button) -> None:
    """Click a check box or radio button on its box, where a person aims."""
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(12, button.height() // 2))


def yes(qtbot, field) -> None:
    click_box(qtbot, field.yes)


def no(qtbot, field) -> None:
    click_box(qtbot, field.no)


def choose_workflow(qtbot, window, title: str) -> None:
    pick(qtbot, window.capture.workflow, title.split()[0])


def choose_patient(qtbot, window, text: str) -> None:
    picker = window.capture.picker
    picker.search.setFocus()
    qtbot.keyClicks(picker.search, text)
    qtbot.waitUntil(lambda: picker.results_model.rowCount() > 0 and
                    text.lower() in picker.results_model.item(0).text().lower(), timeout=WAIT_MS)
    qtbot.keyClick(picker.search, Qt.Key.Key_Return)
    assert picker.selected.text().startswith("Chosen:")


def fill_required(qtbot, form, workflow: str) -> None:
    """Answer just the required questions of each workflow's form."""
    f = form.field
    if workflow == "ed_triage":
        type_into(qtbot, f("arrival_time"), "2026-01-05 03:40")
        pick(qtbot, f("arrival_mode").input, "Amb")
        type_into(qtbot, f("chief_complaint"), "shortness of breath (synthetic)")
        pick(qtbot, f("acuity_esi").input, "3")
        pick(qtbot, f("isolation").input, "None")
    elif workflow == "inpatient_discharge":
        type_into(qtbot, f("expected_discharge"), "2026-01-06 11:00")
        for item in ("med_rec", "follow_up", "education", "transport", "pharmacy", "case_management"):
            yes(qtbot, f(f"{item}_done"))
    elif workflow == "med_reconciliation":
        click_box(qtbot, f("list_sources").checks[0][1])
        type_into(qtbot, f("medication_name"), "Atorvastatin")
        pick(qtbot, f("decision").input, "Cont")
    elif workflow == "referral":
        pick(qtbot, f("specialty").input, "Card")
        type_into(qtbot, f("reason"), "Synthetic: palpitations for review")
        type_into(qtbot, f("referring_clinician"), "Dr Testdoctor Theta")
    elif workflow == "specimen_handoff":
        type_into(qtbot, f("identifier_1_name"), "Testpatient Alpha")
        type_into(qtbot, f("identifier_2_dob"), "1970-01-01")
        pick(qtbot, f("specimen_type").input, "Blood")
        pick(qtbot, f("container").input, "Ster")
        type_into(qtbot, f("tests"), "Full blood count")
        type_into(qtbot, f("collected_at"), "2026-01-05 03:10")
        type_into(qtbot, f("collected_by"), "Nurse Testperson Iota")
        yes(qtbot, f("labelled_at_bedside"))
    else:  # pragma: no cover - a new workflow needs a recipe here
        raise AssertionError(workflow)
