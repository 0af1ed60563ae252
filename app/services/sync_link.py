"""The desktop app's background sync, as plain functions its worker threads run (no Qt).

``read_link`` and ``sync_once`` run on the session's store worker; ``probe`` runs on a thread of its
own and never touches the store, so a dead network never holds a nurse's capture.
"""

from __future__ import annotations

import dataclasses

import httpx

from app.store import outbox

from . import sync as sync_service

REQUEST_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 3.0


def read_link(store) -> tuple[sync_service.Link | None, list[dict]]:
    """(how to reach the central or None when not enrolled, this device's held-back events)."""
    try:
        link = sync_service.Link.from_store(store)
    except sync_service.NotEnrolled:
        return None, []
    return link, outbox.held_back(store)


def sync_once(store, link: sync_service.Link) -> dict:
    """One push-then-pull with a short timeout and a single try: the runner's timer is the retry loop."""
    link = dataclasses.replace(link, timeout=REQUEST_TIMEOUT_S)
    summary = sync_service.sync(store, link, retry=sync_service.Retry(attempts=1))
    summary["held_back"] = outbox.held_back(store)
    return summary


def probe(link: sync_service.Link) -> None:
    """Raise CentralUnreachable unless the central answers its health check (no credential, no store)."""
    bare = dataclasses.replace(link, credential=None, timeout=PROBE_TIMEOUT_S)
    try:
        with sync_service.http_client(bare) as client:
            client.get("/healthz").raise_for_status()
    except (httpx.HTTPError, OSError) as err:
        raise sync_service.CentralUnreachable(f"The central at {link.url} does not answer "
                                              f"({type(err).__name__}).") from None
