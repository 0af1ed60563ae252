"""Trust at the central: one-time enrollment tokens, device credentials, revoking a device.

Tokens and credentials are random secrets; the central stores only their SHA-256. A token is
spent by one conditional UPDATE, so two servers cannot both accept it. Enrolling needs the
device's signature over the token (sync.checkpoint.enrollment_proof_text): nobody enrolls a key
they do not hold, and a device id already enrolled stays with the key it was enrolled with.
Every enrollment, re-enrollment, revoke and bundle registration is a row of ``device_audit``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.canonical import GENESIS_HASH
from sync.checkpoint import verify_enrollment
from sync.clock import Clock, iso
from sync.errors import BadSignature, TideoverError
from sync.protocol import (
    ALREADY_ENROLLED,
    BAD_SIGNATURE,
    DEVICE_REVOKED,
    INVALID_REQUEST,
    NOT_YOUR_DEVICE,
    TOKEN_INVALID,
    UNAUTHORIZED,
    EnrollRequest,
    EnrollResponse,
)

from .db import CentralDB, device_audit, devices, enroll_tokens
from .errors import Contradicts, Forbidden, Unauthenticated, Unprocessable
from .keys import KeyPair, load_keys  # noqa: F401  (KeyPair and load_keys were defined here before)

TOKEN_TTL_HOURS = 24
# One answer for every token that cannot be spent: it says nothing about which tokens exist or whom
# they are for.
TOKEN_REFUSED = ("The enrollment token is not valid for this workstation (unknown, expired, already used, "
                 "or made for another site, unit or device); ask IT for a new one.")


class DeviceNotFound(TideoverError):
    kind = "not_found"


@dataclass(frozen=True)
class Device:
    device_id: str
    site_id: str
    unit_id: str
    public_key: str


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _audit(conn, device_id: str, action: str, at: str, by: str, reason: str = "") -> None:
    conn.execute(sa.insert(device_audit), {"device_id": device_id, "action": action, "at": at, "by": by[:200],
                                           "reason": reason})


def create_token(db: CentralDB, site_id: str, unit_id: str, *, ttl_hours: float = TOKEN_TTL_HOURS,
                 device_id: str | None = None, clock: Clock | None = None) -> tuple[str, str]:
    """A one-time enrollment token for a workstation of ``site_id``/``unit_id``; returns (token, expiry).

    With ``device_id`` only that device may spend it: the way a revoked device is let back in.
    """
    clock = clock or Clock()
    token = "tet_" + secrets.token_urlsafe(24)
    now = clock.now()
    expires = iso(now + timedelta(hours=ttl_hours))
    with db.write() as conn:
        conn.execute(sa.insert(enroll_tokens), {"token_hash": _sha(token), "site_id": site_id,
                                                "unit_id": unit_id, "created_at": iso(now),
                                                "expires_at": expires, "for_device": device_id})
    return token, expires


def enroll(db: CentralDB, req: EnrollRequest, keys: KeyPair, clock: Clock | None = None, *,
           by: str = "enrollment token") -> EnrollResponse:
    """Spend the token, register the device's public key and issue its credential (shown once).

    Forbidden (403) unless the request is signed by the key it enrolls; Unauthenticated (401), one identical
    answer, for any token that cannot be spent; Contradicts (409) for a device id held by another key.
    """
    clock = clock or Clock()
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(req.public_key, validate=True))
    except ValueError:
        raise Unprocessable(INVALID_REQUEST, "public_key is not a base64 raw Ed25519 public key.") from None
    try:  # before the token is even looked up, so a bad signature says nothing about the token
        verify_enrollment(req.proof_fields(), req.proof)
    except BadSignature as err:
        raise Forbidden(BAD_SIGNATURE, str(err)) from None
    now = clock.now_iso()
    secret = secrets.token_urlsafe(32)
    with db.write() as conn:
        tok = conn.execute(sa.select(enroll_tokens).where(
            enroll_tokens.c.token_hash == _sha(req.token))).first()
        if (tok is None or tok.used_at is not None or tok.expires_at <= now
                or (tok.site_id, tok.unit_id) != (req.site_id, req.unit_id)
                or tok.for_device not in (None, req.device_id)):
            raise Unauthenticated(TOKEN_INVALID, TOKEN_REFUSED)
        existing = conn.execute(sa.select(devices).where(devices.c.device_id == req.device_id)).first()
        if existing is not None:
            if existing.public_key != req.public_key or (existing.site_id, existing.unit_id) != (
                    req.site_id, req.unit_id):
                raise Contradicts(ALREADY_ENROLLED, f"Device {req.device_id} is already enrolled with another "
                                                     f"key or unit; a new workstation store enrolls as a new "
                                                     f"device.")
            if existing.revoked_at is not None and tok.for_device != req.device_id:
                raise Forbidden(DEVICE_REVOKED, f"IT revoked device {req.device_id}; it can enroll again only "
                                                   f"with a token IT makes for it (enroll-token create --device).")
        spent = conn.execute(sa.update(enroll_tokens).where(
            enroll_tokens.c.token_hash == _sha(req.token), enroll_tokens.c.used_at.is_(None)).values(
            used_at=now, device_id=req.device_id))
        if spent.rowcount != 1:
            raise Unauthenticated(TOKEN_INVALID, TOKEN_REFUSED)
        if existing is None:
            conn.execute(sa.insert(devices), {
                "device_id": req.device_id, "site_id": req.site_id, "unit_id": req.unit_id,
                "public_key": req.public_key, "credential_hash": _sha(secret), "enrolled_at": now,
                "enrolled_via": "token", "head_seq": 0, "head_hash": GENESIS_HASH, "backlog": 0})
            _audit(conn, req.device_id, "enrolled", now, by)
        else:  # the same key, proven by its signature: a new credential replaces the old one
            conn.execute(sa.update(devices).where(devices.c.device_id == req.device_id).values(
                credential_hash=_sha(secret), revoked_at=None, revoked_reason=None))
            _audit(conn, req.device_id, "re-enrolled", now, by)
    return EnrollResponse(device_id=req.device_id, site_id=req.site_id, unit_id=req.unit_id,
                          credential=f"{req.device_id}.{secret}", central=keys.public())


def authenticate(db: CentralDB, authorization: str | None) -> Device:
    """The device a ``Bearer <device_id>.<secret>`` credential belongs to, or Unauthenticated (401)."""
    scheme, _, credential = (authorization or "").partition(" ")
    device_id, _, secret = credential.strip().partition(".")
    if scheme.lower() != "bearer" or not device_id or not secret:
        raise Unauthenticated(UNAUTHORIZED, "A device credential is required (Authorization: Bearer ...); "
                                         "enroll the workstation with `tideover enroll`.")
    with db.read() as conn:
        row = conn.execute(sa.select(devices).where(devices.c.device_id == device_id[:64])).first()
    if row is None or not row.credential_hash or not hmac.compare_digest(row.credential_hash, _sha(secret)):
        raise Unauthenticated(UNAUTHORIZED, "The device credential is not valid; enroll the workstation again.")
    if row.revoked_at is not None:  # told only to the holder of the credential
        raise Unauthenticated(DEVICE_REVOKED, f"IT revoked this workstation's enrollment at {row.revoked_at} "
                                           f"({row.revoked_reason}); nothing is sent or received until IT "
                                           f"enrolls it again.")
    return Device(row.device_id, row.site_id, row.unit_id, row.public_key)


def list_devices(db: CentralDB) -> list[dict]:
    """Every device the central knows, with its status (active or revoked) and how it came."""
    with db.read() as conn:
        rows = conn.execute(sa.select(
            devices.c.device_id, devices.c.site_id, devices.c.unit_id, devices.c.enrolled_at,
            devices.c.enrolled_via, devices.c.head_seq, devices.c.last_push_at, devices.c.revoked_at,
            devices.c.revoked_reason).order_by(devices.c.site_id, devices.c.unit_id, devices.c.device_id)).all()
    return [{"device_id": r.device_id, "site_id": r.site_id, "unit_id": r.unit_id,
             "status": "revoked" if r.revoked_at else "active", "enrolled_at": r.enrolled_at,
             "enrolled_via": r.enrolled_via, "highest_seq": r.head_seq, "last_push_at": r.last_push_at,
             "revoked_at": r.revoked_at, "revoked_reason": r.revoked_reason} for r in rows]


def revoke_device(db: CentralDB, device_id: str, reason: str, by: str, clock: Clock | None = None) -> str:
    """Kill the device's credential at once and record why; returns the time of the revoke."""
    clock = clock or Clock()
    reason = reason.strip()
    if not reason:
        raise TideoverError("Say why the device is revoked (--reason); it is kept in the central's record.")
    now = clock.now_iso()
    with db.write() as conn:
        row = conn.execute(sa.select(devices.c.revoked_at).where(devices.c.device_id == device_id)).first()
        if row is None:
            raise DeviceNotFound(f"No device {device_id} is enrolled at this central "
                                 f"(`tideover-central device list` shows them).")
        if row.revoked_at is not None:
            raise TideoverError(f"Device {device_id} was revoked already at {row.revoked_at}.")
        conn.execute(sa.update(devices).where(devices.c.device_id == device_id).values(
            revoked_at=now, revoked_reason=reason))  # the hash stays so its holder is told why
        _audit(conn, device_id, "revoked", now, by, reason)
    return now


