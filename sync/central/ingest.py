"""Taking in one push batch: the same code answers HTTP pushes and bundle imports.

Order of work, cheapest refusal first and the write lock last:
1. shape (``parse_push``): a dict check of the envelope and of each event's chain fields;
2. ownership: every event is the pushing device's, site's and unit's;
3. the checkpoint: it names the batch's last event and is signed by the device's enrolled key;
4. the chain inside the batch: contiguous ``device_seq``, each ``prev_hash`` links, each hash
   recomputed from the body (so the signature vouches for every event of the batch);
5. under the write lock: the link to what the central holds, then per-event answers and inserts.

Steps 1-4 and a mismatch with the held chain refuse the whole batch (nothing written). Past
that, each event gets its own answer: an event a workstation could not take (``sync.validity``,
the one rule of both ends) is quarantined or rejected, the chain goes on, and the rest of the
queue is not blocked.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from pydantic import ValidationError

from sync.canonical import canonical_bytes
from sync.checkpoint import Checkpoint, verify_checkpoint
from sync.clock import Clock, iso, parse_time
from sync.errors import BadSignature, InvalidEvent
from sync.events import describe_validation
from sync.grants import TRUST_TYPES, GrantBook
from sync.protocol import (
    ACCEPTED,
    BAD_SIGNATURE,
    CHAIN_BROKEN,
    CHECKPOINT_MISMATCH,
    CONCURRENT_EDIT,
    CONFLICT,
    DUPLICATE,
    HASH_MISMATCH,
    ID_REUSED,
    INVALID_PAYLOAD,
    INVALID_REQUEST,
    KEY_MISMATCH,
    MAX_BATCH,
    NOT_YOUR_DEVICE,
    QUARANTINED,
    REJECTED,
    SEQ_GAP,
    UNKNOWN_TYPE,
)
from sync.taskorder import EDIT_TYPES, rival_key
from sync.validity import event_problem

from . import actors, clocks
from .db import CentralDB, checkpoints, conflicts, device_audit, devices, events, quarantine
from .enroll import Device
from .errors import Refused

CHAIN_DIFFERS = "chain_differs"  # the device_audit action of a batch that contradicts the central's copy

REORDER_WAIT = 2.0  # seconds a batch waits for the one before it to be taken
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHAIN_FIELDS = (("event_id", str), ("device_id", str), ("site_id", str), ("unit_id", str), ("type", str),
                 ("hash", str), ("prev_hash", str))


@dataclass
class PushBatch:
    device_id: str
    checkpoint: Checkpoint
    events: list[dict]
    backlog: int = 0
    device_clock: str | None = None  # the workstation's clock when it sent the batch


@dataclass
class Outcome:
    """What the central answered for one batch, plus counts for the metrics."""

    device_id: str
    results: list[dict]
    highest_gapless_seq: int
    counts: Counter = field(default_factory=Counter)  # (site, unit, workflow, result) -> n
    clock_offset_s: float | None = None

    def response(self) -> dict:
        answer = {"device_id": self.device_id, "results": self.results,
                  "highest_gapless_seq": self.highest_gapless_seq}
        if self.clock_offset_s is not None:
            answer["clock_offset_s"] = self.clock_offset_s
        return answer


def _bad(detail: str) -> Refused:
    return Refused(422, INVALID_REQUEST, detail)


def parse_push(raw: object) -> PushBatch:
    """Check a decoded PushRequest with plain dict checks; Refused(422) naming the first problem."""
    if not isinstance(raw, dict):
        raise _bad("The request must be a JSON object.")
    extra = set(raw) - {"device_id", "checkpoint", "events", "backlog", "device_clock"}
    if extra:
        raise _bad(f"Unknown field(s): {', '.join(sorted(extra))}.")
    device_id, evs, backlog = raw.get("device_id"), raw.get("events"), raw.get("backlog", 0)
    if not isinstance(device_id, str) or not device_id:
        raise _bad("device_id must be a non-empty string.")
    if type(backlog) is not int or backlog < 0:
        raise _bad("backlog must be a whole number of events, 0 or more.")
    device_clock = raw.get("device_clock")
    if device_clock is not None:
        try:
            parse_time(device_clock)  # sync.clock: the one parser of wire times
        except ValueError:
            raise _bad("device_clock must be the workstation's time as RFC 3339 UTC text "
                       "(like 2026-11-25T08:00:00.000Z).") from None
    if not isinstance(evs, list) or not 1 <= len(evs) <= MAX_BATCH:
        raise _bad(f"events must be a list of 1 to {MAX_BATCH} events.")
    try:
        checkpoint = Checkpoint.model_validate(raw.get("checkpoint"))
    except ValidationError as err:
        raise _bad("checkpoint: " + describe_validation(err).removeprefix("Invalid event: ")) from None
    for i, ev in enumerate(evs):
        if not isinstance(ev, dict):
            raise _bad(f"events[{i}] must be a JSON object.")
        for name, kind in _CHAIN_FIELDS:
            if not isinstance(ev.get(name), kind):
                raise _bad(f"events[{i}].{name} is missing or not a {kind.__name__}.")
        seq = ev.get("device_seq")
        if type(seq) is not int or not 1 <= seq < 2 ** 62:
            raise _bad(f"events[{i}].device_seq must be a whole number from 1.")
        if not _HEX64.match(ev["hash"]) or not _HEX64.match(ev["prev_hash"]):
            raise _bad(f"events[{i}]: hash and prev_hash must be 64 lowercase hex digits.")
        if not 1 <= len(ev["event_id"]) <= 64:
            raise _bad(f"events[{i}].event_id must be 1 to 64 characters.")
    return PushBatch(device_id, checkpoint, evs, backlog, device_clock)


def check_batch(device: Device, batch: PushBatch) -> tuple[list[dict], dict[int, str]]:
    """Steps 2-4: ownership, checkpoint and the chain inside the batch. Returns events in seq order,
    and seq -> the text to store (its canonical JSON with the hash appended last)."""
    if batch.device_id != device.device_id or batch.checkpoint.device_id != device.device_id:
        raise Refused(403, NOT_YOUR_DEVICE, "A device may push only its own events.")
    for ev in batch.events:
        if (ev["device_id"], ev["site_id"], ev["unit_id"]) != (device.device_id, device.site_id, device.unit_id):
            raise Refused(403, NOT_YOUR_DEVICE,
                          f"Event {ev['event_id'][:64]} belongs to {ev['device_id'][:64]} at "
                          f"{ev['site_id'][:64]}/{ev['unit_id'][:64]}; this device may push only its own "
                          f"events of {device.site_id}/{device.unit_id}.")
    evs = sorted(batch.events, key=lambda e: e["device_seq"])
    last = evs[-1]
    if batch.checkpoint.device_seq != last["device_seq"] or batch.checkpoint.hash != last["hash"]:
        raise Refused(422, CHECKPOINT_MISMATCH, "The checkpoint must be signed over the batch's last event.")
    try:
        verify_checkpoint(batch.checkpoint, device.public_key)
    except BadSignature as err:
        raise Refused(422, BAD_SIGNATURE, str(err)) from None
    prev, texts = None, {}
    for ev in evs:
        seq = ev["device_seq"]
        if prev is not None:
            if seq != prev["device_seq"] + 1:
                raise Refused(409, SEQ_GAP, f"The batch skips from seq {prev['device_seq']} to {seq}.",
                              device_seq=prev["device_seq"] + 1)
            if ev["prev_hash"] != prev["hash"]:
                raise Refused(409, CHAIN_BROKEN, f"Event {ev['event_id']} (seq {seq}) does not link to the "
                                                 f"event before it.", device_seq=seq)
        claimed = ev.pop("hash")  # what sync.events.recompute_hash does, keeping the canonical text
        try:
            text = canonical_bytes(ev)
            ok = hashlib.sha256(text).hexdigest() == claimed
        except (ValueError, TypeError, InvalidEvent):  # a value JSON cannot carry canonically
            ok = False
        finally:
            ev["hash"] = claimed
        if ok and b"\\u0000" in text:  # no database text column holds NUL; no event needs one
            raise Refused(422, INVALID_REQUEST, f"Event {ev['event_id'][:64]} (seq {seq}) contains a NUL character.")
        if not ok:
            raise Refused(409, HASH_MISMATCH, f"Event {ev['event_id']} (seq {seq}) does not match its hash: "
                                              f"it was changed after it was made.", device_seq=seq)
        texts[seq] = (text[:-1] + b',"hash":"' + claimed.encode() + b'"}').decode()
        prev = ev
    return evs, texts


_QUARANTINED_REASONS = frozenset({UNKNOWN_TYPE, INVALID_PAYLOAD})


def meaning_problem(ev: dict, device: Device, text: str | None = None) -> tuple[str, str, str] | None:
    """(result, reason, detail) for an event that is chained correctly but that a workstation could
    not take (``sync.validity``, the rule both ends share), or that names another key."""
    problem = event_problem(ev, text)
    if problem is not None:
        result = QUARANTINED if problem.reason in _QUARANTINED_REASONS else REJECTED
        return result, problem.reason, str(problem)
    if ev["type"] == "device.initialized" and ev["payload"].get("public_key") != device.public_key:
        return QUARANTINED, KEY_MISMATCH, "device.initialized names another public key than the enrolled one"
    return None


def ingest(db: CentralDB, device: Device, batch: PushBatch, clock: Clock | None = None,
           reorder_wait: float = REORDER_WAIT) -> Outcome:
    """Answer one batch and write what it adds, in one transaction. Raises Refused (nothing written).

    A batch that starts past the device's head waits up to ``reorder_wait`` seconds for the batch
    before it (a client keeps two in flight), then is refused as a gap.
    """
    clock = clock or Clock()
    received = clock.now()
    reading = clocks.reading(batch.device_clock, received)
    evs, texts = check_batch(device, batch)
    deadline = time.monotonic() + reorder_wait
    if db.dialect == "postgresql":
        # The meaning checks need no lock: they run now, while the batch before may still be written
        # (the PostgreSQL writer mostly waits on the server; SQLite's writes in process, and
        # competing with it for the CPU measured slower there).
        seen = _head_seq(db, device.device_id)
        verdicts = {ev["device_seq"]: _verdict(ev, device, reading, texts[ev["device_seq"]]) for ev in evs if ev["device_seq"] > seen}
        if seen < evs[0]["device_seq"] - 1:
            seen = _wait_for_head(db, device.device_id, evs[0]["device_seq"] - 1, deadline)
    else:
        seen = _wait_for_head(db, device.device_id, evs[0]["device_seq"] - 1, deadline)
        verdicts = {ev["device_seq"]: _verdict(ev, device, reading, texts[ev["device_seq"]]) for ev in evs if ev["device_seq"] > seen}
    now = iso(received)
    # Held events never change, so a batch the first look found all held needs no write lock.
    try:
        with (db.read() if evs[-1]["device_seq"] <= seen else db.write()) as conn:
            head = conn.execute(sa.select(devices.c.head_seq, devices.c.head_hash).where(
                devices.c.device_id == device.device_id)).one()
            first, last = evs[0]["device_seq"], evs[-1]["device_seq"]
            if first > head.head_seq + 1:
                raise Refused(409, SEQ_GAP, f"The central holds this device's events up to seq {head.head_seq}; "
                                            f"the batch starts at {first}. Send from {head.head_seq + 1}.",
                              device_seq=head.head_seq + 1, highest_gapless_seq=head.head_seq)
            results: list[dict] = []
            counts: Counter = Counter()
            held = _held(conn, device.device_id, first, min(last, head.head_seq)) if first <= head.head_seq else {}
            new = [ev for ev in evs if ev["device_seq"] > head.head_seq]
            for ev in evs[:len(evs) - len(new)]:
                found = held.get(ev["device_seq"])
                if found is None or found[0] != ev["event_id"] or found[1] != ev["hash"]:
                    raise _differs(f"The central holds another event at seq {ev['device_seq']} of this device: "
                                   f"its log was restored or replaced. Call IT.", ev["device_seq"], head.head_seq)
                answer = found[2] if found[2] in (QUARANTINED, REJECTED) else DUPLICATE
                results.append(_result(ev, answer, found[3] if answer != DUPLICATE else None))
                counts[(device.site_id, device.unit_id, ev.get("workflow") or "", answer)] += 1
            if new and new[0]["prev_hash"] != head.head_hash:
                seq = new[0]["device_seq"]
                raise _differs(f"Event {new[0]['event_id']} (seq {seq}) does not link to the central's copy of "
                               f"seq {seq - 1}: this device's log was restored or rewritten. Call IT.", seq,
                               head.head_seq)
            grants = None
            if new:  # a batch of only events already held writes nothing at all
                grants = _take_new(db, conn, device, new, texts, verdicts, now, results, counts, reading)
                measured = {"clock_offset_s": reading.offset_s, "clock_read_at": now} if reading.device else {}
                conn.execute(sa.update(devices).where(devices.c.device_id == device.device_id).values(
                    head_seq=new[-1]["device_seq"], head_hash=new[-1]["hash"], last_push_at=now,
                    backlog=batch.backlog, **measured))
                cp = batch.checkpoint
                conn.execute(db.insert_ignore(checkpoints), {
                    "device_id": device.device_id, "device_seq": cp.device_seq, "signed_at": cp.signed_at,
                    "hash": cp.hash, "signature": cp.signature, "received_at": now})
            hgs = max(head.head_seq, new[-1]["device_seq"] if new else 0)
    except Refused as err:
        if getattr(err, "against_reference", False):
            _record_differing_chain(db, device.device_id, err, now)
        raise
    actors.remember(db, grants)  # committed
    return Outcome(device.device_id, results, hgs, counts, reading.offset_s)


def _verdict(ev: dict, device: Device, reading: clocks.ClockReading, text: str | None = None
             ) -> tuple[str, str, str] | None:
    """An event's answer if it is not simply taken: invalid in meaning, or timed beyond belief."""
    return meaning_problem(ev, device, text) or clocks.time_problem(ev, reading)


