"""The sync outbox of a workstation store: what is pending, batches to send, and answers received.

Added for the sync client (app/services/sync.py). Events are marked synced, quarantined or
rejected only from an answer of the central (an HTTP push response or a signed receipt).
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.checkpoint import Checkpoint, load_private_key, sign_checkpoint
from sync.protocol import HELD, QUARANTINED, REJECTED

from .database import store_errors
from .store import Store


@dataclass(frozen=True)
class Outgoing:
    device_seq: int
    event_id: str
    hash: str
    body: str


def pending_count(store: Store) -> int:
    with store_errors():
        return store.db.execute("SELECT count(*) FROM sync_state WHERE state = 'pending'").fetchone()[0]


def first_pending_seq(store: Store, after: int = 0) -> int | None:
    with store_errors():
        row = store.db.execute("SELECT min(device_seq) FROM sync_state WHERE state = 'pending' AND device_seq > ?",
                               [after]).fetchone()
    return row[0] if row and row[0] is not None else None


def batch_from(store: Store, start_seq: int, limit: int) -> list[Outgoing]:
    """This device's own events from ``start_seq`` on, at most ``limit``, in chain order."""
    with store_errors():
        rows = store.db.conn.execute(
            "SELECT device_seq, event_id, hash, body FROM events WHERE device_id = ? AND device_seq >= ? "
            "ORDER BY device_seq LIMIT ?", [store.device_id, start_seq, limit]).fetchall()
    return [Outgoing(*r) for r in rows]


def sign_at(store: Store, device_seq: int, head_hash: str) -> Checkpoint:
    """A checkpoint over this device's event at ``device_seq`` (a batch's last), signed, not kept."""
    key = load_private_key(bytes.fromhex(store.meta()["signing_key"]))
    return sign_checkpoint(key, store.device_id, device_seq, head_hash, store.clock.now_iso())


def apply_answers(store: Store, results: list[dict]) -> dict[str, int]:
    """Record the central's per-event answers; returns how many rows changed state, by new state."""
    now = store.clock.now_iso()
    rows = {"synced": [], "quarantined": [], "rejected": []}
    for r in results:
        result = r.get("result")
        state = "synced" if result in HELD else result if result in (QUARANTINED, REJECTED) else None
        if state is None:
            continue
        rows[state].append([state, result, r.get("reason"), now, r.get("event_id")])
    changed = {}
    with store_errors(), store.db.conn:
        for state, params in rows.items():
            if params:
                cur = store.db.conn.executemany(
                    "UPDATE sync_state SET state = ?, result = ?, reason = ?, updated_at = ? WHERE event_id = ?",
                    params)
                changed[state] = cur.rowcount
    return changed


def mark_refused(store: Store, from_seq: int, reason: str, after_reason: str) -> int:
    """Mark this device's pending events from ``from_seq`` on as rejected: the central refused the
    chain there (the first gets ``reason``, the rest ``after_reason``)."""
    now = store.clock.now_iso()
    with store_errors(), store.db.conn:
        a = store.db.conn.execute("UPDATE sync_state SET state = 'rejected', result = 'rejected', reason = ?, "
                                  "updated_at = ? WHERE device_seq = ? AND state = 'pending'",
                                  [reason, now, from_seq]).rowcount
        b = store.db.conn.execute("UPDATE sync_state SET state = 'rejected', result = 'rejected', reason = ?, "
                                  "updated_at = ? WHERE device_seq > ? AND state = 'pending'",
                                  [after_reason, now, from_seq]).rowcount
    return a + b


def held_back(store: Store) -> list[dict]:
    """This device's events the central quarantined or rejected, with the reason, for the workstation."""
    return store.query("SELECT s.event_id, s.device_seq, s.state, s.reason, e.type, e.task_id FROM sync_state s "
                       "JOIN events e ON e.event_id = s.event_id WHERE s.state IN ('quarantined', 'rejected') "
                       "ORDER BY s.device_seq")
