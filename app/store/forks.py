"""A workstation's own chain when the central holds more of it: a restore from an older copy.

The central's copy of a device's chain is the reference (ARCHITECTURE.md, "Trust and time").
When a workstation restored from a backup learns that the central holds its own events past the
point where the two copies agree (the fork point), ``take_back`` does, in ONE transaction:

1. every own event after the fork point (made since the restore, at seqs the central already
   holds) is copied byte for byte into ``forked_events`` and only then leaves ``events`` (the
   trigger of migration 5 allows a DELETE of nothing else): the recorded fork, never deleted;
2. the central's events for those seqs and after are appended, as the central holds them;
3. each forked event is re-recorded after the central's head: the same event (same id, content,
   actor and times) with a new seq and link, then a ``device.chain_recovered`` event naming every
   forked event, its old seq and its new one (``forked_events.re_recorded_seq`` locally). The id
   stays, so references to it hold (a task's causation, a role grant signed over its id) and the
   central gets each piece of work once, under the id it was made with. An event the device's role
   grants would not allow at its new place is kept in the fork only, listed with the reason;
4. the answers for the taken-back events, a new signed checkpoint, and projections rebuilt.

All or nothing: a kill or an error anywhere leaves the store as it was, and the next try starts
again from the same state. The re-recorded events are ordinary pending events afterwards, so a
lost push answer is answered ``duplicate`` on the next sync: the central gets each piece of work
exactly once.
"""

from __future__ import annotations

import json

import orjson

from sync.canonical import GENESIS_HASH, canonical_bytes
from sync.checkpoint import sign_checkpoint
from sync.errors import ChainBroken
from sync.events import Event, new_id, recompute_hash, seal
from sync.grants import GrantBook
from sync.protocol import AFTER_BREAK, CHAIN_BROKEN, HELD

from . import syncstate
from .bodies import decode, insert_event
from .database import store_errors, transaction
from .projections import rebuild_within
from .store import SYSTEM_ACTOR, Head, Store
from .users import TRUST_WHERE

FORK_META = "chain_fork"  # a fork seen by the sync and waiting for an admin's `tideover recover-chain`
_REFUSED_AT_BREAK = (CHAIN_BROKEN, AFTER_BREAK)
# Fields a re-recorded event gets anew; everything else is the original's content.
_CHAIN_FIELDS = ("event_id", "device_seq", "prev_hash", "hash")


def trusted_prefix(store: Store) -> int:
    """The highest seq up to which the central is known to hold exactly this store's events: every
    one has an answer, none of them the refusal at a chain break (which older clients recorded)."""
    mark = syncstate.sync_watermark(store)
    with store_errors():
        row = store.db.execute(f"SELECT min(device_seq) FROM sync_state WHERE reason IN "
                               f"({', '.join('?' for _ in _REFUSED_AT_BREAK)})", list(_REFUSED_AT_BREAK)).fetchone()
    return min(mark, row[0] - 1) if row and row[0] is not None else mark


def refused_at_break(store: Store) -> bool:
    """True when an older client marked own events rejected at a chain break (they may be a fork)."""
    with store_errors():
        return store.db.execute(f"SELECT 1 FROM sync_state WHERE reason IN "
                                f"({', '.join('?' for _ in _REFUSED_AT_BREAK)}) LIMIT 1",
                                list(_REFUSED_AT_BREAK)).fetchone() is not None


def own_hashes(store: Store, after: int, upto: int) -> dict[int, tuple[str, str]]:
    """seq -> (event_id, hash) of this device's own events in (after, upto]."""
    with store_errors():
        return {seq: (eid, h) for seq, eid, h in store.db.execute(
            "SELECT device_seq, event_id, hash FROM events WHERE device_id = ? AND device_seq > ? AND device_seq <= ?",
            [store.device_id, after, upto]).fetchall()}


def own_hash_at(store: Store, seq: int) -> str | None:
    if seq == 0:
        return GENESIS_HASH
    with store_errors():
        row = store.db.execute("SELECT hash FROM events WHERE device_id = ? AND device_seq = ?",
                               [store.device_id, seq]).fetchone()
    return row[0] if row else None


def note_fork(store: Store, fork: dict | None) -> None:
    """Keep (or clear) what the sync found, for `tideover status` and the banner."""
    if fork is None:
        with store_errors(), transaction(store.db):
            store.db.execute("DELETE FROM meta WHERE key = ?", [FORK_META])
        return
    store.set_meta(FORK_META, json.dumps(fork, sort_keys=True))


def pending_fork(store: Store) -> dict | None:
    raw = store.meta().get(FORK_META)
    return json.loads(raw) if raw else None


