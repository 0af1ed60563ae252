"""The event log of a workstation store: chaining and appending events, taking pulled ones, reading bodies.

Everything that changes data goes through ``record_many``: one transaction that chains, appends,
marks the event pending sync (by its absence from ``sync_state``) and updates the projections.
Event bodies are read back only through the named readers at the end of this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlite_utils

from sync.canonical import GENESIS_HASH, canonical_bytes
from sync.errors import ChainBroken, InvalidEvent
from sync.events import Actor, Event, new_id, seal
from sync.grants import TRUST_TYPES

from . import setaside
from .bodies import decode, insert_event
from .database import store_errors, transaction
from .users import check_grant, read_grant_book

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class Head:
    """The last event of this device's chain: its seq and hash (``GENESIS_HASH`` at seq 0)."""
    device_seq: int
    hash: str


def read_head(db: sqlite_utils.Database, device_id: str) -> Head:
    row = db.execute("SELECT device_seq, hash FROM events WHERE device_id = ? "
                     "ORDER BY device_seq DESC LIMIT 1", [device_id]).fetchone()
    return Head(row[0], row[1]) if row else Head(0, GENESIS_HASH)


def head_hlc(db: sqlite_utils.Database, device_id: str) -> str | None:
    row = db.execute("SELECT hlc FROM events WHERE device_id = ? ORDER BY device_seq DESC LIMIT 1",
                     [device_id]).fetchone()
    return row[0] if row else None


def record_many(store: Store, items: list[tuple[str, dict, dict | Actor | None, dict]]) -> list[Event]:
    """Record several events in one transaction: all of them, or (on any error) none.

    The chain head is read inside the write transaction, so another process that wrote to
    this store in between (a CLI command beside the desktop app) cannot fork the chain.
    """
    events: list[Event] = []
    book = None
    with store_errors():
        try:
            with transaction(store.db):
                head = read_head(store.db, store.device_id)
                for type_, payload, actor, fields in items:
                    ev = _seal(store, type_, payload, actor, fields, head)
                    if type_ in TRUST_TYPES:
                        book = book or read_grant_book(store.db, store.device_id)
                        check_grant(store, book, ev.body())
                    append(store, ev)
                    events.append(ev)
                    head = Head(ev.device_seq, ev.hash)
                store._projector.flush()
        finally:
            store._projector.forget()
    store._head = head
    return events


def _seal(store: Store, type_: str, payload: dict, actor, fields: dict, head: Head) -> Event:
    actor = actor or store.actor
    actor = actor.model_dump() if isinstance(actor, Actor) else actor
    now = store.clock.now_iso()
    base = {
        "event_id": new_id(), "type": type_, "site_id": store.site_id, "unit_id": store.unit_id,
        "device_id": store.device_id, "device_seq": head.device_seq + 1, "actor": actor,
        "occurred_at": now, "recorded_at": now, "hlc": store.clock.tick(),
        "source": f"workstation:{store.device_id}", "correlation_id": fields.get("task_id") or new_id(),
        "mode": store.settings["mode"], "payload": payload,
    }
    base.update({k: v for k, v in fields.items() if v is not None})
    return seal(base, head.hash)


def append(store: Store, ev: Event) -> int:
    """Append one sealed event inside the caller's transaction and project it; returns its row seq."""
    body = ev.body()
    seq = insert_event(store.db.conn, body, canonical_bytes(body))
    store._projector.apply(body, seq)
    return seq


def ingest_remote(store: Store, bodies: list[dict]) -> int:
    """Store and project events pulled from other devices; one it cannot take is set aside
    (``setaside.py``) and the rest are taken all the same. Returns how many are new."""
    from sync.events import parse_event
    from sync.protocol import is_shared_type

    new, max_hlc = 0, None
    with store_errors():
        try:
            with transaction(store.db):
                now = store.clock.now_iso()
                for body in bodies:
                    try:
                        ev = parse_event(body)
                    except (InvalidEvent, ChainBroken) as err:  # never blocks what follows it
                        setaside.record(store.db.conn, body, err, now)
                        continue
                    if ev.device_id == store.device_id or not is_shared_type(ev.type):
                        continue  # users, roles and sign-ins never come from another device
                    if store.db.execute("SELECT 1 FROM events WHERE event_id = ? OR (device_id = ? AND "
                                        "device_seq = ?)", [ev.event_id, ev.device_id,
                                                            ev.device_seq]).fetchone():
                        continue
                    if store.clock.observe(ev.hlc):
                        max_hlc = max(max_hlc or ev.hlc, ev.hlc)
                    append(store, ev)
                    new += 1
                store._projector.flush()
                if max_hlc:
                    store.db.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('max_remote_hlc', "
                                          "max(?, coalesce((SELECT value FROM meta WHERE key = "
                                          "'max_remote_hlc'), '')))", [max_hlc])
        finally:
            store._projector.forget()
    return new


# -- reading bodies back: each reader names what it reads ---------------------------------------
def _bodies(store: Store, where: str, params: list) -> Iterator[str]:
    """The canonical text of each body matching ``where`` (stored compressed: see bodies.py)."""
    with store_errors():
        for body, codec, event_id, seq in store.db.conn.execute(
                f"SELECT body, body_codec, event_id, device_seq FROM events {where}", params):
            yield decode(body, codec, event_id=event_id, device_seq=seq).decode("utf-8")


def all_bodies(store: Store) -> Iterator[str]:
    """Every event body held (own and pulled), in the order they were stored."""
    return _bodies(store, "ORDER BY seq", [])


def own_bodies(store: Store) -> Iterator[str]:
    """This device's own event bodies, in the order they were stored."""
    return _bodies(store, "WHERE device_id = ? ORDER BY seq", [store.device_id])


def bodies_of_type(store: Store, *types: str) -> Iterator[str]:
    """Bodies of the events of the given types, in the order they were stored."""
    marks = ", ".join("?" for _ in types)
    return _bodies(store, f"WHERE type IN ({marks}) ORDER BY seq", list(types))


def body_of(store: Store, event_id: str) -> str | None:
    """One event's body by its id, or None when this store does not hold it."""
    return next(_bodies(store, "WHERE event_id = ?", [event_id]), None)


def latest_body(store: Store) -> str | None:
    """The body of the event stored last, or None in an empty store."""
    return next(_bodies(store, "ORDER BY seq DESC LIMIT 1", []), None)


def task_bodies(store: Store, task_id: str) -> Iterator[str]:
    """The bodies of one task's events, in the order they were stored."""
    return _bodies(store, "WHERE task_id = ? ORDER BY seq", [task_id])


def own_event_ids(store: Store) -> list[str]:
    """The ids of this device's own events, in the order they were stored (no body is read)."""
    with store_errors():
        return [r[0] for r in store.db.conn.execute(
            "SELECT event_id FROM events WHERE device_id = ? ORDER BY seq", [store.device_id])]


def event_count(store: Store) -> int:
    """How many events this store holds (own and pulled)."""
    with store_errors():
        return store.db.execute("SELECT count(*) FROM events").fetchone()[0]
