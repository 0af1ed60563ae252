"""Air-gap bundles and receipts: the same push batches, carried as files.

A bundle is ``MAGIC | header length (4 bytes) | header JSON | ciphertext``. The ciphertext is
the gzip of the payload JSON sealed to the central's X25519 bundle key (ephemeral X25519, HKDF-
SHA256, AES-256-GCM, the header as associated data), so only the central can read it and any
cut or changed byte fails the tag. The header holds no patient data. Each batch inside keeps its
checkpoint signed by the device, as over HTTP.

A receipt is JSON signed by the central's Ed25519 key: the per-event answers for one bundle.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import zlib

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .canonical import canonical_json
from .errors import TideoverError

MAGIC = b"TIDEOVER-BUNDLE/1\n"
ALG = "x25519-hkdf-sha256-aes256gcm+gzip"
RECEIPT_FORMAT = "tideover-receipt/1"
MAX_HEADER = 64 * 1024


class BundleError(TideoverError):
    """A bundle or receipt file that cannot be used: not one, cut short, changed, or for someone else."""

    kind = "bad_bundle"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _raw_public(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key(shared: bytes, header: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"tideover-bundle/1|" + header).derive(shared)


def seal_bundle(payload: bytes, header: dict, central_bundle_key_b64: str) -> bytes:
    """Encrypt ``payload`` (JSON bytes) so only the central holding the bundle key can read it."""
    try:
        central = X25519PublicKey.from_public_bytes(base64.b64decode(central_bundle_key_b64))
    except ValueError as err:
        raise BundleError(f"The central's bundle key is not an X25519 public key ({err}).") from None
    eph = X25519PrivateKey.generate()
    nonce = os.urandom(12)
    head = canonical_json({**header, "alg": ALG, "ephemeral": _b64(_raw_public(eph)), "nonce": _b64(nonce),
                           "recipient": _b64(_raw_public(central))}).encode()
    sealed = AESGCM(_key(eph.exchange(central), head)).encrypt(nonce, gzip.compress(payload, 6), head)
    return MAGIC + len(head).to_bytes(4, "big") + head + sealed


def read_header(data: bytes) -> tuple[dict, bytes, bytes]:
    """(header, header bytes, ciphertext) of a bundle, or BundleError."""
    if not data.startswith(MAGIC):
        raise BundleError("This is not a Tideover bundle file.")
    rest = data[len(MAGIC):]
    if len(rest) < 4:
        raise BundleError("The bundle file is truncated (no header).")
    n = int.from_bytes(rest[:4], "big")
    if n > MAX_HEADER or len(rest) < 4 + n:
        raise BundleError("The bundle file is truncated or damaged (header).")
    head = rest[4:4 + n]
    try:
        header = json.loads(head)
    except ValueError:
        raise BundleError("The bundle file is damaged (header is not JSON).") from None
    if not isinstance(header, dict) or header.get("alg") != ALG:
        raise BundleError("The bundle file uses an unknown format.")
    return header, head, rest[4 + n:]


def open_bundle(data: bytes, central_bundle_key: X25519PrivateKey) -> tuple[dict, bytes]:
    """(header, payload JSON bytes); BundleError if the file is cut, changed, or for another central."""
    header, head, sealed = read_header(data)
    try:
        if base64.b64decode(header["recipient"]) != _raw_public(central_bundle_key):
            raise BundleError("This bundle was made for another central (its key does not match).")
        eph = X25519PublicKey.from_public_bytes(base64.b64decode(header["ephemeral"]))
        nonce = base64.b64decode(header["nonce"])
        packed = AESGCM(_key(central_bundle_key.exchange(eph), head)).decrypt(nonce, sealed, head)
        return header, gzip.decompress(packed)
    except (InvalidTag, ValueError, KeyError, TypeError, EOFError, OSError, zlib.error):
        raise BundleError("The bundle file is truncated or damaged: it does not decrypt. "
                          "Export it again at the workstation.") from None


def sign_receipt(receipt: dict, key: Ed25519PrivateKey) -> dict:
    body = {**receipt, "format": RECEIPT_FORMAT}
    body.pop("signature", None)
    return {**body, "signature": _b64(key.sign(canonical_json(body).encode()))}


def verify_receipt(receipt: object, central_signing_key_b64: str) -> dict:
    """The receipt if the central's key signed it; BundleError otherwise."""
    if not isinstance(receipt, dict) or receipt.get("format") != RECEIPT_FORMAT:
        raise BundleError("This is not a Tideover receipt.")
    body = {k: v for k, v in receipt.items() if k != "signature"}
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(central_signing_key_b64))
        pub.verify(base64.b64decode(str(receipt.get("signature", ""))), canonical_json(body).encode())
    except (InvalidSignature, ValueError, TypeError):
        raise BundleError("The receipt is not signed by this workstation's central; it was changed "
                          "or comes from another central.") from None
    return receipt


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` whole or not at all (temp file in the same folder, fsync, rename)."""
    from pathlib import Path

    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
