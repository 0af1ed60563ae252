"""The SQL of taking a push, per dialect: one of the central's database modules (with ``db``).

PostgreSQL gets statements over arrays sent in binary (``unnest``): far less to encode and parse than
thousands of parameters; SQLite, which runs in process, gets SQLAlchemy Core statements.
"""

from __future__ import annotations

import sqlalchemy as sa

from sync.taskorder import EDIT_TYPES

from .db import CentralDB, checkpoints, conflicts, device_audit, devices, events, quarantine

EVENT_COLUMNS = ("event_id", "device_id", "device_seq", "site_id", "unit_id", "type", "workflow", "task_id",
                 "base_version", "hash", "result", "received_at", "body")
_PG_INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join("%b::int8[]" if name in ("device_seq", "base_version") else "%b::text[]" for name in EVENT_COLUMNS)
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
_SQLITE_IN_CHUNK = 500  # bound parameters per IN list


def head_seq(db: CentralDB, device_id: str, after_writer: bool = False) -> int:
    """The device's head as committed; ``after_writer``: once the write transaction under way (if any) ends."""
    with db.read(after_writer=after_writer) as conn:
        return conn.execute(sa.select(devices.c.head_seq).where(devices.c.device_id == device_id)).scalar() or 0


def head(conn, device_id: str):
    """(head_seq, head_hash) of the device, read inside the batch's transaction."""
    return conn.execute(sa.select(devices.c.head_seq, devices.c.head_hash).where(
        devices.c.device_id == device_id)).one()


def held(conn, device_id: str, lo: int, hi: int) -> dict[int, tuple[str, str, str, str | None]]:
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


def rival_edits(db: CentralDB, conn, device_id: str, edits) -> dict[tuple, tuple[str, str]]:
    """(task_id, base_version) -> (event_id, device_id) of an edit of the same task and version already
    held from another device, for each key of ``edits``."""
    out = {}
    if db.dialect == "postgresql":
        keys = list(edits)
        for r in conn.exec_driver_sql(_PG_RIVALS, ([k[0] for k in keys], [int(k[1]) for k in keys],
                                                   sorted(EDIT_TYPES), device_id)):
            out[(r[0], r[1])] = (r[2], r[3])
        return out
    task_ids = sorted({k[0] for k in edits})
    for chunk in range(0, len(task_ids), _SQLITE_IN_CHUNK):
        q = sa.select(events.c.task_id, events.c.base_version, events.c.event_id, events.c.device_id).where(
            events.c.task_id.in_(task_ids[chunk:chunk + _SQLITE_IN_CHUNK]), events.c.type.in_(sorted(EDIT_TYPES)),
            events.c.device_id != device_id)
        for r in conn.execute(q):
            if (r.task_id, r.base_version) in edits:
                out.setdefault((r.task_id, r.base_version), (r.event_id, r.device_id))
    return out


def insert_events(db: CentralDB, conn, device_id: str, rows: list[dict]) -> set[int]:
    """Insert the rows (ON CONFLICT DO NOTHING); the device_seqs of those that did not go in (their
    event_id is another event's: the unique index dropped them)."""
    if db.dialect == "postgresql":
        # One statement over 13 arrays sent in binary, and RETURNING says what went in without another query.
        arrays = {name: [r[name] for r in rows] for name in EVENT_COLUMNS}
        arrays["base_version"] = [None if v is None else int(v) for v in arrays["base_version"]]
        present = set(conn.exec_driver_sql(_PG_INSERT_EVENTS,
                                           tuple(arrays[name] for name in EVENT_COLUMNS)).scalars())
    else:
        conn.execute(db.insert_ignore(events), rows)
        lo, hi = rows[0]["device_seq"], rows[-1]["device_seq"]
        in_range = (events.c.device_id == device_id, events.c.device_seq.between(lo, hi))
        if conn.execute(sa.select(sa.func.count()).where(*in_range)).scalar_one() == len(rows):
            return set()
        present = {r[0] for r in conn.execute(sa.select(events.c.device_seq).where(*in_range))}
    return {r["device_seq"] for r in rows if r["device_seq"] not in present}


def hold_back(db: CentralDB, conn, rows: list[dict]) -> None:
    """Quarantined and rejected events, kept with their reason (never blocking the chain)."""
    if rows:
        conn.execute(db.insert_ignore(quarantine), rows)


def record_conflicts(db: CentralDB, conn, rows: list[dict]) -> None:
    if rows:
        conn.execute(db.insert_ignore(conflicts), rows)


def advance_head(db: CentralDB, conn, device_id: str, last: dict, now: str, backlog: int,
                 clock_offset_s: float | None, checkpoint) -> None:
    """Move the device's head to ``last`` and keep the batch's signed checkpoint."""
    measured = {"clock_offset_s": clock_offset_s, "clock_read_at": now} if clock_offset_s is not None else {}
    conn.execute(sa.update(devices).where(devices.c.device_id == device_id).values(
        head_seq=last["device_seq"], head_hash=last["hash"], last_push_at=now, backlog=backlog, **measured))
    conn.execute(db.insert_ignore(checkpoints), {
        "device_id": device_id, "device_seq": checkpoint.device_seq, "signed_at": checkpoint.signed_at,
        "hash": checkpoint.hash, "signature": checkpoint.signature, "received_at": now})


def record_differing_chain(db: CentralDB, device_id: str, action: str, reason: str, now: str) -> None:
    """Keep, for IT, that a device sent a chain that differs from the central's copy (in its own transaction:
    the batch itself is refused and not stored)."""
    with db.write() as conn:
        conn.execute(sa.insert(device_audit), {"device_id": device_id, "action": action, "at": now,
                                               "by": "sync", "reason": reason})