def _differs(detail: str, seq: int, head_seq: int) -> Refused:
    """The refusal of a batch that contradicts the central's copy of the device's chain (the reference)."""
    err = Refused(409, CHAIN_BROKEN, detail, device_seq=seq, highest_gapless_seq=head_seq)
    err.against_reference = True
    return err


def _record_differing_chain(db: CentralDB, device_id: str, err: Refused, now: str) -> None:
    """Keep, for IT, that a device sent a chain that differs from the central's copy (the batch itself
    is refused and not stored); ``tideover-central verify`` lists these."""
    with db.write() as conn:
        conn.execute(sa.insert(device_audit), {"device_id": device_id, "action": CHAIN_DIFFERS, "at": now,
                                               "by": "sync", "reason": f"seq {err.device_seq}: {err.detail}"})


def _head_seq(db: CentralDB, device_id: str, after_writer: bool = False) -> int:
    """The device's head as committed; ``after_writer``: once the write transaction under way (if any) ends."""
    with db.read(after_writer=after_writer) as conn:
        return conn.execute(sa.select(devices.c.head_seq).where(devices.c.device_id == device_id)).scalar() or 0


def _wait_for_head(db: CentralDB, device_id: str, needed: int, deadline: float) -> int:
    """The device's head, once it reaches ``needed`` or the ``deadline`` (time.monotonic) has passed."""
    while True:
        head = _head_seq(db, device_id, after_writer=True)
        if head >= needed or time.monotonic() >= deadline:
            return head
        time.sleep(0.002)


