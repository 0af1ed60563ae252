"""Role grants: who may act on a device, and the signatures that prove it. Shared by both ends.

Each user has an Ed25519 key of their own (wrapped under their password in the workstation's
keyring). A role grant (``user.added``, ``user.role_changed``) carries the user's public key and a
signature by the granting admin's own key over the grant and the id of the event that carries it
(so a grant cannot be replayed to undo a later role change). The first admin is vouched for by the
device's key in ``device.initialized``, and then grants themselves with that key.

``GrantBook`` folds one device's chain, in ``device_seq`` order, into who holds which role there;
``problem`` says why an event may not come next (a grant that does not verify, an actor never
granted that role on this device). The workstation checks its grants with it before recording
them and in ``audit verify``; the central checks every event it takes (sync/central/actors.py).

Stores made before user keys existed ("legacy": their ``device.initialized`` names no first admin)
hold unsigned grants. Those count as they were, until the store records ``device.grants_sealed``
(which the workstation does the first time newer software opens it); after that every grant must
be signed, and each legacy user binds a key once (``user.key_bound``, trust on first use).
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from forms.vocabulary import BREAK_GLASS_ROLE

from .canonical import canonical_json

GRANT_TYPES = frozenset({"user.added", "user.role_changed"})
# Every event type that changes who may act on a device.
TRUST_TYPES = GRANT_TYPES | {"device.initialized", "user.key_bound", "device.grants_sealed"}
SYSTEM_USER = "system"
BREAK_GLASS_USER = "break-glass"
DEVICE_SIGNER = "device"  # ``granted_by`` of a grant signed by the device key (site recovery)
RESERVED_USERS = frozenset({SYSTEM_USER, BREAK_GLASS_USER, DEVICE_SIGNER})
# What the workstation itself (not a person) records.
SYSTEM_TYPES = frozenset({"device.initialized", "device.grants_sealed", "access.unlock_failed",
                          "device.chain_recovered"})

ACTOR_NOT_GRANTED = "actor_not_granted"
GRANT_INVALID = "grant_invalid"


def grant_text(device_id: str, event_id: str, payload: dict) -> bytes:
    """The bytes a role grant's signature covers."""
    return canonical_json({"purpose": "tideover-role-grant", "device_id": device_id, "event_id": event_id,
                           "user_id": payload.get("user_id"), "display_name": payload.get("display_name"),
                           "role": payload.get("role"), "public_key": payload.get("public_key"),
                           "granted_by": payload.get("granted_by")}).encode()


def first_admin_text(device_id: str, user_id: str, public_key: str) -> bytes:
    """The bytes the device key signs to vouch for the first admin's key in ``device.initialized``."""
    return canonical_json({"purpose": "tideover-first-admin", "device_id": device_id, "user_id": user_id,
                           "public_key": public_key}).encode()


def sign(key: Ed25519PrivateKey, text: bytes) -> str:
    return base64.b64encode(key.sign(text)).decode()


