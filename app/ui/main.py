"""Starting the desktop app: ``tideover`` (no command) and ``tideover demo``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from .compat import refuse_bad_runtime
from .theme import apply_theme

DEFAULT_SIZE = (1366, 768)
# benchmarks/installer.py sets this to time start-up (frozen and from source alike): at the unlock
# screen's first paint the app prints the wall-clock time and exits. Nothing else reads it.
START_PROBE_ENV = "TIDEOVER_EXIT_AT_UNLOCK_PAINT"


class _ExitAtFirstPaint(QObject):
    def eventFilter(self, obj, ev):  # noqa: N802 - Qt's name
        if ev.type() == QEvent.Type.Paint:
            print(f"unlock-painted {time.time():.6f}", flush=True)
            os._exit(0)
        return False


def has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))


def make_app() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Tideover")
    app.setOrganizationName("Tideover")
    apply_theme(app)
    return app


def open_window(data_dir: Path, *, user: str = "", hint: str = ""):
    from .main_window import MainWindow

    window = MainWindow(data_dir, user=user, hint=hint)
    window.resize(*DEFAULT_SIZE)
    window.show()
    return window


def run_app(args) -> int:
    """``tideover`` with no command: the unlock screen for this workstation's store."""
    if not has_display():
        print("tideover: no display for the desktop app; use a command (see `tideover --help`).", file=sys.stderr)
        return 1
    refused = refuse_bad_runtime()
    if refused is not None:
        return refused
    from app.services.workstation import default_data_dir

    data_dir = Path(args.data_dir) if getattr(args, "data_dir", None) else default_data_dir()
    app = make_app()
    window = open_window(data_dir, user=getattr(args, "user", None) or os.environ.get("TIDEOVER_USER", ""))
    if os.environ.get(START_PROBE_ENV):
        window.unlock.installEventFilter(_ExitAtFirstPaint(window))
    code = app.exec()
    del window
    return int(code)


def run_demo(store, data_dir) -> int | None:
    """``tideover demo``: the real unlock screen on the throwaway store, pre-filled for nina.

    Returns None (headless printout instead) when there is no display.
    """
    if not has_display():
        return None
    refused = refuse_bad_runtime()
    if refused is not None:
        return refused
    from app.services.demo import DEMO_PASSWORD

    store_dir = Path(store.data_dir)
    store.close("exit")
    app = make_app()
    hint = (f"DEMO workstation with synthetic patients. Password for nina (nurse), colm (unit coordinator) "
            f"and sam (super-user): {DEMO_PASSWORD}")
    window = open_window(store_dir, user="nina", hint=hint)
    code = app.exec()
    del window
    return int(code)


def self_test() -> list[tuple[str, bool, str]]:
    """The desktop's checks for ``tideover self-test`` (app/ui/selftest.py)."""
    from .selftest import qt_checks

    return qt_checks()
