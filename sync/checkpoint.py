"""Signed checkpoints of a device's chain head, and the device's Ed25519 keys.

One Ed25519 signature over ``(device_id, device_seq, hash)`` vouches for every event up to
that sequence number, because each event's hash covers the one before it.
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from .canonical import canonical_json
from .errors import BadSignature
from .fields import HASH_PATTERN


class Checkpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: str
    device_seq: int = Field(ge=0)
    hash: str = Field(pattern=HASH_PATTERN)
    signed_at: str
    signature: str = ""

    def signed_text(self) -> bytes:
        return canonical_json({"device_id": self.device_id, "device_seq": self.device_seq,
                               "hash": self.hash, "signed_at": self.signed_at}).encode()


def new_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def load_private_key(raw: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Base64 of the raw 32-byte public key: how a device's key is enrolled and stored."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(pub.public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)).decode()


def sign_checkpoint(key: Ed25519PrivateKey, device_id: str, device_seq: int, head_hash: str,
                    signed_at: str) -> Checkpoint:
    unsigned = Checkpoint(device_id=device_id, device_seq=device_seq, hash=head_hash, signed_at=signed_at)
    sig = base64.b64encode(key.sign(unsigned.signed_text())).decode()
    return unsigned.model_copy(update={"signature": sig})


ENROLL_PROOF_PURPOSE = "tideover-enroll-v1"
ENROLL_PROOF_FIELDS = ("token", "device_id", "site_id", "unit_id", "public_key")


def enrollment_proof_text(fields: dict) -> bytes:
    """What a device signs to enroll: the central's one-time token and what it enrolls.

    The token is the central's fresh challenge: it is spent by the first enrollment that uses it, and
    a signature over one token is worth nothing with another, so a captured request cannot be replayed.
    """
    return canonical_json({"purpose": ENROLL_PROOF_PURPOSE,
                           **{name: fields[name] for name in ENROLL_PROOF_FIELDS}}).encode()


def sign_enrollment(key: Ed25519PrivateKey, fields: dict) -> str:
    return base64.b64encode(key.sign(enrollment_proof_text(fields))).decode()


def verify_enrollment(fields: dict, proof_b64: str) -> None:
    """Raise BadSignature unless ``proof_b64`` is the enrolled public key's signature over the request."""
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(fields["public_key"], validate=True))
        pub.verify(base64.b64decode(proof_b64, validate=True), enrollment_proof_text(fields))
    except (InvalidSignature, ValueError) as err:
        raise BadSignature(f"The enrollment of device {fields['device_id']} is not signed by the key it "
                           f"enrolls; only the workstation holding that key can enroll it.") from err


def verify_checkpoint(checkpoint: Checkpoint, public_key_b64: str) -> None:
    """Raise BadSignature unless the checkpoint was signed by the holder of this public key."""
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        pub.verify(base64.b64decode(checkpoint.signature), checkpoint.signed_text())
    except (InvalidSignature, ValueError) as err:
        raise BadSignature(f"The checkpoint of device {checkpoint.device_id} at seq "
                           f"{checkpoint.device_seq} is not signed by that device's key.") from err