def take_back(store: Store, *, fork_seq: int, central: list[tuple[dict, str, str | None]],
              answered_from: int, confirmed_by: str | None, reason: str | None = None) -> dict:
    """Make this store's chain the central's copy from ``fork_seq`` on, keeping every own event.

    ``central`` holds (body, result, reason) of the central's copy of this device's events after
    ``answered_from`` in seq order, already checked against the device's own signed checkpoint;
    its events from ``fork_seq`` on are taken into the chain, and all of them get their answers.
    Returns what was done: the fork id, counts, and each forked event with its new seq.
    """
    taken = [c for c in central if c[0]["device_seq"] >= fork_seq]
    if not taken:
        raise ChainBroken("There is nothing of this device's chain to take back from the central.",
                          device_id=store.device_id, device_seq=fork_seq)
    central_head = Head(taken[-1][0]["device_seq"], taken[-1][0]["hash"])
    fork_id = new_id()
    with store_errors():
        try:
            with transaction(store.db) as conn:
                if own_hash_at(store, fork_seq - 1) != taken[0][0]["prev_hash"]:
                    raise ChainBroken(f"The central's copy of this device's chain does not link to this "
                                      f"workstation's event at seq {fork_seq - 1}; nothing was changed. Call IT.",
                                      device_id=store.device_id, device_seq=fork_seq)
                forked = conn.execute(
                    "SELECT event_id, device_id, device_seq, type, task_id, hlc, hash, body, body_codec FROM events "
                    "WHERE device_id = ? AND device_seq >= ? ORDER BY device_seq",
                    [store.device_id, fork_seq]).fetchall()
                for body, _result, _reason in taken:
                    store.clock.observe(body["hlc"])
                now = store.clock.now_iso()
                made, listed = _re_record(store, conn, forked, taken, central_head, fork_seq=fork_seq,
                                          confirmed_by=confirmed_by, reason=reason)
                conn.execute("INSERT INTO forks (fork_id, fork_seq, central_head_seq, taken_back, forked, event_id,"
                             " confirmed_by, recovered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             [fork_id, fork_seq, central_head.device_seq, len(taken), len(forked),
                              made[-1].event_id, confirmed_by, now])
                conn.executemany(
                    "INSERT INTO forked_events (event_id, fork_id, device_id, device_seq, type, task_id, hlc, hash,"
                    " body, body_codec, re_recorded_seq, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[r[0], fork_id, *r[1:], f["re_recorded_seq"], f["reason"]]
                     for r, f in zip(forked, listed, strict=True)])
                conn.execute("DELETE FROM events WHERE device_id = ? AND device_seq >= ?", [store.device_id, fork_seq])
                for body, _result, _reason in taken:
                    _append_raw(conn, body)
                for ev in made:
                    _append_event(conn, ev)
                head = Head(made[-1].device_seq, made[-1].hash)
                _answer(conn, store, central, answered_from, central_head.device_seq, now)
                conn.execute("DELETE FROM meta WHERE key = ?", [FORK_META])
                cp = sign_checkpoint(store._signing_key, store.device_id, head.device_seq, head.hash, now)
                conn.execute("INSERT INTO checkpoints (device_seq, hash, signed_at, signature, why)"
                             " VALUES (?, ?, ?, ?, ?)", [cp.device_seq, cp.hash, cp.signed_at, cp.signature,
                                                         "chain recovered"])
                rebuild_within(store.db)
        finally:
            store._projector.forget()
    store._head = head
    return {"fork_id": fork_id, "fork_seq": fork_seq, "central_head_seq": central_head.device_seq,
            "taken_back": len(taken), "forked": len(forked), "recovered_event_id": made[-1].event_id,
            "events": listed}


def _append_raw(conn, body: dict) -> None:
    """One of this device's own events as the central holds it (checked by the caller), unprojected
    (projections are rebuilt at the end): kept even if this version cannot read its type."""
    if recompute_hash(body) != body.get("hash"):
        raise ChainBroken(f"The central's copy of seq {body.get('device_seq')} does not match its hash.",
                          device_seq=body.get("device_seq") or 0)
    insert_event(conn, body, canonical_bytes(body))