def _result(ev: dict, result: str, reason: str | None) -> dict:
    return {"event_id": ev["event_id"], "device_seq": ev["device_seq"], "result": result, "reason": reason}


def _held(conn, device_id: str, lo: int, hi: int) -> dict[int, tuple[str, str, str, str | None]]:
    """seq -> (event_id, hash, result, reason) for what the central holds of this device in [lo, hi]."""
    out = {}
    for r in conn.execute(sa.select(events.c.device_seq, events.c.event_id, events.c.hash, events.c.result)
                          .where(events.c.device_id == device_id, events.c.device_seq.between(lo, hi))):
        out[r.device_seq] = (r.event_id, r.hash, r.result, None)
    for r in conn.execute(sa.select(quarantine.c.device_seq, quarantine.c.event_id, quarantine.c.hash,
                                    quarantine.c.result, quarantine.c.reason)
                          .where(quarantine.c.device_id == device_id, quarantine.c.device_seq.between(lo, hi))):
        out[r.device_seq] = (r.event_id, r.hash, r.result, r.reason)
    return out


def _take_new(db, conn, device: Device, new: list[dict], texts: dict[int, str], verdicts: dict, now: str,
              results: list[dict], counts: Counter, reading: clocks.ClockReading) -> GrantBook | None:
    """Answer and write the events past the held head; returns the device's grants after them."""
    for ev in new:  # the head moved since the first look (another server took part of the batch)
        if ev["device_seq"] not in verdicts:
            verdicts[ev["device_seq"]] = _verdict(ev, device, reading, texts[ev["device_seq"]])
    grants = actors.check_actors(db, conn, device.device_id, new, verdicts)
    # Concurrent edits are those made from the same task version (sync.taskorder): never the clocks.
    edits = {key: ev for ev in new
             if verdicts[ev["device_seq"]] is None and (key := rival_key(ev)) is not None}
    rivals = _rival_edits(db, conn, device.device_id, edits) if edits else {}
    rows, held_back, conflict_rows, ids, where = [], [], [], set(), {}
    for ev in new:
        verdict = verdicts[ev["device_seq"]]
        if verdict is None and ev["event_id"] in ids:
            verdict = (QUARANTINED, ID_REUSED, "another event of the batch has this event_id")
        ids.add(ev["event_id"])
        if verdict is not None:
            held_back.append(_held_back_row(device, ev, texts, verdict, now))
            results.append(_result(ev, verdict[0], verdict[1]))
            counts[(device.site_id, device.unit_id, _text(ev.get("workflow")) or "", verdict[0])] += 1
            continue
        answer = ACCEPTED
        key = rival_key(ev)
        rival = rivals.get(key) if key is not None else None
        if rival is not None:
            answer = CONFLICT
            conflict_rows.append({"task_id": ev["task_id"], "base_version": ev["base_version"],
                                  "site_id": device.site_id, "unit_id": device.unit_id,
                                  "workflow": ev.get("workflow"), "event_id": ev["event_id"],
                                  "device_id": device.device_id, "other_event_id": rival[0],
                                  "other_device_id": rival[1], "detected_at": now})
        rows.append({"event_id": ev["event_id"], "device_id": device.device_id, "device_seq": ev["device_seq"],
                     "site_id": device.site_id, "unit_id": device.unit_id, "type": ev["type"],
                     "workflow": ev.get("workflow"), "task_id": ev.get("task_id"),
                     "base_version": ev.get("base_version"), "hash": ev["hash"], "result": answer,
                     "received_at": now, "body": texts[ev["device_seq"]]})
        where[ev["device_seq"]] = (len(results), ev)
        results.append(_result(ev, answer, CONCURRENT_EDIT if answer == CONFLICT else None))
        counts[(device.site_id, device.unit_id, ev.get("workflow") or "", answer)] += 1
    if rows:
        # The unique event_id drops a row whose id another event already has; counting what went in
        # is cheaper than looking every id up first, and such a row goes to quarantine instead.
        reused = _insert_events(db, conn, device.device_id, rows)
        if reused:
            for seq in sorted(reused):
                index, ev = where[seq]
                verdict = (QUARANTINED, ID_REUSED, "another event already has this event_id")
                held_back.append(_held_back_row(device, ev, texts, verdict, now))
                counts[(device.site_id, device.unit_id, ev.get("workflow") or "", results[index]["result"])] -= 1
                counts[(device.site_id, device.unit_id, _text(ev.get("workflow")) or "", QUARANTINED)] += 1
                results[index] = _result(ev, QUARANTINED, ID_REUSED)
            lost_ids = {where[seq][1]["event_id"] for seq in reused}
            conflict_rows = [c for c in conflict_rows if c["event_id"] not in lost_ids]
            if any(where[seq][1]["type"] in TRUST_TYPES for seq in reused):
                grants = None  # a grant counted above went to quarantine: read the grants again next time
    if held_back:
        conn.execute(db.insert_ignore(quarantine), held_back)
    if conflict_rows:
        conn.execute(db.insert_ignore(conflicts), conflict_rows)
    return grants


