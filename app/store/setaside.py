"""Pulled events this workstation cannot take, set aside so they never block what follows them.

Such an event (not valid by ``sync.validity``, or changed after it was hashed) is kept here, in
the encrypted store, with the reason, until the central has been told and a super-user has seen
it; the pull cursor moves on past it. Rows are never changed except to note the report.
"""

from __future__ import annotations

import hashlib

import orjson

from sync.errors import ChainBroken, InvalidEvent
from sync.protocol import HASH_MISMATCH

from .database import rows, store_errors, transaction

REPORT_BATCH = 500


def reason_of(err: InvalidEvent | ChainBroken) -> str:
    """The protocol's reason code for why a pulled event cannot be taken."""
    return HASH_MISMATCH if isinstance(err, ChainBroken) else err.reason


def record(conn, body: object, err: InvalidEvent | ChainBroken, now: str) -> bool:
    """Keep ``body`` (as received) with the reason, inside the caller's transaction; False if it was
    set aside before."""
    raw = body if isinstance(body, dict) else {}
    text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode() if _encodable(body) else repr(body)[:100_000]

    def field(name: str, kind: type):
        value = raw.get(name)
        return value if type(value) is kind else None

    cur = conn.execute(
        "INSERT OR IGNORE INTO set_aside (body_sha256, event_id, device_id, device_seq, type, task_id, reason,"
        " detail, body, set_aside_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [hashlib.sha256(text.encode("utf-8", "replace")).hexdigest(), (field("event_id", str) or "?")[:64],
         (field("device_id", str) or "")[:64], field("device_seq", int), (field("type", str) or "")[:64],
         (field("task_id", str) or "")[:64] or None, reason_of(err), str(err)[:500], text, now])
    return cur.rowcount > 0


def _encodable(body: object) -> bool:
    try:
        orjson.dumps(body)
    except TypeError:
        return False
    return True


def listing(store) -> list[dict]:
    """Every pulled event set aside, newest last: ids, type, reason (no bodies: they hold patient data)."""
    found = rows(store.db, "SELECT event_id, device_id, device_seq, type, task_id, reason, detail, set_aside_at,"
                       " reported_at FROM set_aside ORDER BY id")
    return [{**r, "reported": r.pop("reported_at") is not None} for r in found]


def count(store) -> int:
    return rows(store.db, "SELECT count(*) AS n FROM set_aside")[0]["n"]


def unreported(store, limit: int = REPORT_BATCH) -> list[dict]:
    """Set-aside events the central has not been told about: what goes in a report to it."""
    return rows(store.db, "SELECT id, event_id, reason, detail FROM set_aside WHERE reported_at IS NULL "
                       "ORDER BY id LIMIT ?", [limit])


def mark_reported(store, ids: list[int], now: str) -> None:
    with store_errors(), transaction(store.db) as conn:
        conn.executemany("UPDATE set_aside SET reported_at = ? WHERE id = ?", [[now, i] for i in ids])
