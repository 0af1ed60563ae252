"""The demo's workstation side of its embedded central: enroll the demo store with it and sync once.

The central itself is ``sync.central.embedded.EmbeddedCentral`` (the real central service on loopback,
for one run); this module is the desktop app's one way to it (an import contract keeps the rest of
``app`` away from ``sync.central``), so it hands ``EmbeddedCentral`` on to ``tideover demo``.
"""

from __future__ import annotations

import httpx

from app.store.store import Store
from sync.central.embedded import EmbeddedCentral

from . import enrollment
from . import sync as sync_service


def loopback_transport() -> httpx.HTTPTransport:
    """A transport straight to the loopback central: no proxy from the environment (a hospital PC's
    HTTP_PROXY would otherwise carry 127.0.0.1 requests away), and plain HTTP, so no TLS to verify
    (which also skips loading the CA store, a tenth of a second of the demo's start)."""
    return httpx.HTTPTransport(verify=False)


def enroll_and_sync(store: Store, central: EmbeddedCentral) -> dict:
    """Enroll the demo store (signed in as its admin) with the embedded central, then sync it once.

    Returns the sync summary (as ``tideover sync`` prints it)."""
    token = central.enroll_token(store.site_id, store.unit_id)
    enrollment.enroll(store, central.url, token, transport=loopback_transport())
    return sync_service.sync(store, sync_service.Link.from_store(store), transport=loopback_transport())


def summary_line(summary: dict) -> str:
    """'Synced 28 events to the embedded central at URL: 28 accepted' (and any other answers)."""
    answers = ", ".join(f"{n} {result}" for result, n in summary["results"].items() if n) or "nothing new"
    line = f"Synced {summary['pushed']} events to the embedded central at {summary['central']}: {answers}"
    if summary.get("pending"):
        line += f"; {summary['pending']} still waiting"
    return line
