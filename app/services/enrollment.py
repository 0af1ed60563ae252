"""Enrolling a workstation with the central: a one-time token buys a device credential.

The credential, the central's URL and its public keys are kept in the encrypted store's meta,
never in a plain file.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from app.store.outbox import signing_key
from app.store.store import Store
from sync.checkpoint import sign_enrollment
from sync.protocol import EnrollResponse

from .errors import InputError
from .sync import Link, Retry, SyncError, call, http_client


def enroll(store: Store, central_url: str, token: str, *, ca_bundle: str | Path | None = None,
           transport: httpx.BaseTransport | None = None, retry: Retry | None = None) -> dict:
    """Register this workstation's Ed25519 public key with the central; returns what was enrolled."""
    store.require_role("admin")
    if not central_url.startswith(("http://", "https://")):
        raise InputError(f"The central URL must start with https:// (or http:// on a test network): {central_url}")
    if not token.strip():
        raise InputError("The enrollment token is empty; IT makes one with `tideover-central enroll-token create`.")
    ca = str(ca_bundle) if ca_bundle else None
    if ca and not Path(ca).is_file():
        raise InputError(f"No CA bundle file at {ca}.")
    link = Link(central_url, None, ca)
    request = {"token": token.strip(), "device_id": store.device_id, "site_id": store.site_id,
               "unit_id": store.unit_id, "public_key": store.public_key}
    # Proof that this workstation holds the key it enrolls, bound to the one-time token.
    request["proof"] = sign_enrollment(signing_key(store), request)
    with http_client(link, transport) as client:
        resp = call(client, "POST", "/v1/enroll", retry or Retry(attempts=3), json=request)
    try:
        answer = EnrollResponse.model_validate(resp.json())
    except ValueError:
        raise SyncError("The central's answer to enrollment is not understood; is the URL the central's?") from None
    store.set_meta("central_url", central_url.rstrip("/"))
    store.set_meta("central_credential", answer.credential)
    store.set_meta("central_bundle_key", answer.central.bundle_public_key)
    store.set_meta("central_signing_key", answer.central.signing_public_key)
    store.set_meta("central_ca_bundle", ca or "")
    store.set_meta("pull_cursor", "0")
    return {"central": central_url.rstrip("/"), "device_id": answer.device_id, "site_id": answer.site_id,
            "unit_id": answer.unit_id}