def _held_back_row(device: Device, ev: dict, texts: dict[int, str], verdict: tuple, now: str) -> dict:
    result, reason, detail = verdict
    return {"event_id": ev["event_id"], "device_id": device.device_id, "device_seq": ev["device_seq"],
            "site_id": device.site_id, "unit_id": device.unit_id, "workflow": _text(ev.get("workflow")),
            "hash": ev["hash"], "result": result, "reason": reason, "detail": detail[:500],
            "received_at": now, "body": texts[ev["device_seq"]]}


def _text(value) -> str | None:
    return value[:32] if isinstance(value, str) else None


def _insert_events(db: CentralDB, conn, device_id: str, rows: list[dict]) -> set[int]:
    """Insert the rows (ON CONFLICT DO NOTHING); the device_seqs of those that did not go in."""
    if db.dialect == "postgresql":
        # One statement over 13 arrays sent in binary: far less to encode and parse than 13,000
        # parameters, and RETURNING says what went in without another query.
        arrays = {name: [r[name] for r in rows] for name in _EVENT_COLUMNS}
        arrays["base_version"] = [None if v is None else int(v) for v in arrays["base_version"]]
        got = conn.exec_driver_sql(_PG_INSERT_EVENTS, tuple(arrays[name] for name in _EVENT_COLUMNS)).scalars()
        present = set(got)
    else:
        conn.execute(db.insert_ignore(events), rows)
        lo, hi = rows[0]["device_seq"], rows[-1]["device_seq"]
        in_range = (events.c.device_id == device_id, events.c.device_seq.between(lo, hi))
        if conn.execute(sa.select(sa.func.count()).where(*in_range)).scalar_one() == len(rows):
            return set()
        present = {r[0] for r in conn.execute(sa.select(events.c.device_seq).where(*in_range))}
    return {r["device_seq"] for r in rows if r["device_seq"] not in present}