def signature_ok(public_key_b64: str | None, signature_b64: str | None, text: bytes) -> bool:
    if not isinstance(public_key_b64, str) or not isinstance(signature_b64, str):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True)).verify(
            base64.b64decode(signature_b64, validate=True), text)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class GrantBook:
    """Who holds which role on one device, after its events up to ``upto`` (see module doc)."""

    device_id: str
    upto: int = 0
    device_key: str | None = None
    first_admin: tuple[str, str] | None = None  # (user_id, public key) vouched by the device key
    legacy: bool = False
    sealed: bool = False
    users: dict[str, list] = field(default_factory=dict)  # user_id -> [role, public key or None]

    def copy(self) -> GrantBook:
        return dataclasses.replace(self, users={u: list(held) for u, held in self.users.items()})

    @property
    def genesis(self) -> bool:
        return self.device_key is not None

    def role_of(self, user_id: str) -> str | None:
        held = self.users.get(user_id)
        return held[0] if held else None

    def problem(self, ev: dict) -> tuple[str, str] | None:
        """(reason code, one line for IT) if ``ev`` may not come next on this device, else None."""
        kind, actor = ev["type"], ev["actor"]
        if kind in TRUST_TYPES:
            why = self._trust_problem(ev)
            return (GRANT_INVALID, why) if why else None
        uid, role = actor["user_id"], actor["role"]
        if uid == SYSTEM_USER:
            if kind in SYSTEM_TYPES:
                return None
            return ACTOR_NOT_GRANTED, f"the workstation itself does not record {kind[:64]} events"
        if uid == BREAK_GLASS_USER:
            if role == BREAK_GLASS_ROLE:
                return None
            return ACTOR_NOT_GRANTED, f"break-glass access acts as a nurse, not as {role}"
        held = self.users.get(uid)
        if held is None:
            return ACTOR_NOT_GRANTED, f"user {uid[:64]!r} was never granted a role on this device"
        if held[0] != role:
            return ACTOR_NOT_GRANTED, f"user {uid[:64]!r} holds the role {held[0]} on this device, not {role}"
        return None

    def take(self, ev: dict) -> None:
        """Apply an event that was recorded (one ``problem`` found nothing wrong with, or held already)."""
        kind, p = ev["type"], ev.get("payload") or {}
        if kind == "device.initialized" and not self.genesis:
            self.device_key = p.get("public_key")
            fa = p.get("first_admin")
            self.first_admin = (fa["user_id"], fa["public_key"]) if isinstance(fa, dict) else None
            self.legacy = self.first_admin is None
        elif kind == "user.added":
            self.users[p["user_id"]] = [p["role"], p.get("public_key")]
        elif kind == "user.role_changed":
            old = self.users.get(p["user_id"], [None, None])
            self.users[p["user_id"]] = [p["role"], p.get("public_key") or old[1]]
        elif kind == "user.key_bound" and p.get("user_id") in self.users:
            self.users[p["user_id"]][1] = p.get("public_key")
        elif kind == "device.grants_sealed":
            self.sealed = True
        self.upto = max(self.upto, ev["device_seq"])

    # -- the rules ----------------------------------------------------------------------------
    def _trust_problem(self, ev: dict) -> str | None:
        kind, actor, p = ev["type"], ev["actor"], ev.get("payload") or {}
        uid = actor["user_id"]
        if kind == "device.initialized":
            if self.genesis:
                return "the device was initialized already; a second device.initialized is not taken"
            if uid != SYSTEM_USER:
                return "device.initialized is recorded by the workstation itself"
            fa = p.get("first_admin")
            if fa is not None and not signature_ok(
                    p.get("public_key"), fa.get("signature"),
                    first_admin_text(ev["device_id"], fa.get("user_id"), fa.get("public_key"))):
                return "the first admin in device.initialized is not signed by the device key"
            return None
        if not self.genesis:
            return "no device.initialized comes before this event"
        if kind == "device.grants_sealed":
            if uid != SYSTEM_USER or not self.legacy or self.sealed:
                return "only a store made before user keys seals its grants, once, as the workstation"
            return None
        if kind == "user.key_bound":
            held = self.users.get(p.get("user_id"))
            if not self.legacy or held is None or held[1] is not None:
                return "a key is bound only once, to a user of a store made before user keys"
            if uid != p.get("user_id") or actor["role"] != held[0]:
                return "users bind their own key only"
            return None
        return self._grant_problem(ev, uid, p)

    def _grant_problem(self, ev: dict, uid: str, p: dict) -> str | None:
        kind, target = ev["type"], p.get("user_id")
        if target in RESERVED_USERS:
            return f"{target!r} is not a user id that can be granted a role"
        if kind == "user.added" and target in self.users:
            return f"user {str(target)[:64]!r} exists already; a role change is user.role_changed"
        if kind == "user.role_changed" and target not in self.users:
            return f"user {str(target)[:64]!r} was never added on this device"
        if p.get("signature") is None and self.legacy and not self.sealed and kind == "user.added":
            return None  # an unsigned grant of a store made before user keys, taken as it was
        granted_by = p.get("granted_by")
        if granted_by == DEVICE_SIGNER:
            if uid != SYSTEM_USER:
                return "a grant vouched by the device key is recorded by the workstation itself"
            key = self.device_key
        else:
            if uid != granted_by:
                return "the grant is not recorded by the admin who signed it"
            signer = self.users.get(granted_by) if isinstance(granted_by, str) else None
            if signer is not None and signer[0] == "admin" and signer[1] and ev["actor"]["role"] == "admin":
                key = signer[1]
            elif (signer is None and self.first_admin is not None and granted_by == self.first_admin[0]
                  and target == granted_by and p.get("role") == "admin"
                  and p.get("public_key") == self.first_admin[1]):
                key = self.first_admin[1]  # the first admin grants themselves with the vouched key
            else:
                return (f"{str(granted_by)[:64]!r} is not an admin with a signing key on this device, "
                        f"so cannot grant roles")
        if kind == "user.role_changed":
            held_key = self.users[target][1]
            if held_key and p.get("public_key") != held_key:
                return "a role change must name the user's own key"
        if not signature_ok(key, p.get("signature"), grant_text(ev["device_id"], ev["event_id"], p)):
            return "the grant's signature does not verify"
        return None