def _re_record(store: Store, conn, forked: list[tuple], taken: list[tuple], head: Head, *, fork_seq: int,
               confirmed_by: str | None, reason: str | None) -> tuple[list[Event], list[dict]]:
    """The forked events re-recorded after ``head`` (same id and content, new seq and link), then the
    fork's record; and, per forked event, where it now stands.

    An event keeps its id, so references to it (causation, grants signed over the id) hold. One that
    the device's role grants would not allow at its new place (its maker's role was changed on the
    original timeline) is not re-recorded: it stays in the recorded fork, listed with the reason. One
    that the central's copy already holds (a copy restored from before an earlier recovery, which
    re-recorded it) comes back with that copy and is not recorded twice."""
    book = GrantBook(store.device_id)
    held = {body["event_id"]: body["device_seq"] for body, _result, _reason in taken}
    for text, codec, event_id, seq in conn.execute(
            f"SELECT body, body_codec, event_id, device_seq FROM events WHERE device_id = ? AND device_seq < ? AND"
            f" {TRUST_WHERE} ORDER BY device_seq", [store.device_id, fork_seq]).fetchall():
        book.take(orjson.loads(decode(text, codec, event_id=event_id, device_seq=seq)))
    for body, _result, _reason in taken:
        book.take(body)
    made: list[Event] = []
    listed: list[dict] = []
    prev = head
    for row in forked:
        if row[0] in held:
            listed.append({"event_id": row[0], "type": row[3], "forked_seq": row[2], "re_recorded_seq": held[row[0]],
                           "reason": f"already held by the central at seq {held[row[0]]} (re-recorded by an "
                                     f"earlier recovery)"})
            continue
        original = orjson.loads(decode(row[7], row[8], event_id=row[0], device_seq=row[2]))
        fields = {k: v for k, v in original.items() if k not in _CHAIN_FIELDS}
        fields["event_id"], fields["device_seq"] = original["event_id"], prev.device_seq + 1
        ev = seal(fields, prev.hash)
        problem = book.problem(ev.body())
        if problem is not None:
            listed.append({"event_id": row[0], "type": row[3], "forked_seq": row[2], "re_recorded_seq": None,
                           "reason": f"{problem[0]}: {problem[1]}"[:300]})
            continue
        book.take(ev.body())
        made.append(ev)
        prev = Head(ev.device_seq, ev.hash)
        listed.append({"event_id": row[0], "type": row[3], "forked_seq": row[2], "re_recorded_seq": ev.device_seq,
                       "reason": None})
    now = store.clock.now_iso()
    actor = store.actor.model_dump() if confirmed_by else SYSTEM_ACTOR
    record = {"event_id": new_id(), "type": "device.chain_recovered", "site_id": store.site_id,
              "unit_id": store.unit_id, "device_id": store.device_id, "device_seq": prev.device_seq + 1,
              "actor": actor, "occurred_at": now, "recorded_at": now, "hlc": store.clock.tick(),
              "source": f"workstation:{store.device_id}", "mode": store.settings["mode"],
              "payload": {"fork_seq": fork_seq, "central_head_seq": head.device_seq, "taken_back": len(taken),
                          "confirmed_by": confirmed_by, "reason": reason, "forked": listed}}
    record["correlation_id"] = record["event_id"]
    sealed = seal(record, prev.hash)
    if book.problem(sealed.body()) is not None:  # the admin's own grant was not re-recorded: the device records it
        sealed = seal({**record, "actor": SYSTEM_ACTOR}, prev.hash)
    made.append(sealed)
    return made, listed


def _append_event(conn, ev: Event) -> None:
    body = ev.body()
    insert_event(conn, body, canonical_bytes(body))


def _answer(conn, store: Store, central: list[tuple[dict, str, str | None]], answered_from: int, head_seq: int,
            now: str) -> None:
    """The central's answers for every seq it holds after ``answered_from``; answers recorded for seqs
    past its head named forked events and go (the re-recorded events are pending)."""
    conn.execute("DELETE FROM sync_state WHERE device_seq > ?", [answered_from])
    rows = []
    for body, result, reason in central:
        state = "synced" if result in HELD else result
        rows.append([body["device_seq"], body["event_id"], state, result, reason, now])
    conn.executemany("INSERT INTO sync_state (device_seq, event_id, state, result, reason, updated_at)"
                     " VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('sync_watermark', ?)", [str(head_seq)])


def list_forks(store: Store) -> list[dict]:
    """Every recovered fork, newest last, with its forked events (ids, seqs and types: no patient data)."""
    with store_errors():
        forks = [dict(zip(("fork_id", "fork_seq", "central_head_seq", "taken_back", "forked", "event_id",
                           "confirmed_by", "recovered_at"), r, strict=True))
                 for r in store.db.execute("SELECT fork_id, fork_seq, central_head_seq, taken_back, forked, event_id,"
                                           " confirmed_by, recovered_at FROM forks ORDER BY recovered_at").fetchall()]
        for f in forks:
            f["events"] = [{"event_id": e, "type": t, "forked_seq": s, "re_recorded_seq": r, "reason": why}
                           for e, s, t, r, why in store.db.execute(
                               "SELECT event_id, device_seq, type, re_recorded_seq, reason FROM forked_events"
                               " WHERE fork_id = ? ORDER BY device_seq", [f["fork_id"]]).fetchall()]
    return forks


def recovered_count(store: Store) -> int:
    with store_errors():
        return store.db.execute("SELECT count(*) FROM forks").fetchone()[0]
