"""Trust at the central: its own keys, one-time enrollment tokens, device credentials.

Tokens and credentials are random secrets; the central stores only their SHA-256. A token is
spent by one conditional UPDATE, so two servers cannot both accept it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.canonical import GENESIS_HASH
from sync.clock import Clock, iso
from sync.protocol import (
    ALREADY_ENROLLED,
    INVALID_REQUEST,
    NOT_YOUR_DEVICE,
    TOKEN_INVALID,
    UNAUTHORIZED,
    CentralKeys,
    EnrollRequest,
    EnrollResponse,
)

from .db import CentralDB, central_keys, devices, enroll_tokens
from .errors import Refused

TOKEN_TTL_HOURS = 24


@dataclass(frozen=True)
class Device:
    device_id: str
    site_id: str
    unit_id: str
    public_key: str


@dataclass(frozen=True)
class KeyPair:
    bundle_private: X25519PrivateKey
    signing_private: Ed25519PrivateKey

    def public(self) -> CentralKeys:
        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
        return CentralKeys(
            bundle_public_key=base64.b64encode(self.bundle_private.public_key().public_bytes(*raw)).decode(),
            signing_public_key=base64.b64encode(self.signing_private.public_key().public_bytes(*raw)).decode())


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load_keys(db: CentralDB, clock: Clock | None = None) -> KeyPair:
    """The central's key pairs, made on first use; every server on one database shares them."""
    clock = clock or Clock()
    raw = (serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with db.read() as conn:
        rows = {r.name: r for r in conn.execute(sa.select(central_keys))}
    if {"bundle", "signing"} - rows.keys():
        bundle, signing = X25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        new = [{"name": "bundle", "private_key": bundle.private_bytes(*raw).hex(),
                "public_key": bundle.public_key().public_bytes(*pub).hex(), "created_at": clock.now_iso()},
               {"name": "signing", "private_key": signing.private_bytes(*raw).hex(),
                "public_key": signing.public_key().public_bytes(*pub).hex(), "created_at": clock.now_iso()}]
        with db.write() as conn:
            conn.execute(db.insert_ignore(central_keys), new)
            rows = {r.name: r for r in conn.execute(sa.select(central_keys))}
    return KeyPair(X25519PrivateKey.from_private_bytes(bytes.fromhex(rows["bundle"].private_key)),
                   Ed25519PrivateKey.from_private_bytes(bytes.fromhex(rows["signing"].private_key)))


def create_token(db: CentralDB, site_id: str, unit_id: str, *, ttl_hours: float = TOKEN_TTL_HOURS,
                 clock: Clock | None = None) -> tuple[str, str]:
    """A one-time enrollment token for a workstation of ``site_id``/``unit_id``; returns (token, expiry)."""
    clock = clock or Clock()
    token = "tet_" + secrets.token_urlsafe(24)
    now = clock.now()
    expires = iso(now + timedelta(hours=ttl_hours))
    with db.write() as conn:
        conn.execute(sa.insert(enroll_tokens), {"token_hash": _sha(token), "site_id": site_id,
                                                "unit_id": unit_id, "created_at": iso(now),
                                                "expires_at": expires})
    return token, expires


def enroll(db: CentralDB, req: EnrollRequest, keys: KeyPair, clock: Clock | None = None) -> EnrollResponse:
    """Spend the token, register the device's public key and issue its credential (shown once)."""
    clock = clock or Clock()
    now = clock.now_iso()
    secret = secrets.token_urlsafe(32)
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(req.public_key, validate=True))
    except ValueError:
        raise Refused(422, INVALID_REQUEST, "public_key is not a base64 raw Ed25519 public key.") from None
    with db.write() as conn:
        tok = conn.execute(sa.select(enroll_tokens).where(
            enroll_tokens.c.token_hash == _sha(req.token))).first()
        if tok is None or tok.used_at is not None or tok.expires_at <= now:
            raise Refused(401, TOKEN_INVALID, "The enrollment token is unknown, expired or already used; "
                                              "ask IT for a new one.")
        if (tok.site_id, tok.unit_id) != (req.site_id, req.unit_id):
            raise Refused(403, NOT_YOUR_DEVICE, f"This token is for {tok.site_id}/{tok.unit_id}, not "
                                                f"{req.site_id}/{req.unit_id}.")
        existing = conn.execute(sa.select(devices).where(devices.c.device_id == req.device_id)).first()
        if existing is not None and (existing.public_key != req.public_key or
                                     (existing.site_id, existing.unit_id) != (req.site_id, req.unit_id)):
            raise Refused(409, ALREADY_ENROLLED, f"Device {req.device_id} is already enrolled with another "
                                                 f"key or unit.")
        spent = conn.execute(sa.update(enroll_tokens).where(
            enroll_tokens.c.token_hash == _sha(req.token), enroll_tokens.c.used_at.is_(None)).values(
            used_at=now, device_id=req.device_id))
        if spent.rowcount != 1:
            raise Refused(401, TOKEN_INVALID, "The enrollment token was used already.")
        if existing is None:
            conn.execute(sa.insert(devices), {
                "device_id": req.device_id, "site_id": req.site_id, "unit_id": req.unit_id,
                "public_key": req.public_key, "credential_hash": _sha(secret), "enrolled_at": now,
                "enrolled_via": "token", "head_seq": 0, "head_hash": GENESIS_HASH, "backlog": 0})
        else:  # same key re-enrolling (e.g. the credential was lost): a new credential replaces the old
            conn.execute(sa.update(devices).where(devices.c.device_id == req.device_id).values(
                credential_hash=_sha(secret)))
    return EnrollResponse(device_id=req.device_id, site_id=req.site_id, unit_id=req.unit_id,
                          credential=f"{req.device_id}.{secret}", central=keys.public())


