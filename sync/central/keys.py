"""The central's own key pairs, kept apart from the event data.

The private keys live in a keys folder (0700) as two PEM files (0600) on the server's disk, never in
the database, so a database dump, replica or backup holds no key that can sign receipts or open
bundles. The database keeps only the public halves, so a server started with another folder's keys
is refused instead of splitting trust in two. A database made before this held the private keys in
``central_keys.private_key``: the first start moves them into the folder and empties the column.

Files are created with their final mode by ``os.open`` (and chmod-ed, in case the umask was wider)
rather than by changing the process umask, which is process-wide and not thread-safe.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.clock import Clock
from sync.errors import TideoverError
from sync.protocol import CentralKeys

from .db import CentralDB, central_keys, private_dir

_RAW_PUB = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
_KINDS = {"bundle": X25519PrivateKey, "signing": Ed25519PrivateKey}


class CentralKeysError(TideoverError):
    kind = "central_keys"


@dataclass(frozen=True)
class KeyPair:
    bundle_private: X25519PrivateKey
    signing_private: Ed25519PrivateKey

    def public(self) -> CentralKeys:
        return CentralKeys(
            bundle_public_key=base64.b64encode(self.bundle_private.public_key().public_bytes(*_RAW_PUB)).decode(),
            signing_public_key=base64.b64encode(self.signing_private.public_key().public_bytes(*_RAW_PUB)).decode())


def write_private(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new file at ``path`` readable by its owner only; False if it exists already.

    The bytes go to a temporary file first and are linked in place, so a reader never sees half a key
    and two servers starting at once keep one winner's file.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _read(path: Path, name: str):
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise CentralKeysError(f"{path} is not a PEM private key; restore the keys folder from its backup.") from None
    if not isinstance(key, _KINDS[name]):
        raise CentralKeysError(f"{path} holds a {type(key).__name__}, not the central's {name} key.")
    return key


def _public_hex(key) -> str:
    return key.public_key().public_bytes(*_RAW_PUB).hex()


def load_keys(db: CentralDB, clock: Clock | None = None) -> KeyPair:
    """The central's key pairs from ``db.keys_dir``, made on first use (and moved out of an old database).

    Raises CentralKeysError when the folder's keys are not the ones the database was set up with.
    """
    clock = clock or Clock()
    folder = private_dir(db.keys_dir)
    with db.read() as conn:
        rows = {r.name: r for r in conn.execute(sa.select(central_keys))}
    for name, kind in _KINDS.items():
        path = folder / f"{name}.key"
        row = rows.get(name)
        if path.exists():
            continue
        if row is not None and row.private_key:  # a database from before the keys folder
            write_private(path, _pem(kind.from_private_bytes(bytes.fromhex(row.private_key))))
        elif row is None:
            write_private(path, _pem(kind.generate()))
        else:
            raise CentralKeysError(
                f"The central's {name} key is not in {folder}, and this database was set up with it. Copy "
                f"the keys folder from the server that made it (or restore it from backup) and give it "
                f"with --keys-dir or TIDEOVER_CENTRAL_KEYS_DIR.")
    pair = {name: _read(folder / f"{name}.key", name) for name in _KINDS}
    with db.write() as conn:
        conn.execute(db.insert_ignore(central_keys), [
            {"name": name, "private_key": "", "public_key": _public_hex(key), "created_at": clock.now_iso()}
            for name, key in pair.items()])
        stored = {r.name: r for r in conn.execute(sa.select(central_keys))}
        for name, key in pair.items():
            if stored[name].public_key != _public_hex(key):
                raise CentralKeysError(
                    f"The {name} key in {folder} is not the one this database was set up with; give the "
                    f"keys folder of this central with --keys-dir (or TIDEOVER_CENTRAL_KEYS_DIR).")
        moved = [name for name in pair if stored[name].private_key]
        if moved:
            if db.dialect == "sqlite":  # zero the old cells instead of leaving them as free space
                conn.exec_driver_sql("PRAGMA secure_delete = ON")
            conn.execute(sa.update(central_keys).where(central_keys.c.name.in_(moved)).values(private_key=""))
    if moved and db.dialect == "sqlite":  # and empty the WAL, which still holds the old pages
        raw = db.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    return KeyPair(pair["bundle"], pair["signing"])
