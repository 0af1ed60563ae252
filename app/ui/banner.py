"""The banner across the top of every screen: mode, who is signed in, central, pending, census age."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from .theme import age_text, named

MODE_TEXT = {"live": "LIVE", "downtime": "DOWNTIME", "training": "TRAINING", "locked": "LOCKED"}
# The central counts as reachable when the last sync is this recent (the sync engine syncs often).
REACHABLE_WITHIN_S = 180
CENSUS_STALE_S = 4 * 3600  # an older census gets a warning sign: new admissions may be missing


def central_text(status: dict, now: datetime | None = None) -> str:
    """'Central: not enrolled', 'Central: reachable', or 'Central: NOT reachable' from store meta."""
    if not status.get("central_url"):
        return "Central: not enrolled"
    last = status.get("last_sync")
    if not last:
        return "Central: NOT reachable (never synced)"
    now = now or datetime.now(UTC)
    age = (now - datetime.fromisoformat(last.replace("Z", "+00:00"))).total_seconds()
    return "Central: reachable" if age <= REACHABLE_WITHIN_S else "Central: NOT reachable"


def last_sync_text(status: dict, now: datetime | None = None) -> str:
    last = status.get("last_sync")
    if not last:
        return "Last sync: never"
    now = now or datetime.now(UTC)
    age = (now - datetime.fromisoformat(last.replace("Z", "+00:00"))).total_seconds()
    return f"Last sync: {age_text(age)} ago"


class Banner(QFrame):
    """Always visible; ``show_locked`` when nobody is signed in, ``show_status`` once unlocked."""

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
        self.census = named(QLabel(""), "Census age")
        self.lock_button = named(QPushButton("Lock (Ctrl+L)"), "Lock the workstation")
        row.addWidget(self.mode)
        row.addWidget(self.who)
        row.addStretch(1)
        for w in (self.central, self.pending, self.last_sync, self.census, self.lock_button):
            row.addWidget(w)
        self.show_locked(training=False)

    def _set_mode(self, mode: str) -> None:
        self.setProperty("mode", mode)
        self.style().unpolish(self)
        self.style().polish(self)
        self.mode.setText(MODE_TEXT.get(mode, mode.upper()))

    def show_mode(self, mode: str) -> None:
        """At once on unlock; the rest of the banner follows when the store has answered."""
        self._set_mode(mode)

    def show_locked(self, *, training: bool) -> None:
        self._set_mode("training" if training else "locked")
        self.mode.setText("TRAINING · LOCKED" if training else "LOCKED")
        self.who.setText("Nobody signed in")
        for w in (self.central, self.pending, self.last_sync, self.census, self.lock_button):
            w.hide()

    def show_status(self, identity: dict, status: dict, now: datetime | None = None) -> None:
        self._set_mode(identity.get("mode") or status.get("mode") or "downtime")
        role = (identity.get("role") or "").replace("_", " ")
        self.who.setText(f"{identity.get('name', '')} · {status.get('unit_id', '')}")
        self.who.setAccessibleDescription(f"signed in as {role}")
        self.central.setText(central_text(status, now))
        pending = int(status.get("pending_sync") or 0)
        self.pending.setText(f"Waiting to sync: {pending}")
        self.last_sync.setText(last_sync_text(status, now))
        census_age = status.get("census_age_s")
        stale = census_age is not None and census_age > CENSUS_STALE_S
        self.census.setText(f"{'⚠ ' if stale else ''}Census: {age_text(census_age)} old")
        for w in (self.central, self.pending, self.last_sync, self.census, self.lock_button):
            w.show()
        if identity.get("mode") == "training":  # practice never syncs: counts would only confuse
            self.central.setText("Practice only: nothing leaves this store")
            self.pending.hide()
            self.last_sync.hide()
