"""Enrolling a workstation with the central: a one-time token buys a device credential.

Enrollment pins the central: its URL, its TLS trust (the CA bundle's PEM text, or the system's CA
store for an https URL given without one) and its public keys (the Ed25519 key its answers and
receipts are signed with, the X25519 key bundles are encrypted to) are kept in the encrypted
store's meta with the credential, never in a plain file. Afterwards the workstation talks to no
other central; an admin enrolls it again to move it. Plain ``http://`` is refused unless the
central is on this machine (loopback) or the admin allows it here, and is then warned about.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from app.store.outbox import signing_key
from app.store.store import Store
from sync.checkpoint import sign_enrollment
from sync.protocol import CentralKeys, EnrollResponse

from . import access
from .errors import InputError
from .sync import Link, Retry, SyncError, call, http_client

PLAIN_HTTP_WARNING = ("The link to the central is plain HTTP: the device credential and patient data cross "
                      "the network unencrypted. Ask IT to enroll this workstation again with an https:// URL.")


def is_loopback(url: str) -> bool:
    """True when ``url`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_warning(meta: dict) -> str | None:
    """The warning to show when the pinned central is reached over plain HTTP across the network."""
    url = meta.get("central_url") or ""
    return PLAIN_HTTP_WARNING if url.startswith("http://") and not is_loopback(url) else None


def enroll(store: Store, central_url: str, token: str, *, ca_bundle: str | Path | None = None,
           allow_plain_http: bool = False, transport: httpx.BaseTransport | None = None,
           retry: Retry | None = None, ca_pem: str | None = None,
           expect_keys: CentralKeys | None = None) -> dict:
    """Register this workstation's Ed25519 public key with the central and pin that central; returns
    what was enrolled.

    ``ca_pem`` is the CA bundle's text (instead of a file); ``expect_keys`` are the central's keys a
    signed site profile pins: a central answering with other keys is refused and nothing is kept.
    """
    access.require_admin(store)
    if not central_url.startswith(("http://", "https://")) or not urlsplit(central_url).hostname:
        raise InputError(f"The central URL must be https://HOST[:PORT]: {central_url}")
    if central_url.startswith("http://") and not is_loopback(central_url) and not allow_plain_http:
        raise InputError(f"{central_url} is plain HTTP: the device credential and patient data would cross the "
                         f"network unencrypted. Use the central's https:// URL (with --ca-bundle for the "
                         f"hospital's CA), or on a closed test network add --allow-plain-http.")
    if not token.strip():
        raise InputError("The enrollment token is empty; IT makes one with `tideover-central enroll-token create`.")
    ca = str(ca_bundle) if ca_bundle else None
    ca_pem = ca_pem or ""
    if ca:
        try:
            ca_pem = Path(ca).read_text()
        except OSError:
            raise InputError(f"No CA bundle file at {ca}.") from None
        except UnicodeDecodeError:
            raise InputError(f"{ca} is not a PEM CA bundle.") from None
    link = Link(central_url, None, None, ca_pem=ca_pem or None)
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
    if expect_keys is not None and answer.central != expect_keys:
        raise SyncError(f"The central at {central_url} answered with other keys than the site profile pins: "
                        f"it is not the site's central, or its keys were replaced. Nothing was kept; ask IT.")
    url = central_url.rstrip("/")
    moved = store.meta().get("central_url") not in (None, "", url)
    store.set_meta("central_url", url)
    store.set_meta("central_credential", answer.credential)
    store.set_meta("central_bundle_key", answer.central.bundle_public_key)
    store.set_meta("central_signing_key", answer.central.signing_public_key)
    store.set_meta("central_ca_pem", ca_pem)
    store.set_meta("central_ca_bundle", "")  # the path once kept here: the PEM text above is what is trusted
    store.set_meta("central_plain_http", "allowed" if url.startswith("http://") and not is_loopback(url) else "")
    store.set_meta("pull_cursor", "0")
    if moved:  # what another central held says nothing about this one
        store.set_meta("central_held_seq", "")
    return {"central": url, "device_id": answer.device_id, "site_id": answer.site_id, "unit_id": answer.unit_id,
            "plain_http_warning": plain_http_warning(store.meta())}
