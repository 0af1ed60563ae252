"""Seeing patient data in the app is recorded like in the CLI: the board and the patient search are
``access.view`` events in the chain, and the super-user's audit export shows them."""

from __future__ import annotations

import io
import json

from PySide6.QtCore import Qt

from app.services.demo import DEMO_PASSWORD
from app.services.workstation import export_audit
from app.store.store import Store

from .conftest import sign_in, wait_idle
from .people import choose_patient


def audit_log(data_dir) -> list[dict]:
    """The audit trail as a super-user exports it (``tideover audit export``)."""
    store = Store.open(data_dir, "sam", DEMO_PASSWORD)
    try:
        out = io.StringIO()
        export_audit(store, out)
    finally:
        store.close("exit")
    return [json.loads(line) for line in out.getvalue().splitlines()]


def views_by(log: list[dict], user: str) -> list[dict]:
    return [e["payload"] for e in log if e["type"] == "access.view" and e["actor"]["user_id"] == user]


def test_the_board_and_the_patient_search_are_in_the_audit_log(qtbot, window, demo_dir):
    assert views_by(audit_log(demo_dir), "nina") == []
    sign_in(qtbot, window)
    shown = window.board.model.total
    qtbot.keyClick(window.board.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    choose_patient(qtbot, window, "Zztest-Kerr")
    found = window.capture.picker.results_model.rowCount()
    wait_idle(qtbot, window)
    window.session.close_now()

    views = views_by(audit_log(demo_dir), "nina")
    boards = [v for v in views if v["what"] == "board"]
    searches = [v for v in views if v["what"] == "patient_search"]
    assert boards and boards[0]["count"] == shown
    assert searches and searches[-1]["count"] == found  # the search the nurse typed, with what it found
