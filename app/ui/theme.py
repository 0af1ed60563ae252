"""Look and feel: the high-contrast stylesheet (app/ui/resources/, packaged with the app), and small
helpers every screen uses."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QBoxLayout,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from sync.errors import TideoverError

MIN_TARGET_PX = 40
STYLESHEET = "tideover.qss"


class StylesheetMissing(TideoverError):
    """The installed app has no stylesheet: an incomplete wheel or frozen build."""

    kind = "incomplete_install"


def stylesheet_path() -> Path:
    """The packaged stylesheet: app/ui/resources/ in a checkout, an installed wheel or a PyInstaller bundle."""
    return Path(str(resources.files("app.ui") / "resources" / STYLESHEET))


def load_stylesheet(path: Path | None = None) -> str:
    """The stylesheet's text; raise StylesheetMissing (never run unthemed quietly) when it is not there."""
    path = path or stylesheet_path()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StylesheetMissing(f"This Tideover installation is incomplete: its stylesheet {path} is missing. "
                                f"Reinstall Tideover or call IT.") from None


def apply_theme(app: QApplication) -> None:
    app.setStyleSheet(load_stylesheet())


def named(widget: QWidget, name: str, description: str | None = None) -> QWidget:
    """Give a control its accessible name (and tooltip-free description) for screen readers and tests."""
    widget.setAccessibleName(name)
    if description:
        widget.setAccessibleDescription(description)
    return widget


def set_role(widget: QWidget, role: str) -> QWidget:
    """Style hook: the stylesheet styles widgets by their ``role`` property (title, error, primary...)."""
    widget.setProperty("role", role)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
    return widget


def set_flag(widget: QWidget, name: str, value: bool) -> None:
    """Set a boolean style property (e.g. ``invalid``) and re-polish so the stylesheet sees it."""
    widget.setProperty(name, "true" if value else "false")
    widget.style().unpolish(widget)
    widget.style().polish(widget)



class _NoCopy(QObject):
    """Swallows the copy key on a view showing patient data (nothing reaches the clipboard by default)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt name
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride) and \
                isinstance(event, QKeyEvent) and (event.matches(QKeySequence.StandardKey.Copy) or
                                                  event.matches(QKeySequence.StandardKey.Cut)):
            event.accept()
            return event.type() == QEvent.Type.KeyPress
        return False


def no_copy(widget: QWidget) -> QWidget:
    """Keep patient data shown in ``widget`` off the clipboard: no copy key, no context menu."""
    widget.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
    target = widget.viewport() if hasattr(widget, "viewport") else widget
    for w in {widget, target}:
        guard = _NoCopy(w)
        w.installEventFilter(guard)
    return widget


def dialog_layout(dialog: QDialog, title: str, lead: str, *, role: str = "hint",
                  min_width: int = 560) -> tuple[QVBoxLayout, QFormLayout]:
    """Start a form dialog as every one of the app's starts: its title (for screen readers too), one
    line saying what it is for (``role``: hint or warning), then an empty form to fill."""
    dialog.setWindowTitle(title)
    dialog.setAccessibleName(title)
    dialog.setMinimumWidth(min_width)
    box = QVBoxLayout(dialog)
    line = set_role(QLabel(lead), role)
    line.setWordWrap(True)
    box.addWidget(line)
    return box, QFormLayout()


def hidden_message(role: str, name: str) -> QLabel:
    """An empty, word-wrapped line for what a screen has to say (``role``: error, warning), hidden
    until it says something."""
    label = named(set_role(QLabel(""), role), name)
    label.setWordWrap(True)
    label.hide()
    return label


def button_row(box: QBoxLayout, *buttons: QWidget) -> None:
    """The buttons at the foot of a screen or dialog, to the right, in reading order (Cancel first)."""
    row = QHBoxLayout()
    row.addStretch(1)
    for button in buttons:
        row.addWidget(button)
    box.addLayout(row)
