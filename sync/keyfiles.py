"""Ed25519 key files for the two offline signing keys IT holds: the release key (the installer's
manifest, packaging/) and the site profile key (site settings, sync/profile.py).

A pair is two PEM files: ``NAME.key`` (PKCS#8, 0600, encrypted when a passphrase is given) and
``NAME.pub`` (SubjectPublicKeyInfo). A public key may also be given as the bare base64 of its 32 raw
bytes, the form the profile and the manifest carry. Private keys never go into the repository
(.gitignore refuses ``*.key``).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import TideoverError

_RAW_PUB = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class KeyFileError(TideoverError):
    """A key file that is missing, unreadable or not the Ed25519 key it should be."""

    kind = "key_file"


def new_key_pair(out_dir: Path, name: str, passphrase: bytes | None = None) -> tuple[Path, Path]:
    """Write a new Ed25519 pair as ``out_dir/NAME.key`` and ``out_dir/NAME.pub``; never overwrites."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = out_dir / f"{name}.key", out_dir / f"{name}.pub"
    for path in (priv_path, pub_path):
        if path.exists():
            raise KeyFileError(f"{path} exists already; refusing to overwrite a signing key.")
    key = Ed25519PrivateKey.generate()
    enc = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))
    pub_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv_path, pub_path


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM file ``path`` (passphrase if it is encrypted)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise KeyFileError(f"Cannot read the private key {path}: {err.strerror or err}.") from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        raise KeyFileError(f"{path} is encrypted: give its passphrase (or it is not encrypted and a "
                           f"passphrase was given).") from None
    except ValueError:
        raise KeyFileError(f"{path} is not a PEM private key (or the passphrase is wrong).") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 signing key.")
    return key


def public_key_from_text(text: str, source: str = "the public key") -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text or the base64 of its 32 raw bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise KeyFileError(f"{source} is not an Ed25519 public key (PEM, or base64 of 32 bytes).") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{source} holds a {type(key).__name__}, not an Ed25519 public key.")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in file ``path`` (PEM or base64)."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as err:
        raise KeyFileError(f"Cannot read the public key {path}: {getattr(err, 'strerror', None) or err}.") from None
    return public_key_from_text(text, str(path))


def public_key_b64(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The base64 of a public key's 32 raw bytes."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(pub.public_bytes(*_RAW_PUB)).decode()


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """A short name of a public key (16 hex of the SHA-256 of its raw bytes): says which key signed."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return hashlib.sha256(pub.public_bytes(*_RAW_PUB)).hexdigest()[:16]
