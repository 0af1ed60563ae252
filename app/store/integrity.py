"""Integrity of a workstation store: signed checkpoints of the chain head, the full chain check,
and projections rebuilt from the log to prove they match it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson

from sync.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from sync.errors import ChainBroken, NotGranted
from sync.events import verify_chain, verify_fragments
from sync.grants import GrantBook

from .bodies import decode
from .database import store_errors, transaction
from .projections import digest, rebuild

if TYPE_CHECKING:
    from .store import Store


def checkpoint(store: Store, why: str) -> Checkpoint:
    """Sign the current chain head and keep the signature (at each sync and lock)."""
    cp = sign_checkpoint(store._signing_key, store.device_id, store.head.device_seq, store.head.hash,
                         store.clock.now_iso())
    with store_errors(), transaction(store.db):
        store.db.execute("INSERT INTO checkpoints (device_seq, hash, signed_at, signature, why)"
                         " VALUES (?, ?, ?, ?, ?)", [cp.device_seq, cp.hash, cp.signed_at, cp.signature, why])
    return cp


def verify(store: Store) -> int:
    """Check every device's chain and this device's latest signed checkpoint; return events checked.

    Raises ChainBroken naming the first bad event.
    """
    total = 0
    with store_errors():
        rows = store.db.conn.execute(
            "SELECT body, body_codec, hash, device_seq, event_id, type, task_id, hlc FROM events WHERE device_id = ?"
            " ORDER BY device_seq", [store.device_id])
        total += verify_chain(_granted(_checked_bodies(rows), GrantBook(store.device_id)))
        # Other devices' events held here are the shared ones pulled from the central, so their
        # chains have gaps: check each event's hash, and the link wherever seqs are consecutive.
        rows = store.db.conn.execute(
            "SELECT body, body_codec, hash, device_seq, event_id, type, task_id, hlc FROM events WHERE device_id != ?"
            " ORDER BY device_id, device_seq", [store.device_id])
        total += verify_fragments(_checked_bodies(rows))
        cp = store.db.execute("SELECT device_seq, hash, signed_at, signature FROM checkpoints "
                              "ORDER BY id DESC LIMIT 1").fetchone()
    if cp:
        checkpoint = Checkpoint(device_id=store.device_id, device_seq=cp[0], hash=cp[1], signed_at=cp[2],
                                signature=cp[3])
        verify_checkpoint(checkpoint, store.public_key)
        row = store.db.execute("SELECT hash FROM events WHERE device_id = ? AND device_seq = ?",
                               [store.device_id, cp[0]]).fetchone()
        if row is None or row[0] != cp[1]:
            raise ChainBroken(f"The signed checkpoint at seq {cp[0]} no longer matches the log: "
                              f"events were removed or replaced.", device_id=store.device_id,
                              device_seq=cp[0])
    return total


def _checked_bodies(rows) -> Iterator[dict]:
    for body, codec, stored_hash, device_seq, event_id, type_, task_id, hlc in rows:
        parsed = orjson.loads(decode(body, codec, event_id=event_id, device_seq=device_seq))
        if (parsed.get("hash"), parsed.get("device_seq"), parsed.get("event_id"), parsed.get("type"),
                parsed.get("task_id"), parsed.get("hlc")) != (stored_hash, device_seq, event_id, type_, task_id, hlc):
            raise ChainBroken(f"Event {event_id} (seq {device_seq}): its indexed columns disagree with its "
                              f"body; the row was edited.", device_seq=device_seq, event_id=event_id)
        yield parsed


def _granted(bodies: Iterator[dict], book: GrantBook) -> Iterator[dict]:
    """Pass bodies on, raising NotGranted at the first grant or actor the device's grants do not allow."""
    for body in bodies:
        problem = book.problem(body)
        if problem is not None:
            raise NotGranted(f"Event {body['event_id']} (seq {body['device_seq']}, {body['type']}): {problem[1]}.",
                             reason=problem[0], device_seq=body["device_seq"], event_id=body["event_id"])
        book.take(body)
        yield body


def compact_wal(store: Store) -> None:
    """Copy the write-ahead log into the database and cut it to zero bytes (after large pulls).

    SQLite's automatic checkpoints reuse the WAL file but never shrink it, so one large pull
    would keep its size on disk for good.
    """
    with store_errors():
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


def rebuild_projections(store: Store) -> tuple[str, str, int]:
    """Rebuild projections from events; returns (digest before, digest after, events applied)."""
    with store_errors():
        before = digest(store.db)
        count = rebuild(store.db)
        return before, digest(store.db), count


def projection_digest(store: Store) -> str:
    """A digest of every projection table: equal digests, equal projections."""
    with store_errors():
        return digest(store.db)