def device_for_bundle(db: CentralDB, device_id: str, site_id: str, unit_id: str, public_key: str,
                      first_event: dict | None, clock: Clock | None = None, *,
                      register: tuple[str, str] | None = None, by: str = "bundle import") -> Device:
    """The enrolled device a bundle came from; an unknown one only when IT vouches for it.

    A workstation that was never enrolled can still send a bundle carried by hand, but only with
    ``register=(site, unit)`` given by IT at import, matching what the bundle names, and with its
    ``device.initialized`` event (seq 1) carrying the bundle's public key.
    """
    with db.read() as conn:
        row = conn.execute(sa.select(devices).where(devices.c.device_id == device_id)).first()
    if row is not None:
        if row.public_key != public_key:
            raise Forbidden(NOT_YOUR_DEVICE, f"The bundle's key is not the key enrolled for {device_id}.")
        if row.revoked_at is not None:
            raise Forbidden(DEVICE_REVOKED, f"IT revoked device {device_id} at {row.revoked_at} "
                                               f"({row.revoked_reason}); its bundles are refused.")
        return Device(row.device_id, row.site_id, row.unit_id, row.public_key)
    if register is None:
        raise Forbidden(NOT_YOUR_DEVICE,
                      f"Device {device_id} is not enrolled; the bundle says it belongs to {site_id}/{unit_id}. "
                      f"If you vouch for this workstation, import again with --register-site {site_id} "
                      f"--register-unit {unit_id}.")
    if tuple(register) != (site_id, unit_id):
        raise Forbidden(NOT_YOUR_DEVICE,
                      f"The bundle of device {device_id} is for {site_id}/{unit_id}, not {register[0]}/"
                      f"{register[1]} as given; nothing was imported.")
    ok = (first_event is not None and first_event.get("device_seq") == 1
          and first_event.get("type") == "device.initialized"
          and isinstance(first_event.get("payload"), dict)
          and first_event["payload"].get("public_key") == public_key)
    if not ok:
        raise Forbidden(NOT_YOUR_DEVICE, f"Device {device_id} is not enrolled and the bundle does not "
                                            f"start with its device.initialized event; enroll it first.")
    clock = clock or Clock()
    now = clock.now_iso()
    with db.write() as conn:
        made = conn.execute(db.insert_ignore(devices), {
            "device_id": device_id, "site_id": site_id, "unit_id": unit_id, "public_key": public_key,
            "credential_hash": None, "enrolled_at": now, "enrolled_via": "bundle",
            "head_seq": 0, "head_hash": GENESIS_HASH, "backlog": 0})
        if made.rowcount:
            _audit(conn, device_id, "registered", now, by, f"bundle vouched for as {site_id}/{unit_id}")
    return Device(device_id, site_id, unit_id, public_key)
