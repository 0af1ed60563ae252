"""The central service embedded in one process: the same ``sync.central`` app IT runs (FastAPI on
uvicorn), on a SQLite file, served from a thread on 127.0.0.1.

``tideover demo`` uses it (through ``app.services.demo_central``, the desktop app's only way to the
central's code) so a new user sees capture, sync and the LIVE banner without setting anything up;
tests use it as a real central on loopback. It lives as long as the process that started it.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from sync.errors import TideoverError


class EmbeddedCentralFailed(TideoverError):
    """The embedded central did not start serving."""

    kind = "central_unreachable"


START_TIMEOUT_S = 20.0


class EmbeddedCentral:
    """``start()`` serves the central on 127.0.0.1 (a free port unless ``port`` is given); ``stop()`` ends it.

    Starting returns at once; ``wait_ready()`` blocks until the central answers, so the caller can
    seed its store meanwhile.
    """

    def __init__(self, folder: Path, *, port: int = 0):
        self.db_path = Path(folder) / "central.db"
        self._socket = _listen(port)
        self.port = self._socket.getsockname()[1]
        self.db = None
        self._server = None
        self._failed: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tideover-demo-central", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedCentral:
        self._thread.start()
        return self

    def _serve(self) -> None:
        try:
            import uvicorn

            from sync.central.app import create_app
            from sync.central.db import CentralDB

            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self.db = CentralDB(str(self.db_path))
            self.db.migrate()
            self._server = uvicorn.Server(uvicorn.Config(create_app(self.db), log_level="warning",
                                                         access_log=False, lifespan="off",
                                                         timeout_graceful_shutdown=2))
        except BaseException as err:  # handed to wait_ready, which raises it on the caller's thread
            self._failed = err
            self._ready.set()
            return
        self._ready.set()
        self._server.run(sockets=[self._socket])

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> EmbeddedCentral:
        """Block until the central serves requests; raise what stopped it otherwise."""
        deadline = time.monotonic() + timeout
        self._ready.wait(timeout)
        if self._failed is not None:
            raise self._failed
        while self._server is None or not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise EmbeddedCentralFailed(f"The demo's embedded central at {self.url} did not start.")
            time.sleep(0.01)
        return self

    def enroll_token(self, site_id: str, unit_id: str) -> str:
        """A one-time token, as IT would make with ``tideover-central enroll-token create``."""
        from sync.central.enroll import create_token

        self.wait_ready()
        token, _expires = create_token(self.db, site_id, unit_id)
        return token

    def stop(self) -> None:
        """Stop serving and close the database; safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self._socket.close()
        if self.db is not None:
            self.db.dispose()
            self.db = None

    def __enter__(self) -> EmbeddedCentral:
        return self.start().wait_ready()

    def __exit__(self, *exc) -> None:
        self.stop()


def _listen(port: int) -> socket.socket:
    """A loopback socket bound before the server starts, so the port is ours (no race for a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock
