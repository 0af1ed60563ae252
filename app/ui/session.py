"""A signed-in session: which store folder, the open store, its worker, and locking after idle.

The store object is only ever used on the worker thread: screens ask ``session.call(fn, ...)`` and
get ``fn(store, ...)``'s result back on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from app.services import profiles, workstation
from app.services.workstation import Store
from forms.vocabulary import TRAINING_MODE
from sync.clock import Clock

from .worker import StoreWorker

log = logging.getLogger(__name__)

ACTIVITY_EVENTS = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.Wheel,
    QEvent.Type.TouchBegin, QEvent.Type.TabletPress,
})


class Session(QObject):
    """Unlock, lock and run store calls for one workstation folder (live or training)."""

    unlocked = Signal()
    locked = Signal(str)  # why: "idle", "manual", "exit"
    lock_failed = Signal(str)  # the store closed, but its lock event or checkpoint could not be written

    def __init__(self, data_dir: Path, *, training: bool = False, clock: Clock | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.clock = clock or Clock()  # the app's one clock, shared with the store; a test passes a skewed one
        self.training = training
        self.worker = StoreWorker(self)
        self.store: Store | None = None
        self.identity: dict = {}
        self.overlay = None  # the site profile's form overlay once unlocked (None: no profile)
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.timeout.connect(lambda: self.lock("idle"))
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    # -- unlocking ---------------------------------------------------------------------------
    def unlock(self, user: str, password: str, on_error: Callable[[Exception], None]) -> None:
        self.worker.run(workstation.unlock, self.data_dir, user, password, self.clock, on_done=self._opened,
                        on_error=on_error)

    def unlock_break_glass(self, code: str, reason: str, name: str,
                           on_error: Callable[[Exception], None]) -> None:
        self.worker.run(workstation.unlock_break_glass, self.data_dir, code, reason, name, self.clock,
                        on_done=self._opened, on_error=on_error)

    def _opened(self, store: Store) -> None:
        self.store = store
        self.identity = {"user_id": store.actor.user_id, "name": store.actor.display_name,
                         "role": store.actor.role, "site_id": store.site_id, "unit_id": store.unit_id,
                         "mode": TRAINING_MODE if self.training else store.settings["mode"]}
        self.auto_lock_ms = int(float(store.settings["auto_lock_seconds"]) * 1000)
        self._idle.start(self.auto_lock_ms)
        # The site profile's form overlay (labels, choices, enabled workflows), read on the worker; the
        # worker runs calls in order, so every screen's later store call comes after it.
        self.overlay = None
        self.call(profiles.site_overlay, on_done=self._took_overlay)
        self.unlocked.emit()

    def _took_overlay(self, overlay) -> None:
        self.overlay = overlay

    @property
    def is_unlocked(self) -> bool:
        return self.store is not None

    # -- locking -----------------------------------------------------------------------------
    def lock(self, why: str = "manual") -> None:
        """Close the store (recording why) and tell the window to go back to the unlock screen."""
        if self.store is None:
            return
        store, self.store, self.identity = self.store, None, {}
        self._idle.stop()
        self.worker.run(store.close, why, on_error=self._lock_not_recorded)
        self.locked.emit(why)

    def _lock_not_recorded(self, err: Exception) -> None:
        """The store is closed whatever happened (Store.close), but the record of the lock or its signed
        checkpoint is missing: say so, never drop it (the audit trail would show no lock)."""
        log.error("locking the store: the lock event or checkpoint was not written (%s: %s)",
                  type(err).__name__, getattr(err, "kind", ""))
        self.lock_failed.emit(f"The screen is locked, but the lock could not be recorded: {err} "
                              f"Call IT if this happens again.")

    def close_now(self) -> None:
        """On exit: close the store and wait for the worker, so the lock is on disk before we quit."""
        if self.store is not None:
            self.lock("exit")
        self.worker.wait()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt name
        if self.store is not None and event.type() in ACTIVITY_EVENTS:
            self._idle.start(self.auto_lock_ms)
        return False

    # -- store calls -------------------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
             on_error: Callable[[Exception], None] | None = None, **kwargs: Any) -> None:
        """Run ``fn(store, *args, **kwargs)`` on the worker; nothing runs when the session is locked."""
        store = self.store
        if store is None:
            return
        self.worker.run(fn, store, *args, on_done=self._if_same(store, on_done),
                        on_error=self._if_same(store, on_error), **kwargs)

    def _if_same(self, store: Store, callback: Callable | None) -> Callable | None:
        # A result that arrives after a lock must not paint patient data on the unlock screen.
        if callback is None:
            return None

        def deliver(value: Any) -> None:
            if self.store is store:
                callback(value)
        return deliver
