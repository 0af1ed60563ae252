"""The desktop's part of ``tideover self-test``: the Qt platform plugin loads and the stylesheet is there."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QLibraryInfo, qVersion
from PySide6.QtWidgets import QApplication

from .theme import load_stylesheet


def qt_checks() -> list[tuple[str, bool, str]]:
    """(name, ok, detail) for Qt: its plugin folder, the platform plugin this machine will use, the stylesheet."""
    checks = []
    plugins = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)
    platforms = os.path.join(plugins, "platforms")
    names = sorted(os.listdir(platforms)) if os.path.isdir(platforms) else []
    checks.append(("Qt platform plugins", bool(names), f"Qt {qVersion()}: {', '.join(names) or 'none in ' + platforms}"))
    if not names:
        return checks
    # Without a display Qt would abort on the desktop plugin: the offscreen one is what can be tried.
    on_display = sys.platform != "linux" or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    platform = os.environ.get("QT_QPA_PLATFORM") or ("" if on_display else "offscreen")
    app = QApplication.instance() or QApplication(["tideover", *(["-platform", platform] if platform else [])])
    checks.append(("Qt platform plugin", bool(app.platformName()), f"{app.platformName()} loaded"))
    try:
        app.setStyleSheet(load_stylesheet())
        checks.append(("stylesheet", True, "loaded"))
    except Exception as err:  # noqa: BLE001 - the answer is the failure
        checks.append(("stylesheet", False, str(err)))
    return checks
