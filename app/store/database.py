"""Opening the SQLCipher file with the raw data key, and mapping its errors to store errors."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import sqlcipher3
import sqlite_utils

from .errors import DiskFull, StoreError, WrongStore

DB_NAME = "tideover.db"
KEYRING_NAME = "keyring.json"


def open_encrypted(path: Path, data_key: bytes) -> sqlite_utils.Database:
    """Open (or create) the SQLCipher database at ``path`` keyed with the raw 256-bit ``data_key``.

    WAL with ``synchronous=FULL``: a transaction that returned survives a power cut. Temporary
    tables and sorts stay in memory so nothing spills to a temp file.
    """
    if len(data_key) != 32:
        raise StoreError("The data key must be 32 bytes.")
    if not path.exists():
        # Create it private: SQLite gives the -wal and -shm files the main file's permissions.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA key = \"x'{data_key.hex()}'\"")
        conn.execute("PRAGMA cipher_page_size = 8192")  # event rows are ~2.5 KB: 3 to a page, not 1
        conn.execute("PRAGMA cipher_memory_security = OFF")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        # Checkpoint the WAL less often (32 MiB): fewer capture commits pay for copying pages back.
        conn.execute("PRAGMA wal_autocheckpoint = 4000")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA cache_size = -16384")  # 16 MiB of decrypted pages
    except sqlcipher3.DatabaseError as err:
        conn.close()
        if "full" in str(err).lower() or "disk i/o" in str(err).lower():
            raise translate(err) from None
        raise WrongStore(f"{path} cannot be opened with this workstation's key: it belongs to another "
                         f"site or device, or it is truncated or damaged ({err}).") from None
    return sqlite_utils.Database(conn)


def translate(err: Exception) -> Exception:
    """A store error for a SQLite error, with a message a person can act on."""
    text = str(err).lower()
    if "full" in text:
        return DiskFull("The disk is full: nothing from this action was saved. Free space, then retry; "
                        "if it persists, switch to paper downtime forms.")
    if "disk i/o" in text:
        return DiskFull("The disk could not be written (it may be full or failing): nothing from this action "
                        "was saved. Call IT; if it persists, switch to paper downtime forms.")
    if "malformed" in text or "not a database" in text or "hmac" in text:
        return WrongStore(f"The database is damaged ({err}); run `tideover audit verify` and call IT.")
    if "append-only" in text:
        return StoreError("Events cannot be changed or removed; record a correction instead.")
    return StoreError(f"The local store refused the change: {err}")


@contextlib.contextmanager
def store_errors():
    """Turn sqlcipher3 errors raised inside the block into store errors."""
    try:
        yield
    except sqlcipher3.Error as err:
        raise translate(err) from None


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database):
    """One write transaction: everything in the block is committed together, or rolled back.

    The connection runs in autocommit mode (``isolation_level=None``), where Python's
    ``with conn:`` would NOT open a transaction; this opens one explicitly. Do not call
    sqlite-utils write helpers inside it: they commit on their own.
    """
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # SQLite rolls back by itself on some errors (a full disk); only roll back what is open.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def rows(db: sqlite_utils.Database, sql: str, params: list | tuple = ()) -> list[dict]:
    """Rows as dicts, for the store's own named reads (read_models.py, outbox.py, setaside.py)."""
    with store_errors():
        cur = db.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
