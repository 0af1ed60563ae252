"""The sync outbox of a workstation store: what is pending, batches to send, and answers received.

Added for the sync client (app/services/sync.py). Events are marked synced, quarantined or
rejected only from an answer of the central (an HTTP push response or a signed receipt).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.checkpoint import Checkpoint, load_private_key, sign_checkpoint
from sync.protocol import HELD, QUARANTINED, REJECTED

from . import syncstate
from .bodies import decode
from .database import rows, store_errors
from .store import Store


@dataclass(frozen=True)
class Outgoing:
    device_seq: int
    event_id: str
    hash: str
    body: bytes


def pending_count(store: Store) -> int:
    return syncstate.pending_count(store)


def first_pending_seq(store: Store, after: int = 0) -> int | None:
    """The lowest ``device_seq`` after ``after`` of an own event the central has not answered."""
    with store_errors():
        row = store.db.execute(
            "SELECT min(e.device_seq) FROM events e WHERE e.device_id = ? AND e.device_seq > ? AND NOT EXISTS"
            " (SELECT 1 FROM sync_state s WHERE s.device_seq = e.device_seq)",
            [store.device_id, max(after, syncstate.sync_watermark(store))]).fetchone()
    return row[0] if row and row[0] is not None else None


def batch_from(store: Store, start_seq: int, limit: int) -> list[Outgoing]:
    """This device's own events from ``start_seq`` on, at most ``limit``, in chain order; bodies as their
    canonical UTF-8 bytes (decompressed, never parsed), ready to send."""
    with store_errors():
        rows = store.db.conn.execute(
            "SELECT device_seq, event_id, hash, CAST(body AS BLOB), body_codec FROM events WHERE device_id = ? AND"
            " device_seq >= ? ORDER BY device_seq LIMIT ?", [store.device_id, start_seq, limit]).fetchall()
    return [Outgoing(seq, event_id, hash_, decode(body, codec, event_id=event_id, device_seq=seq))
            for seq, event_id, hash_, body, codec in rows]


def signing_key(store: Store) -> Ed25519PrivateKey:
    return load_private_key(bytes.fromhex(store.meta()["signing_key"]))


def sign_at(store: Store, device_seq: int, head_hash: str, key: Ed25519PrivateKey | None = None) -> Checkpoint:
    """A checkpoint over this device's event at ``device_seq`` (a batch's last), signed, not kept."""
    return sign_checkpoint(key or signing_key(store), store.device_id, device_seq, head_hash, store.clock.now_iso())


def apply_answers(store: Store, results: list[dict]) -> dict[str, int]:
    """Record the central's per-event answers; returns how many events got each state.

    An answer already recorded the same way is skipped, so a repeated answer changes nothing."""
    seqs = [r["device_seq"] for r in results if isinstance(r.get("device_seq"), int)]
    known = {}
    if seqs:
        with store_errors():
            known = {(seq, state, result) for seq, state, result in store.db.execute(
                "SELECT device_seq, state, result FROM sync_state WHERE device_seq BETWEEN ? AND ?",
                [min(seqs), max(seqs)]).fetchall()}
    answers, changed = [], {}
    for r in results:
        result = r.get("result")
        state = "synced" if result in HELD else result if result in (QUARANTINED, REJECTED) else None
        if state is None or not isinstance(r.get("device_seq"), int) or \
                (r["device_seq"], state, result) in known:
            continue
        answers.append({"device_seq": r["device_seq"], "event_id": r.get("event_id"), "state": state,
                        "result": result, "reason": r.get("reason")})
        changed[state] = changed.get(state, 0) + 1
    if answers:
        syncstate.record_sync_answers(store, answers)
    return changed


def mark_refused(store: Store, from_seq: int, reason: str, after_reason: str) -> int:
    """Mark this device's unanswered events from ``from_seq`` on as rejected: the central refused the
    chain there (the first gets ``reason``, the rest ``after_reason``)."""
    with store_errors():
        rows = store.db.execute(
            "SELECT e.device_seq, e.event_id FROM events e WHERE e.device_id = ? AND e.device_seq >= ? AND NOT EXISTS"
            " (SELECT 1 FROM sync_state s WHERE s.device_seq = e.device_seq) ORDER BY e.device_seq",
            [store.device_id, from_seq]).fetchall()
    answers = [{"device_seq": seq, "event_id": eid, "state": "rejected", "result": "rejected",
                "reason": reason if seq == from_seq else after_reason} for seq, eid in rows]
    if answers:
        syncstate.record_sync_answers(store, answers)
    return len(answers)


def held_back(store: Store) -> list[dict]:
    """What a super-user reviews (ids, types and reason codes only: no patient data): this device's
    events the central quarantined or rejected, then events pulled from other devices that this
    workstation could not take and set aside (state ``set_aside``)."""
    own = rows(store.db, "SELECT s.event_id, e.device_id, s.device_seq, s.state, s.reason, e.type, e.task_id "
                      "FROM sync_state s JOIN events e ON e.device_id = ? AND e.device_seq = s.device_seq "
                      "WHERE s.state IN ('quarantined', 'rejected') ORDER BY s.device_seq", [store.device_id])
    pulled = rows(store.db, "SELECT event_id, device_id, device_seq, 'set_aside' AS state, reason, type, task_id "
                         "FROM set_aside ORDER BY id")
    return own + pulled