def authenticate(db: CentralDB, authorization: str | None) -> Device:
    """The device a ``Bearer <device_id>.<secret>`` credential belongs to, or Refused(401)."""
    scheme, _, credential = (authorization or "").partition(" ")
    device_id, _, secret = credential.strip().partition(".")
    if scheme.lower() != "bearer" or not device_id or not secret:
        raise Refused(401, UNAUTHORIZED, "A device credential is required (Authorization: Bearer ...); "
                                         "enroll the workstation with `tideover enroll`.")
    with db.read() as conn:
        row = conn.execute(sa.select(devices).where(devices.c.device_id == device_id[:64])).first()
    if row is None or not row.credential_hash or not hmac.compare_digest(row.credential_hash, _sha(secret)):
        raise Refused(401, UNAUTHORIZED, "The device credential is not valid; enroll the workstation again.")
    return Device(row.device_id, row.site_id, row.unit_id, row.public_key)


def device_for_bundle(db: CentralDB, device_id: str, site_id: str, unit_id: str, public_key: str,
                      first_event: dict | None, clock: Clock | None = None) -> Device:
    """The enrolled device a bundle came from; an unknown one is registered from its first event.

    A workstation that was never enrolled can still send a bundle carried by hand: IT importing
    it vouches for it, and its ``device.initialized`` event (seq 1) must carry the same public key.
    """
    with db.read() as conn:
        row = conn.execute(sa.select(devices).where(devices.c.device_id == device_id)).first()
    if row is not None:
        if row.public_key != public_key:
            raise Refused(403, NOT_YOUR_DEVICE, f"The bundle's key is not the key enrolled for {device_id}.")
        return Device(row.device_id, row.site_id, row.unit_id, row.public_key)
    ok = (first_event is not None and first_event.get("device_seq") == 1
          and first_event.get("type") == "device.initialized"
          and isinstance(first_event.get("payload"), dict)
          and first_event["payload"].get("public_key") == public_key)
    if not ok:
        raise Refused(403, NOT_YOUR_DEVICE, f"Device {device_id} is not enrolled and the bundle does not "
                                            f"start with its device.initialized event; enroll it first.")
    clock = clock or Clock()
    with db.write() as conn:
        conn.execute(db.insert_ignore(devices), {
            "device_id": device_id, "site_id": site_id, "unit_id": unit_id, "public_key": public_key,
            "credential_hash": None, "enrolled_at": clock.now_iso(), "enrolled_via": "bundle",
            "head_seq": 0, "head_hash": GENESIS_HASH, "backlog": 0})
    return Device(device_id, site_id, unit_id, public_key)