_EVENT_COLUMNS = ("event_id", "device_id", "device_seq", "site_id", "unit_id", "type", "workflow", "task_id",
                  "base_version", "hash", "result", "received_at", "body")
_PG_INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join("%b::int8[]" if name in ("device_seq", "base_version") else "%b::text[]" for name in _EVENT_COLUMNS)
    + ") ON CONFLICT DO NOTHING RETURNING device_seq")
# One index probe per (task_id, base_version) on events_by_task, whatever the planner's statistics
# say (a plain IN list over a table that grew since its last ANALYZE is read in full).
_PG_RIVALS = (
    "SELECT k.task_id, k.base_version, e.event_id, e.device_id"
    " FROM unnest(%b::text[], %b::int8[]) AS k(task_id, base_version)"
    " CROSS JOIN LATERAL (SELECT event_id, device_id FROM events"
    "  WHERE events.task_id = k.task_id AND events.base_version = k.base_version"
    "   AND events.type = ANY(%b::text[]) AND events.device_id <> %b"
    "  ORDER BY gseq LIMIT 1) AS e")


def _rival_edits(db: CentralDB, conn, device_id: str, edits: dict) -> dict[tuple, tuple[str, str]]:
    """(task_id, base_version) -> (event_id, device_id) of an edit of the same task and version
    already held from another device."""
    out = {}
    if db.dialect == "postgresql":
        keys = list(edits)
        for r in conn.exec_driver_sql(_PG_RIVALS, ([k[0] for k in keys], [int(k[1]) for k in keys],
                                                   sorted(EDIT_TYPES), device_id)):
            out[(r[0], r[1])] = (r[2], r[3])
        return out
    task_ids = sorted({k[0] for k in edits})
    for chunk in range(0, len(task_ids), 500):
        q = sa.select(events.c.task_id, events.c.base_version, events.c.event_id, events.c.device_id).where(
            events.c.task_id.in_(task_ids[chunk:chunk + 500]), events.c.type.in_(sorted(EDIT_TYPES)),
            events.c.device_id != device_id)
        for r in conn.execute(q):
            if (r.task_id, r.base_version) in edits:
                out.setdefault((r.task_id, r.base_version), (r.event_id, r.device_id))
    return out
