"""Background sync against the real central over HTTP on loopback: what the banner says, what the central holds.

The central is the one ``tideover demo`` embeds (sync.central under uvicorn in a thread); the stores
are real SQLCipher demo stores. Every wait is on what the person sees or what the central holds.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog
from store_rows import rows

from app.services import patients as pt
from app.services import tasks as ts
from app.services.central_link import LinkState
from app.services.demo import DEMO_PASSWORD, example_answers, synthetic_census
from app.services.demo_central import EmbeddedCentral, enroll_and_sync
from app.services.workstation import init_workstation
from app.store.store import Store
from app.ui.banner import Banner, HeldBackDialog
from sync.canonical import GENESIS_HASH
from sync.central.db import events
from sync.central.queries import list_quarantine
from sync.checkpoint import new_signing_key, public_key_text, sign_checkpoint, sign_enrollment
from sync.events import new_id, seal

from .conftest import SYNC_WAIT_MS, WAIT_MS, sign_in
from .people import choose_patient, choose_workflow, fill_required


def central_has_task(central: EmbeddedCentral, task_id: str) -> bool:
    with central.db.read() as conn:
        return conn.execute(sa.select(events.c.event_id).where(
            events.c.task_id == task_id, events.c.type == "task.created")).first() is not None


def pending(window) -> int:
    found = re.fullmatch(r"Waiting to sync: (\d+)", window.banner.pending.text())
    return int(found.group(1)) if found else -1


def reachable(window) -> bool:
    return window.banner.central.text().startswith("Central: reachable · last sync")


def capture_discharge(qtbot, window) -> str:
    """Ctrl+N, the discharge form's required answers, a census patient, Ctrl+S; the new task's id."""
    qtbot.keyClick(window.board.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    choose_workflow(qtbot, window, "Inpatient discharge")
    fill_required(qtbot, window.capture.form, "inpatient_discharge")
    choose_patient(qtbot, window, "Zztest-Kerr")
    qtbot.keyClick(window.capture.save_button, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.detail and window.detail.task is not None
                    and window.detail.task["workflow"] == "inpatient_discharge", timeout=WAIT_MS)
    assert window.detail.status.text() == "Status: requested"
    return window.detail.task["task_id"]


def test_a_capture_reaches_the_central_and_the_banner_says_live(qtbot, make_window, enrolled_dir, central):
    window = make_window(enrolled_dir, sync_every_ms=120_000)  # only sign-in and the capture trigger a sync
    sign_in(qtbot, window)
    qtbot.waitUntil(lambda: reachable(window) and pending(window) == 0, timeout=SYNC_WAIT_MS)
    assert window.banner.mode.text() == "LIVE"

    task_id = capture_discharge(qtbot, window)
    qtbot.waitUntil(lambda: central_has_task(central, task_id), timeout=SYNC_WAIT_MS)
    qtbot.waitUntil(lambda: pending(window) == 0, timeout=SYNC_WAIT_MS)
    assert reachable(window) and window.banner.mode.text() == "LIVE"
    assert not window.banner.held_back.isVisible()


def test_captures_queue_while_the_central_is_down_and_sync_resumes_by_itself(qtbot, make_window, enrolled_dir,
                                                                            central):
    window = make_window(enrolled_dir, sync_every_ms=400)
    sign_in(qtbot, window)
    qtbot.waitUntil(lambda: reachable(window) and pending(window) == 0, timeout=SYNC_WAIT_MS)

    central.stop()
    task_id = capture_discharge(qtbot, window)  # the nurse notices nothing but the banner
    qtbot.waitUntil(lambda: window.banner.central.text().startswith("Central: unreachable since"),
                    timeout=SYNC_WAIT_MS)
    qtbot.waitUntil(lambda: pending(window) > 0, timeout=SYNC_WAIT_MS)
    assert window.banner.mode.text() == "DOWNTIME"
    assert re.fullmatch(r"Central: unreachable since \d\d:\d\d", window.banner.central.text())
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]  # no popup
    assert window.notice.text() == "Task saved on this workstation."

    back = EmbeddedCentral(central.db_path.parent, port=central.port).start().wait_ready()
    try:
        qtbot.waitUntil(lambda: reachable(window) and pending(window) == 0, timeout=SYNC_WAIT_MS)
        assert window.banner.mode.text() == "LIVE"
        assert central_has_task(back, task_id)
    finally:
        window.session.close_now()
        back.stop()


def test_a_task_from_another_workstation_appears_on_the_board(qtbot, make_window, enrolled_dir, central,
                                                                tmp_path):
    window = make_window(enrolled_dir, sync_every_ms=400)
    sign_in(qtbot, window)
    qtbot.waitUntil(lambda: reachable(window), timeout=SYNC_WAIT_MS)
    before = window.board.model.total
    model = window.board.model
    chosen = model.task_at(2)["task_id"]
    window.board.table.selectRow(2)  # the nurse is looking at a row when the other task arrives

    other, _code = init_workstation(tmp_path / "second", site_id="demo-general", unit_id="ward-7",
                                    admin_id="admin", admin_name="Ada Admin (IT)", password=DEMO_PASSWORD)
    try:
        pt.import_census(other, synthetic_census(24, "ward-7"))
        made = ts.capture_task(other, "referral", "P100011", example_answers("referral"))
        summary = enroll_and_sync(other, central)
        assert summary["results"]["accepted"] > 0 and summary["pending"] == 0
    finally:
        other.close("exit")

    qtbot.waitUntil(lambda: model.total == before + 1, timeout=SYNC_WAIT_MS)
    row = next(r for r in range(model.rowCount()) if model.task_at(r)["task_id"] == made.task_id)
    assert model.row_text(row)[2] == "Referral" and "ZZTEST-KERR" in " ".join(model.row_text(row))
    assert window.board.selected_task_id() == chosen  # still on the row she was looking at


def push_as_another_device(central: EmbeddedCentral, event_id: str) -> None:
    """Another enrolled device takes ``event_id`` first, so the workstation's own event of that id is
    quarantined (id reused with other content): a real held-back event, made by the real central."""
    key, device_id = new_signing_key(), new_id()
    request = {"token": central.enroll_token("demo-general", "ward-7"), "device_id": device_id,
               "site_id": "demo-general", "unit_id": "ward-7", "public_key": public_key_text(key)}
    enrolled = httpx.post(f"{central.url}/v1/enroll", json={**request, "proof": sign_enrollment(key, request)})
    now = "2026-11-25T08:00:00.000Z"
    body = seal({"event_id": event_id, "type": "device.initialized", "site_id": "demo-general",
                 "unit_id": "ward-7", "device_id": device_id, "device_seq": 1,
                 "actor": {"user_id": "system", "display_name": "Tideover workstation", "role": "admin"},
                 "occurred_at": now,
                 "recorded_at": now, "hlc": "1764057600001.00000", "source": f"workstation:{device_id}",
                 "correlation_id": new_id(), "mode": "synthetic", "payload": {"public_key": public_key_text(key)}},
                GENESIS_HASH).body()
    checkpoint = sign_checkpoint(key, device_id, 1, body["hash"], now).model_dump()
    pushed = httpx.post(f"{central.url}/v1/push", headers={"Authorization": f"Bearer {enrolled.json()['credential']}"},
                        content=json.dumps({"device_id": device_id, "checkpoint": checkpoint, "events": [body],
                                            "backlog": 0}))
    assert [r["result"] for r in pushed.json()["results"]] == ["accepted"], pushed.text


def test_an_event_the_central_quarantines_is_a_count_and_a_list_for_the_super_user(qtbot, make_window,
                                                                                  enrolled_dir, central):
    store = Store.open(enrolled_dir, "admin", DEMO_PASSWORD)
    try:
        taken = rows(store, "SELECT event_id, device_seq FROM events WHERE type = 'task.created' "
                            "ORDER BY device_seq LIMIT 1")[0]
    finally:
        store.close("exit")
    push_as_another_device(central, taken["event_id"])

    window = make_window(enrolled_dir, sync_every_ms=120_000)
    sign_in(qtbot, window, user="sam")
    held = window.banner.held_back
    qtbot.waitUntil(lambda: held.isVisible() and reachable(window), timeout=SYNC_WAIT_MS)
    assert held.text() == "⚠ 1 held back"
    assert f"#{taken['device_seq']} task.created: quarantined (id_reused)" in held.toolTip()
    assert pending(window) == 0  # the rest of the chain went on
    assert [(q["event_id"], q["reason"]) for q in list_quarantine(central.db)] == [(taken["event_id"], "id_reused")]

    qtbot.mouseClick(held, Qt.MouseButton.LeftButton)
    dialog = next(w for w in window.findChildren(HeldBackDialog) if w.isVisible())
    assert f"#{taken['device_seq']}  task.created" in dialog.listing.toPlainText()
    dialog.reject()


def test_held_back_events_are_a_count_with_their_reasons(qtbot):
    banner = Banner()
    qtbot.addWidget(banner)
    banner.show()
    held = [{"event_id": "e1", "device_seq": 7, "state": "quarantined", "reason": "unknown_type",
             "type": "task.answers_updated", "task_id": "t1"},
            {"event_id": "e2", "device_seq": 9, "state": "rejected", "reason": "invalid_fields",
             "type": "task.transitioned", "task_id": "t1"}]
    link = LinkState(enrolled=True, reachable=True, held_back=held)
    link.last_ok = datetime.now(UTC)
    banner.show_status({"name": "Sam Reyes", "role": "super_user", "mode": "downtime"},
                       {"unit_id": "ward-7", "pending_sync": 0, "central_url": "http://x"}, link=link)
    assert banner.held_back.isVisible() and banner.held_back.text() == "⚠ 2 held back"
    assert "#7 task.answers_updated: quarantined (unknown_type)" in banner.held_back.toolTip()
    assert "#9 task.transitioned: rejected (invalid_fields)" in banner.held_back.toolTip()


def test_a_plain_http_central_is_warned_on_the_banner(qtbot):
    from app.services.enrollment import plain_http_warning

    banner = Banner()
    qtbot.addWidget(banner)
    banner.show()
    nurse = {"name": "Nina Okafor", "role": "nurse", "mode": "downtime"}
    lan = {"central_url": "http://central.ward7.test:8470"}
    warning = plain_http_warning(lan)
    banner.show_status(nurse, {"unit_id": "ward-7", "pending_sync": 0, **lan, "central_plain_http": True,
                               "warnings": [warning]})
    assert banner.plain_http.isVisible() and banner.plain_http.text() == "⚠ Unencrypted link"
    assert banner.plain_http.toolTip() == warning and "plain HTTP" in warning
    loopback = {"central_url": "http://127.0.0.1:8470"}
    assert plain_http_warning(loopback) is None
    banner.show_status(nurse, {"unit_id": "ward-7", "pending_sync": 0, **loopback, "central_plain_http": False,
                               "warnings": []})
    assert not banner.plain_http.isVisible()
    banner.show_locked(training=False)
    assert not banner.plain_http.isVisible()
