"""`tideover demo` opens the real unlock screen on the throwaway store, pre-filled for nina."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.services.demo import DEMO_PASSWORD, seed_demo
from app.ui.main import run_demo
from app.ui.main_window import MainWindow


def test_demo_shows_unlock_prefilled_with_the_demo_password_hint(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    store, _made = seed_demo(tmp_path / "store")
    seen = {}

    def look_then_close() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(50, look_then_close)
            return
        window = windows[0]
        seen.update(screen=window.stack.currentWidget() is window.unlock, user=window.unlock.user.text(),
                    hint=window.unlock.hint.text())
        window.close()

    QTimer.singleShot(0, look_then_close)
    assert run_demo(store, tmp_path) == 0
    assert seen["screen"] and seen["user"] == "nina"
    assert DEMO_PASSWORD in seen["hint"]
    assert store.db is None  # the demo's own sign-in was closed; the person signs in for real


def test_demo_without_a_display_falls_back_to_the_printout(tmp_path, monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    store, _made = seed_demo(tmp_path / "store")
    try:
        assert run_demo(store, tmp_path) is None
        assert store.db is not None  # untouched: the CLI goes on to print the board with it
    finally:
        store.close("exit")
