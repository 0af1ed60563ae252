"""Named reads of the projections for the services: the census, the unit's tasks, the workstation.

Each function is one query with typed parameters; the services never write SQL (a test checks).
Event bodies are read through ``eventlog``; sync state through ``syncstate`` and ``outbox``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from forms.vocabulary import FINISHED_STATUSES
from sync.protocol import CHAIN_BROKEN

from .database import rows

if TYPE_CHECKING:
    from .store import Store


# -- the census -------------------------------------------------------------------------------
def census_as_of(store: Store) -> str | None:
    """When the newest census import was taken (temporary registrations aside), or None before any."""
    return rows(store.db, "SELECT max(as_of) AS as_of FROM patients WHERE temporary = 0")[0]["as_of"]


def patient(store: Store, patient_id: str) -> dict | None:
    """One patient (census or temporary) by id, or None."""
    found = rows(store.db, "SELECT * FROM patients WHERE patient_id = ?", [patient_id])
    return found[0] if found else None


def all_patients(store: Store) -> list[dict]:
    return rows(store.db, "SELECT * FROM patients")


def patients_matching(store: Store, text: str, limit: int) -> list[dict]:
    """Patients whose name, MRN, id or location contains ``text`` (case-insensitive), census first."""
    like = f"%{text.strip().lower()}%"
    return rows(store.db,
                "SELECT * FROM patients WHERE lower(family || ' ' || given || ' ' || given || ' ' || family || ' ' ||"
                " coalesce(mrn, '') || ' ' || patient_id || ' ' || coalesce(location, '')) LIKE ?"
                " ORDER BY temporary, family, given LIMIT ?", [like, int(limit)])


def temporary_ids_issued(store: Store, prefix: str) -> int:
    """How many temporary patients hold an id starting with ``prefix`` (this workstation's range)."""
    return rows(store.db, "SELECT count(*) AS n FROM patients WHERE temporary = 1 AND substr(patient_id, 1, ?) = ?",
                [len(prefix), prefix])[0]["n"]


# -- tasks ------------------------------------------------------------------------------------
def task(store: Store, task_id: str) -> dict | None:
    """One task's projection row, or None."""
    found = rows(store.db, "SELECT * FROM tasks WHERE task_id = ?", [task_id])
    return found[0] if found else None


# The columns a task list shows, each from its table (a task's patient may be missing: LEFT JOIN).
_TASK_LIST = ("SELECT t.task_id, t.workflow, t.patient_id, p.family, p.given, p.temporary, p.linked_to, "
              "t.status, t.priority, t.destination, t.summary, t.occurred_at, t.created_at, t.updated_at, "
              "t.created_by, t.version, t.needs_review, t.back_entry, t.mode, t.correlation_id "
              "FROM tasks t LEFT JOIN patients p ON p.patient_id = t.patient_id")
_TASK_FILTERS = {"workflow": "t.workflow = ?", "status": "t.status = ?", "destination": "t.destination = ?",
                 "priority": "t.priority = ?"}


def task_list(store: Store, *, workflow: str | None = None, status: str | None = None,
              destination: str | None = None, priority: str | None = None, open_only: bool = False,
              limit: int | None = None) -> list[dict]:
    """Tasks with their patient's name, newest first; each given filter must match, ``open_only``
    leaves out finished tasks (``forms.vocabulary.FINISHED_STATUSES``)."""
    given = {"workflow": workflow, "status": status, "destination": destination, "priority": priority}
    where = [_TASK_FILTERS[name] for name, value in given.items() if value]
    params: list = [value for value in given.values() if value]
    if open_only:
        finished = sorted(FINISHED_STATUSES)  # written out from the vocabulary, never by hand
        where.append(f"t.status NOT IN ({', '.join('?' for _ in finished)})")
        params += finished
    sql = _TASK_LIST + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY t.created_at DESC, t.task_id"
    if limit:
        sql += " LIMIT ?"
        params.append(int(limit))
    return rows(store.db, sql, params)


# -- the workstation --------------------------------------------------------------------------
def users(store: Store) -> list[dict]:
    """The local users as the projection holds them (roles come from the signed grants)."""
    return rows(store.db, "SELECT user_id, display_name, role, active FROM users ORDER BY user_id")


def status_counts(store: Store) -> dict[str, int]:
    """Events held, quarantined own events, set-aside pulled events, tasks and tasks needing review."""
    return rows(store.db, "SELECT (SELECT count(*) FROM events) AS events,"
                " (SELECT count(*) FROM sync_state WHERE state = 'quarantined') AS quarantined,"
                " (SELECT count(*) FROM set_aside) AS set_aside,"
                " (SELECT count(*) FROM tasks) AS tasks,"
                " (SELECT count(*) FROM tasks WHERE needs_review = 1) AS needs_review")[0]


def first_refused_at_chain_break(store: Store) -> int | None:
    """The lowest seq of an own event the central refused as a chain break (``chain_broken``), or None."""
    return rows(store.db, "SELECT min(device_seq) AS seq FROM sync_state WHERE reason = ?", [CHAIN_BROKEN])[0]["seq"]
