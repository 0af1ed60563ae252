"""Training mode: its own store of synthetic data, a TRAINING watermark on every screen and printout."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from store_rows import rows

from app.services.training import TRAINING_PASSWORD, training_dir
from app.store import eventlog
from app.store.store import Store

from .conftest import WAIT_MS, read_store, sign_in
from .people import click_box
from .test_printing import pdf_text, print_to_pdf


def test_training_store_watermark_and_printout(qtbot, window, demo_dir, tmp_path):
    live_events = read_store(demo_dir, "SELECT count(*) AS n FROM events")[0]["n"]
    screen = window.unlock
    qtbot.mouseClick(screen.training_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.hint.text().startswith("TRAINING:"), timeout=WAIT_MS)
    assert window.banner.mode.text() == "TRAINING · LOCKED"
    assert window.watermark.isVisible()
    assert TRAINING_PASSWORD in screen.hint.text()

    sign_in(qtbot, window, "colm", TRAINING_PASSWORD)
    assert window.banner.mode.text() == "TRAINING"
    qtbot.waitUntil(lambda: window.banner.central.isVisible(), timeout=WAIT_MS)
    assert window.banner.central.text() == "Practice only: nothing leaves this store"
    assert not window.banner.pending.isVisible()
    assert window.watermark.isVisible()
    assert window.watermark.geometry() == window.centralWidget().rect()
    for show in (window.new_task, window.show_board):
        show()
        assert window.watermark.isVisible()

    # Dialogs opened in training carry the watermark too.
    window.new_task()
    qtbot.mouseClick(window.capture.picker.register_button, Qt.MouseButton.LeftButton)
    dialog = window.capture.picker.register_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT_MS)
    assert dialog.findChild(type(window.watermark)).isVisible()
    dialog.reject()
    window.show_board()

    pdf = tmp_path / "training-board.pdf"
    print_to_pdf(qtbot, window, pdf)
    text = pdf_text(pdf)
    assert "TRAINING · Tideover · Unit board" in text
    assert "TRAINING · site training · unit training-ward" in text  # the mode line under the title

    window.session.close_now()
    store = Store.open(training_dir(demo_dir), "sam", TRAINING_PASSWORD)
    try:
        modes = {json.loads(b)["mode"] for b in eventlog.all_bodies(store)}
        printed = rows(store, "SELECT count(*) AS n FROM events WHERE type = 'access.print'")[0]["n"]
    finally:
        store.close("exit")
    assert modes == {"training"}
    assert printed == 1
    # Nothing of the practice went into the live store.
    live_after = read_store(demo_dir, "SELECT count(*) AS n FROM events WHERE type NOT LIKE 'access.%'")[0]["n"]
    assert live_after <= live_events


def test_leaving_training_returns_to_the_live_store(qtbot, window, demo_dir):
    screen = window.unlock
    click_box(qtbot, screen.training_button)
    qtbot.waitUntil(lambda: screen.hint.text().startswith("TRAINING:"), timeout=WAIT_MS)
    qtbot.mouseClick(screen.training_button, Qt.MouseButton.LeftButton)
    assert not window.watermark.isVisible()
    assert window.banner.mode.text() == "LOCKED"
    sign_in(qtbot, window)
    assert window.banner.mode.text() == "DOWNTIME"
    assert window.session.data_dir == demo_dir
