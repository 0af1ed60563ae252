"""The banner across the top of every screen: mode, who is signed in, central, pending, census age."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.services.central_link import central_view, last_sync_text
from app.services.wording import age_text
from forms.vocabulary import TRAINING_MODE
from sync.clock import utc_now

from .theme import named

CENSUS_STALE_S = 4 * 3600  # an older census gets a warning sign: new admissions may be missing


def clock_warning(status: dict) -> tuple[str, str] | None:
    """(text, tooltip) when the central measured this workstation's clock more than 2 min off, else None."""
    offset = status.get("clock_offset_s")
    if not status.get("clock_off") or offset is None:
        return None
    way = "fast" if offset > 0 else "slow"
    text = f"⚠ Clock {age_text(max(60, round(abs(offset) / 60) * 60))} {way}"  # to the nearest minute
    return text, (f"The central measured this workstation's clock {abs(offset):.0f} s {way} at the last sync "
                  f"({status.get('clock_checked_at') or 'time unknown'}). Captures are kept and shared, but their "
                  f"times are off: ask IT to set the clock right.")


def state_text(state: str) -> str:
    """'quarantined', 'rejected' (by the central), or set aside here: pulled, but this workstation could not take it."""
    return "set aside here, from another workstation" if state == "set_aside" else state


def held_back_text(events: list[dict]) -> str:
    """The tooltip of the held-back count: which events the central would not take, or this workstation
    could not take from it, and why."""
    lines = [f"#{e['device_seq']} {e['type']}: {state_text(e['state'])} ({e.get('reason') or 'no reason given'})"
             for e in events[:10]]
    if len(events) > 10:
        lines.append(f"… and {len(events) - 10} more")
    return "Held back from the sync; a super-user reviews them:\n" + "\n".join(lines)


class Banner(QFrame):
    """Always visible; ``show_locked`` when nobody is signed in, ``show_status`` once unlocked."""

    held_back_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setAccessibleName("Status banner")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 12, 6)
        row.setSpacing(18)
        self.mode = named(QLabel("LOCKED"), "Mode")
        self.mode.setObjectName("modeBadge")
        self.who = named(QLabel(""), "Signed in as")
        self.central = named(QLabel(""), "Central server")
        self.pending = named(QLabel(""), "Waiting to sync")
        self.last_sync = named(QLabel(""), "Last sync")
        self.held_back = named(QPushButton(""), "Events held back by the central")
        self.held_back.setObjectName("heldBack")
        self.held_back.setFlat(True)
        self.held_back.setCursor(Qt.CursorShape.PointingHandCursor)
        self.held_back.clicked.connect(self.held_back_requested)
        self.census = named(QLabel(""), "Census age")
        self.plain_http = named(QLabel("⚠ Unencrypted link"), "Warning: the link to the central is not encrypted")
        self.plain_http.setObjectName("plainHttpWarning")
        self.clock = named(QLabel(""), "Clock warning")
        self.clock.setObjectName("clockWarning")
        self.lock_button = named(QPushButton("Lock (Ctrl+L)"), "Lock the workstation")
        row.addWidget(self.mode)
        row.addWidget(self.who)
        row.addStretch(1)
        for w in (self.central, self.plain_http, self.pending, self.held_back, self.clock, self.last_sync, self.census,
                  self.lock_button):
            row.addWidget(w)
        self._status_widgets = (self.central, self.pending, self.last_sync, self.census, self.lock_button)
        self.show_locked(training=False)

    def _set_mode(self, mode: str) -> None:
        self.setProperty("mode", mode)
        self.style().unpolish(self)
        self.style().polish(self)
        self.mode.setText(mode.upper())

    def show_mode(self, mode: str) -> None:
        """At once on unlock; the rest of the banner follows when the store has answered."""
        self._set_mode(mode)

    def show_locked(self, *, training: bool) -> None:
        self._set_mode("training" if training else "locked")
        self.mode.setText("TRAINING · LOCKED" if training else "LOCKED")
        self.who.setText("Nobody signed in")
        for w in (*self._status_widgets, self.held_back, self.plain_http, self.clock):
            w.hide()

    def show_status(self, identity: dict, status: dict, now: datetime | None = None, link=None) -> None:
        """Paint the signed-in banner from the store's ``status`` and the background sync's ``link`` state."""
        now = now or utc_now()
        view = central_view(identity, status, link, now)
        self._set_mode(view.mode)
        role = (identity.get("role") or "").replace("_", " ")
        self.who.setText(f"{identity.get('name', '')} · {status.get('unit_id', '')}")
        self.who.setAccessibleDescription(f"signed in as {role}")
        self.central.setText(view.text)
        self.central.setToolTip("\n".join(filter(None, (view.tooltip, last_sync_text(status, now)))) if view.from_link
                                else "")
        pending = int(status.get("pending_sync") or 0)
        self.pending.setText(f"Waiting to sync: {pending}")
        self.last_sync.setText(last_sync_text(status, now))
        census_age = status.get("census_age_s")
        stale = census_age is not None and census_age > CENSUS_STALE_S
        self.census.setText(f"{'⚠ ' if stale else ''}Census: {age_text(census_age)} old")
        for w in self._status_widgets:
            w.show()
        if view.from_link:  # the central text says it (the tooltip too): room for the rest at 1366 px
            self.last_sync.hide()
        held = list(getattr(link, "held_back", None) or [])
        self.held_back.setText(f"⚠ {len(held)} held back")
        self.held_back.setToolTip(held_back_text(held) if held else "")
        self.held_back.setVisible(bool(held))
        plain = bool(status.get("central_plain_http"))
        self.plain_http.setToolTip(next(iter(status.get("warnings") or []), "") if plain else "")
        self.plain_http.setVisible(plain)
        warning = clock_warning(status)
        self.clock.setText(warning[0] if warning else "")
        self.clock.setToolTip(warning[1] if warning else "")
        self.clock.setVisible(warning is not None)
        if view.mode == TRAINING_MODE:  # practice never syncs: counts would only confuse
            self.pending.hide()
            self.last_sync.hide()
            self.held_back.hide()
            self.clock.hide()


class HeldBackDialog(QDialog):
    """For the super-user: this workstation's events the central quarantined or rejected, and events
    from other workstations this one could not take (set aside; the sync went on past them)."""

    def __init__(self, events: list[dict], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Held back by the central")
        self.setAccessibleName("Events held back by the central")
        box = QVBoxLayout(self)
        aside = sum(1 for e in events if e["state"] == "set_aside")
        box.addWidget(QLabel(f"The central would not take {len(events) - aside} event(s) from this workstation, and "
                             f"this workstation could not take {aside} from others. They are kept here; review them "
                             f"with IT\n(at the central, `tideover-central quarantine list` and `set-aside list`)."))
        self.listing = named(QPlainTextEdit(), "Held-back events")
        self.listing.setReadOnly(True)
        self.listing.setPlainText("\n".join(
            f"#{e['device_seq']}  {e['type']}  task {e.get('task_id') or '-'}  {state_text(e['state'])}: "
            f"{e.get('reason') or 'no reason given'}" for e in events))
        box.addWidget(self.listing)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        box.addWidget(close)
        self.resize(720, 320)
