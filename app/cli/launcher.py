"""The one place the ``tideover`` command hands over to the desktop app (Qt is imported only from here on).

The import contracts keep ``app.cli`` and ``app.ui`` apart except for this launcher's two imports.
"""

from __future__ import annotations

import sys


def _no_qt(err: ModuleNotFoundError) -> bool:
    """A build without Qt (a headless install): the only ImportError the launcher turns into a message.
    Any other (a module of the app itself failing to import) is a bug and goes up as a traceback."""
    return (err.name or "").split(".")[0] in ("PySide6", "shiboken6")


def launch_gui(args) -> int:
    try:
        from app.ui.main import run_app
    except ModuleNotFoundError as err:
        if not _no_qt(err):
            raise
        print("tideover: the desktop app is not available in this build; see `tideover --help`.",
              file=sys.stderr)
        return 1
    return run_app(args)


def launch_gui_demo(store, data_dir) -> int | None:
    """Open the desktop app on the demo store; None when no desktop app or display is available."""
    try:
        from app.ui.main import run_demo
    except ModuleNotFoundError as err:
        if not _no_qt(err):
            raise
        return None
    return run_demo(store, data_dir)


def desktop_self_test() -> list[tuple[str, bool, str]]:
    """The desktop app's self-test checks; one failed check when the desktop app is not in this build."""
    try:
        from app.ui.main import self_test
    except ImportError as err:
        return [("desktop app", False, f"not available in this build: {err}")]
    return self_test()
