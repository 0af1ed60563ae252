"""Break-glass: the sealed code, a name and a reason unlock the workstation, flagged for review."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from app.services.workstation import init_workstation
from app.store import eventlog
from app.store.store import Store

from .conftest import WAIT_MS

ADMIN_PASSWORD = "correct horse battery staple ward seven"


def test_break_glass_unlock_is_recorded_with_name_and_reason(qtbot, make_window, tmp_path):
    store, code = init_workstation(tmp_path / "store", site_id="site-x", unit_id="ward-9", admin_id="ada",
                                   password=ADMIN_PASSWORD)
    store.close("exit")
    window = make_window(tmp_path / "store")
    qtbot.mouseClick(window.unlock.break_glass_button, Qt.MouseButton.LeftButton)
    dialog = window.unlock.break_glass_dialog
    qtbot.keyClicks(dialog.code, code)
    qtbot.keyClicks(dialog.name, "Nurse Testperson Lambda")
    dialog.reason.setFocus()
    qtbot.keyClicks(dialog.reason, "All accounts locked during outage, patient arriving")
    qtbot.mouseClick(dialog.submit, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.board, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.banner.who.text().startswith("Break-glass: Nurse Testperson Lambda"),
                    timeout=WAIT_MS)
    window.session.close_now()

    store = Store.open(tmp_path / "store", "ada", ADMIN_PASSWORD)
    try:
        bodies = [json.loads(b) for b in eventlog.bodies_of_type(store, "access.sign_in")]
    finally:
        store.close("exit")
    glass = [b for b in bodies if b["payload"].get("method") == "break_glass"]
    assert len(glass) == 1
    assert glass[0]["payload"]["reason"] == "All accounts locked during outage, patient arriving"
    assert glass[0]["actor"]["display_name"] == "Break-glass: Nurse Testperson Lambda"
