"""One background worker for everything that touches the store, results delivered as Qt signals.

The store is not thread-safe, so every store call goes through one ``StoreWorker``: a thread pool of
exactly one thread that never expires. A call's result or error comes back on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the GUI thread; the runnable emits through it so slots run on the GUI thread."""

    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, relay: _Relay):
        super().__init__()
        self.setAutoDelete(True)
        self._fn, self._args, self._kwargs, self._relay = fn, args, kwargs, relay

    def run(self) -> None:
        try:
            result = self._fn(*self._args, **self._kwargs)
        except Exception as err:  # delivered to the caller's on_error, shown there
            self._relay.failed.emit(err)
        else:
            self._relay.done.emit(result)


class StoreWorker(QObject):
    """Runs service calls one at a time off the GUI thread.

    ``run(fn, *args, on_done=..., on_error=...)``: ``fn(*args)`` runs on the worker thread; then
    ``on_done(result)`` or ``on_error(exception)`` runs on the GUI thread. ``busy_changed`` tells the
    window to show progress.
    """

    busy_changed = Signal(bool)
    failed = Signal(object)  # errors of calls that gave no on_error

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._pool.setExpiryTimeout(-1)
        self._relays: set[_Relay] = set()

    @property
    def pending(self) -> int:
        return len(self._relays)

    def run(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[Exception], None] | None = None, **kwargs: Any) -> None:
        relay = _Relay()
        self._relays.add(relay)
        if len(self._relays) == 1:
            self.busy_changed.emit(True)

        def finish() -> None:
            self._relays.discard(relay)
            relay.deleteLater()
            if not self._relays:
                self.busy_changed.emit(False)

        def done(result: Any) -> None:
            finish()
            if on_done is not None:
                on_done(result)

        def failed(err: Exception) -> None:
            finish()
            if on_error is not None:
                on_error(err)
            else:
                log.warning("background store call failed: %s", type(err).__name__)
                self.failed.emit(err)

        relay.done.connect(done)
        relay.failed.connect(failed)
        self._pool.start(_Job(fn, args, kwargs, relay))

    def wait(self, msecs: int = 30000) -> bool:
        """Block until queued calls have run (their callbacks still need the event loop)."""
        return self._pool.waitForDone(msecs)
