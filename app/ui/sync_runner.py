"""Background sync while someone is signed in: tiers 1 and 2 of the fallback.

An enrolled workstation syncs right after each capture or transition and on a timer; while the
central is unreachable the timer backs off and captures keep going to the local outbox. The sync
itself (``app.services.sync.sync``) runs on the session's one store worker, like every store call.
While the central is unreachable, a reachability probe on a thread of its own (it never touches the
store) goes first, so a dead or silent network never holds the store worker and a nurse's capture
never waits behind it. Failures become banner state, never popups.
"""

from __future__ import annotations

import random

from PySide6.QtCore import QObject, QTimer, Signal

from app.services import central_link
from app.services import sync as sync_service
from app.services.central_link import SYNC_EVERY_MS, LinkState
from app.services.sync_link import probe, read_link, sync_once

from .session import Session
from .worker import StoreWorker


# -- on the GUI thread ------------------------------------------------------------------------------
class SyncRunner(QObject):
    """Runs the background sync for a session; ``state`` is what the banner shows.

    ``start()`` on unlock, ``stop()`` on lock; ``sync_now()`` after a capture or transition.
    """

    changed = Signal()  # state changed: repaint the banner, refresh the pending count
    pulled = Signal(int)  # events from other workstations arrived: reload the board

    def __init__(self, session: Session, *, every_ms: int = SYNC_EVERY_MS, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.every_ms = session, every_ms
        self.state = LinkState()
        self._rng = random.Random()  # jitter: the workstations of a ward drift apart
        self._link: sync_service.Link | None = None
        self._generation = 0  # bumped on stop: answers of an earlier session are dropped
        self._in_flight = self._again = False
        self._network = StoreWorker(self)  # its own thread for probes; it is never given the store
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.sync_now)

    @property
    def active(self) -> bool:
        return self._link is not None and self.session.is_unlocked and not self.session.training

    def start(self) -> None:
        """Find out whether this store is enrolled; if so, sync at once and then on the timer."""
        self.stop()
        if self.session.training:  # practice never leaves the store
            return
        generation = self._generation
        self.session.call(read_link, on_done=lambda found: self._enrolled(generation, found),
                          on_error=lambda err: self._failed(generation, err))

    def stop(self) -> None:
        self._generation += 1
        self._timer.stop()
        self._link, self._in_flight, self._again = None, False, False
        self.state = LinkState()

    def sync_now(self) -> None:
        """Sync as soon as possible; a request during a sync runs once more right after it."""
        if not self.active:
            return
        if self._in_flight:
            self._again = True
            return
        self._timer.stop()
        self._in_flight, self._again = True, False
        generation = self._generation
        if self.state.reachable:
            self._sync(generation)
            return
        self._network.run(probe, self._link, on_done=lambda _ok: self._sync(generation),
                          on_error=lambda err: self._failed(generation, err))

    def _enrolled(self, generation: int, found: tuple) -> None:
        if generation != self._generation:
            return
        self._link, held_back = found
        self.state = LinkState(enrolled=self._link is not None, held_back=held_back)
        self.changed.emit()
        self.sync_now()

    def _sync(self, generation: int) -> None:
        if generation != self._generation or not self.active:
            return
        self.session.call(sync_once, self._link, on_done=lambda summary: self._synced(generation, summary),
                          on_error=lambda err: self._failed(generation, err))

    def _synced(self, generation: int, summary: dict) -> None:
        if generation != self._generation:
            return
        central_link.synced(self.state, summary, self.session.clock.now())
        self._finish()
        if summary.get("pulled"):
            self.pulled.emit(summary["pulled"])

    def _failed(self, generation: int, err: Exception) -> None:
        if generation != self._generation:
            return
        self.state = central_link.failed(self.state, err, self.session.clock.now(), can_sync=self._link is not None)
        if not self.state.enrolled:  # no sync to run: the state says why
            self._link, self._in_flight = None, False
            self.changed.emit()
            return
        self._finish()

    def _finish(self) -> None:
        self._in_flight = False
        self.changed.emit()
        if not self.active:
            return
        if self._again:
            self.sync_now()
            return
        self._timer.start(central_link.next_delay_ms(self.state.failures, self.every_ms, rng=self._rng))
