"""Registering a temporary patient: a similar census name needs an explicit confirmation."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt

from .conftest import WAIT_MS, read_bodies, read_store, sign_in
from .people import click_box


def open_dialog(qtbot, window):
    window.new_task()
    picker = window.capture.picker
    qtbot.mouseClick(picker.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: getattr(picker, "register_dialog", None) is not None and
                    picker.register_dialog.isVisible(), timeout=WAIT_MS)
    return picker.register_dialog


def test_similar_name_warns_and_needs_confirmation(qtbot, window, demo_dir):
    sign_in(qtbot, window)
    dialog = open_dialog(qtbot, window)
    qtbot.keyClicks(dialog.family, "Zztest-Ashby")
    qtbot.keyClicks(dialog.given, "Alise")
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.warning.isVisible(), timeout=WAIT_MS)
    assert dialog.warning.text().startswith("WARNING:")
    listed = [dialog.similar_model.item(r).text() for r in range(dialog.similar_model.rowCount())]
    assert any("ZZTEST-ASHBY, Alice · P100001" in line for line in listed)
    assert not dialog.submit.isEnabled()  # no registration without the explicit confirmation

    click_box(qtbot, dialog.confirm)
    assert dialog.submit.isEnabled()
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    picker = window.capture.picker
    qtbot.waitUntil(lambda: picker.patient is not None, timeout=WAIT_MS)
    assert picker.selected.text().startswith("Chosen: ZZTEST-ASHBY, Alise · DT-ward-7-")
    assert "TEMPORARY" in picker.selected.text()

    window.session.close_now()
    payload = read_bodies(demo_dir, "WHERE type = 'patient.temp_registered'")[0]["payload"]
    assert payload["patient"]["given"] == "Alise"
    assert "P100001" in payload["similar_to"]


def test_use_the_census_patient_instead(qtbot, window, demo_dir):
    sign_in(qtbot, window)
    dialog = open_dialog(qtbot, window)
    qtbot.keyClicks(dialog.family, "Zztest-Ashby")
    qtbot.keyClicks(dialog.given, "Alice")
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.use_existing.isVisible(), timeout=WAIT_MS)
    qtbot.mouseClick(dialog.use_existing, Qt.MouseButton.LeftButton)
    picker = window.capture.picker
    assert picker.patient["patient_id"].startswith("P1000")
    window.session.close_now()
    assert read_store(demo_dir, "SELECT count(*) AS n FROM patients WHERE temporary = 1") == [{"n": 0}]


def test_new_name_registers_without_warning(qtbot, window):
    sign_in(qtbot, window)
    dialog = open_dialog(qtbot, window)
    qtbot.keyClicks(dialog.family, "Unknown")
    qtbot.keyClicks(dialog.given, "Male approx 40")
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    picker = window.capture.picker
    qtbot.waitUntil(lambda: picker.patient is not None, timeout=WAIT_MS)
    assert re.fullmatch(r"DT-ward-7-[0-9A-F]{4}-0001", picker.patient["patient_id"])
    assert not dialog.warning.isVisible()
