"""Projections (tasks, patients, users) as a fold over events: one code path for live and rebuild.

``fold_task`` is a pure function. ``Projector`` applies events to the projection tables,
keeping a small cache of task rows so a rebuild does not read and write one row per event.

Ordering: events of a task are folded in the order of ``sync.taskorder`` (cause first, by the
version each edit was made from; the clock only between concurrent edits), on every device, so two
workstations that hold the same events show the same task whatever their wall clocks say. An event
that arrives after a later one of the same task (pulled from another device) makes the task be
folded again from all its events.

Patients: per patient the newest census snapshot wins, whatever order snapshots arrive in. A
snapshot counts as of its ``as_of``, but never later than when it was recorded (a snapshot "as of"
next year must not pin a bed forever); ties go to the higher event id. A patient missing from a
newer snapshot stays as the older one left them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import sqlite_utils

from sync.clock import iso, parse_rfc3339
from sync.taskorder import fold_order_text, in_fold_order
from sync.taskstate import INITIAL_STATUS

from .bodies import decode
from .database import transaction

PROJECTION_TABLES = ("tasks", "patients", "users")
TASK_COLUMNS = ("task_id", "workflow", "patient_id", "status", "priority", "destination", "version",
                "correlation_id", "summary", "answers_event_id", "created_at", "occurred_at", "updated_at",
                "created_by", "updated_by", "mode", "back_entry", "needs_review", "review_reason",
                "notes", "last_order", "last_event_id")


def fold_task(row: dict | None, body: dict) -> dict | None:
    """The task row after one more event of that task (pure: returns a new dict)."""
    kind, p = body["type"], body["payload"]
    actor = body["actor"]["user_id"]
    if kind == "task.created" and row is not None:
        # A second creation of the same task (a faulty or forged device): keep the first, flag it.
        return {**row, "needs_review": 1, "review_reason": "the task was created twice"}
    if kind == "task.created":
        return {
            "task_id": body["task_id"], "workflow": body["workflow"], "patient_id": p["patient_id"],
            "status": p.get("status") or INITIAL_STATUS, "priority": p.get("priority") or "routine",
            "destination": body.get("destination"), "version": 1,
            "correlation_id": body["correlation_id"], "summary": p.get("summary", ""),
            "answers_event_id": body["event_id"], "created_at": body["recorded_at"],
            "occurred_at": body["occurred_at"], "updated_at": body["recorded_at"],
            "created_by": actor, "updated_by": actor, "mode": body["mode"],
            "back_entry": 1 if p.get("back_entry_reason") or p.get("paper_form") else 0,
            "needs_review": 0, "review_reason": None, "notes": 0,
            "last_order": fold_order_text(body), "last_event_id": body["event_id"],
        }
    if row is None:
        return None  # an event for a task whose creation has not arrived yet; refolded later
    row = dict(row)
    stale = body.get("base_version") is not None and body["base_version"] != row["version"]
    if kind == "task.transitioned":
        if p["from_status"] != row["status"] or stale:
            row["needs_review"] = 1
            row["review_reason"] = (f"status changed on two workstations: {p['from_status']} -> "
                                    f"{p['to_status']} while the task was {row['status']}")
        row["status"] = p["to_status"]
        if p.get("priority"):
            row["priority"] = p["priority"]
        if body.get("destination"):
            row["destination"] = body["destination"]
    elif kind == "task.answers_updated":
        if stale:
            row["needs_review"] = 1
            row["review_reason"] = "answers edited on two workstations"
        row["answers_event_id"] = body["event_id"]
        row["summary"] = p.get("summary") or row["summary"]
    elif kind == "task.note_added":
        row["notes"] += 1
    elif kind == "conflict.resolved":
        row["needs_review"], row["review_reason"] = 0, None
    row["version"] += 1
    row["updated_at"], row["updated_by"] = body["recorded_at"], actor
    row["last_order"], row["last_event_id"] = fold_order_text(body), body["event_id"]
    return row


class Projector:
    """Applies event bodies to the projection tables of one database, inside the caller's transaction."""

    def __init__(self, db: sqlite_utils.Database, *, rebuilding: bool = False):
        self.db = db
        self._tasks: dict[str, dict | None] = {}
        self._dirty: set[str] = set()
        # In a rebuild every earlier event has been applied by this projector, so "does this task
        # have earlier events?" is answered by the orphans it has seen, without a query.
        self._rebuilding = rebuilding
        self._orphans: set[str] = set()

    def apply(self, body: dict, seq: int) -> None:
        """Apply one event, stored at local ``seq``, as the state was when it arrived."""
        kind = body["type"]
        if body.get("task_id") and (kind.startswith("task.") or kind == "conflict.resolved"):
            self._apply_task(body, seq)
        elif kind == "census.loaded":
            self._census(body)
        elif kind == "patient.temp_registered":
            self._upsert_patient(body["payload"]["patient"], *census_order(body), temporary=1)
        elif kind == "patient.linked":
            p = body["payload"]
            self.db.execute("UPDATE patients SET linked_to = ? WHERE patient_id = ?",
                            [p["patient_id"], p["temp_patient_id"]])
        elif kind == "user.added":
            p = body["payload"]
            self.db.execute("INSERT OR REPLACE INTO users (user_id, display_name, role, active, added_at)"
                            " VALUES (?, ?, ?, 1, ?)",
                            [p["user_id"], p["display_name"], p["role"], body["recorded_at"]])
        elif kind == "user.role_changed":
            p = body["payload"]
            self.db.execute("UPDATE users SET role = ?, display_name = ? WHERE user_id = ?",
                            [p["role"], p["display_name"], p["user_id"]])
        elif kind == "user.status_changed":
            p = body["payload"]
            self.db.execute("UPDATE users SET active = ? WHERE user_id = ?", [int(p["active"]), p["user_id"]])

    def flush(self) -> None:
        """Write cached task rows; call before the transaction commits."""
        rows = [self._tasks[t] for t in self._dirty if self._tasks.get(t) is not None]
        if rows:
            cols = ", ".join(TASK_COLUMNS)
            marks = ", ".join("?" for _ in TASK_COLUMNS)
            self.db.conn.executemany(f"INSERT OR REPLACE INTO tasks ({cols}) VALUES ({marks})",
                                     [[r[c] for c in TASK_COLUMNS] for r in rows])
        self._dirty.clear()

    def forget(self) -> None:
        """Drop the cache (after a rollback, or between rebuild chunks)."""
        self._tasks.clear()
        self._dirty.clear()

    def _task(self, task_id: str) -> dict | None:
        if task_id not in self._tasks:
            cur = self.db.execute(f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks WHERE task_id = ?", [task_id])
            found = cur.fetchone()
            self._tasks[task_id] = dict(zip(TASK_COLUMNS, found, strict=True)) if found else None
        return self._tasks[task_id]

    def _apply_task(self, body: dict, seq: int) -> None:
        task_id = body["task_id"]
        if body["type"] == "task.created" and task_id not in self._tasks and not self._rebuilding:
            # A task's row only exists once its creation was applied, so a creation with no
            # earlier events of its task (the usual case: a new capture) needs no row lookup.
            if not self._has_earlier_events(task_id, seq):
                self._tasks[task_id] = fold_task(None, body)
                self._dirty.add(task_id)
                return
        row = self._task(task_id)
        if row is None and body["type"] != "task.created":
            self._orphans.add(task_id)
            return  # its creation has not arrived yet; the task is folded whole when it does
        if row is None and self._has_earlier_events(task_id, seq):
            self._tasks[task_id] = self._refold(task_id, seq, extra=body)
        elif row is None or fold_order_text(body) > row["last_order"]:
            self._tasks[task_id] = fold_task(row, body)
        else:
            self._tasks[task_id] = self._refold(task_id, seq, extra=body)
        self._dirty.add(task_id)

    def _has_earlier_events(self, task_id: str, seq: int) -> bool:
        if self._rebuilding:
            return task_id in self._orphans
        return self.db.execute("SELECT 1 FROM events WHERE task_id = ? AND seq < ? LIMIT 1",
                               [task_id, seq]).fetchone() is not None

    def _refold(self, task_id: str, seq: int, extra: dict) -> dict | None:
        bodies = {b["event_id"]: b for b in (orjson.loads(decode(body, codec, event_id=event_id, device_seq=seq_))
                                             for body, codec, event_id, seq_ in self.db.execute(
            "SELECT body, body_codec, event_id, device_seq FROM events WHERE task_id = ? AND seq <= ?",
            [task_id, seq]).fetchall())}
        bodies[extra["event_id"]] = extra
        row = None
        for body in in_fold_order(bodies.values()):
            row = fold_task(row, body)
        return row

    def _census(self, body: dict) -> None:
        order, as_of = census_order(body)
        for patient in body["payload"]["patients"]:
            self._upsert_patient(patient, as_of, order, temporary=0)

    def _upsert_patient(self, p: dict, as_of: str, order: str, *, temporary: int) -> None:
        # Only a newer snapshot (by census_order) replaces a row; linked_to is never overwritten.
        self.db.execute(
            "INSERT INTO patients (patient_id, mrn, family, given, birth_date, sex, location, temporary,"
            " as_of, census_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (patient_id) DO UPDATE SET mrn = excluded.mrn, family = excluded.family,"
            " given = excluded.given, birth_date = excluded.birth_date, sex = excluded.sex,"
            " location = excluded.location, temporary = excluded.temporary, as_of = excluded.as_of,"
            " census_order = excluded.census_order"
            " WHERE patients.census_order IS NULL OR excluded.census_order > patients.census_order",
            [p["patient_id"], p.get("mrn"), p["family"], p["given"], p.get("birth_date"), p.get("sex"),
             p.get("location"), temporary, as_of, order])


def _utc(text) -> datetime | None:
    try:
        return parse_rfc3339(text).astimezone(UTC)
    except ValueError:
        return None


def census_order(body: dict) -> tuple[str, str]:
    """(order key, as_of shown) of a census snapshot or registration: later keys win per patient.

    The key is the snapshot's time in UTC (its ``as_of``, capped at its ``recorded_at``), then the
    event id. A time that cannot be read counts as the oldest, so it never replaces a readable one.
    """
    recorded = _utc(body.get("recorded_at"))
    stated = _utc(body["payload"].get("as_of", body.get("recorded_at")))
    when = min((t for t in (stated, recorded) if t is not None), default=None)
    if when is None:
        return f"|{body['event_id']}", str(body["payload"].get("as_of") or body.get("recorded_at"))
    return f"{when.isoformat(timespec='microseconds')}|{body['event_id']}", iso(when)

def rebuild(db: sqlite_utils.Database, chunk: int = 2000) -> int:
    """Drop every projection row and fold all events again, in arrival order. Returns events applied."""
    with transaction(db):
        return rebuild_within(db, chunk)


def rebuild_within(db: sqlite_utils.Database, chunk: int = 2000) -> int:
    """``rebuild`` inside the caller's open write transaction."""
    projector = Projector(db, rebuilding=True)
    applied = 0
    for table in PROJECTION_TABLES:
        db.execute(f"DELETE FROM {table}")
    last = 0
    while True:
        rows = db.execute("SELECT seq, body, body_codec, event_id, device_seq FROM events WHERE seq > ? ORDER BY seq"
                          " LIMIT ?", [last, chunk]).fetchall()
        if not rows:
            break
        for seq, body, codec, event_id, device_seq in rows:
            projector.apply(orjson.loads(decode(body, codec, event_id=event_id, device_seq=device_seq)), seq)
            last = seq
        applied += len(rows)
        projector.flush()
        projector.forget()
    return applied


def digest(db: sqlite_utils.Database) -> str:
    """SHA-256 over every projection row in key order: equal digests mean equal projections."""
    h = hashlib.sha256()
    for table in PROJECTION_TABLES:
        pk = {"tasks": "task_id", "patients": "patient_id", "users": "user_id"}[table]
        cur = db.conn.execute(f"SELECT * FROM {table} ORDER BY {pk}")
        h.update(orjson.dumps([table, [d[0] for d in cur.description]]))
        while rows := cur.fetchmany(5000):
            h.update(orjson.dumps(rows))
    return h.hexdigest()
