"""The desktop app takes the site profile's forms: only the workflows it switches on are offered, with
the site's labels."""

from __future__ import annotations

from profile_helpers import ProfileKit
from PySide6.QtCore import Qt

from app.services import profiles
from app.services.demo import DEMO_PASSWORD
from app.store.store import Store

from .conftest import WAIT_MS, sign_in


def test_capture_offers_only_the_profile_s_workflows_with_its_labels(qtbot, make_window, demo_dir):
    store = Store.open(demo_dir, "admin", DEMO_PASSWORD)
    try:
        kit = ProfileKit(site=store.site_id, unit=store.unit_id)
        overlay = {"labels": {"ed_triage": {"chief_complaint": "Reason for attending"}}}
        profiles.apply_profile(store, kit.signed(enabled_workflows=["ed_triage", "referral"], form_overlay=overlay),
                               kit.public)
    finally:
        store.close("exit")
    window = make_window(demo_dir)
    sign_in(qtbot, window)
    qtbot.keyClick(window.board.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    capture = window.capture
    qtbot.waitUntil(lambda: capture.workflow.count() == 2, timeout=WAIT_MS)
    assert [capture.workflow.itemText(i) for i in range(2)] == ["ED triage", "Referral"]
    assert capture.form.field("chief_complaint").label.text().startswith("Reason for attending")
