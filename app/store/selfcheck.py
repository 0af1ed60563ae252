"""What ``tideover self-test`` asks of the store's engine: SQLCipher's version and settings."""

from __future__ import annotations

from .store import Store


def cipher_version(store: Store) -> str:
    """SQLCipher's version as the open, keyed database reports it ('' if it is not SQLCipher)."""
    row = store.db.execute("PRAGMA cipher_version").fetchone()
    return row[0] if row and row[0] else ""
