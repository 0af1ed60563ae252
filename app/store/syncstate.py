"""Sync state of a workstation store: the central's answers for own events and the watermark.

An own event is pending until an answer for it is recorded in ``sync_state`` (see migrations.py);
the watermark is the highest seq up to which every own event has an answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .database import store_errors, transaction
from .errors import StoreError

if TYPE_CHECKING:
    from .store import Store


def sync_watermark(store: Store) -> int:
    with store_errors():
        row = store.db.execute("SELECT value FROM meta WHERE key = 'sync_watermark'").fetchone()
    return int(row[0]) if row else 0


def pending_count(store: Store) -> int:
    """How many of this device's own events the central has not answered yet."""
    mark = sync_watermark(store)
    with store_errors():
        answered = store.db.execute("SELECT count(*) FROM sync_state WHERE device_seq > ?", [mark]).fetchone()[0]
    return store.head.device_seq - mark - answered


def record_sync_answers(store: Store, answers: list[dict]) -> int:
    """Store the central's answers for own events and advance the watermark; returns rows written.

    Each answer: ``{"device_seq", "event_id", "state": synced|quarantined|rejected, "result",
    "reason"}``. An answer for an event this device does not hold is refused (nothing written).
    """
    now = store.clock.now_iso()
    if not answers:
        return 0
    seqs = [a["device_seq"] for a in answers]
    with store_errors(), transaction(store.db) as conn:
        # One range read and one executemany: a sync answers up to 1,000 events at a time.
        held = dict(conn.execute("SELECT device_seq, event_id FROM events WHERE device_id = ? AND device_seq"
                                 " BETWEEN ? AND ?", [store.device_id, min(seqs), max(seqs)]).fetchall())
        for a in answers:
            if held.get(a["device_seq"]) != a["event_id"]:
                raise StoreError(f"The answer for seq {a['device_seq']} names an event this workstation "
                                 f"does not hold; nothing was marked.")
        conn.executemany("INSERT OR REPLACE INTO sync_state (device_seq, event_id, state, result, reason,"
                         " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                         [[a["device_seq"], a["event_id"], a["state"], a.get("result") or a["state"],
                           a.get("reason"), now] for a in answers])
        mark = int((conn.execute("SELECT value FROM meta WHERE key = 'sync_watermark'").fetchone()
                    or ["0"])[0])
        for (seq,) in conn.execute("SELECT device_seq FROM sync_state WHERE device_seq > ? ORDER BY device_seq",
                                   [mark]).fetchall():
            if seq != mark + 1:
                break
            mark = seq
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('sync_watermark', ?)", [str(mark)])
    return len(answers)


def sync_state_of(store: Store, event_id: str) -> str:
    """'pending', 'synced', 'quarantined' or 'rejected' for one of this device's events."""
    with store_errors():
        row = store.db.execute("SELECT e.device_seq, s.state FROM events e LEFT JOIN sync_state s ON "
                               "s.device_seq = e.device_seq WHERE e.event_id = ? AND e.device_id = ?",
                               [event_id, store.device_id]).fetchone()
    if row is None:
        raise StoreError(f"Event {event_id} is not one of this workstation's events.")
    return row[1] or "pending"
