"""Who may do what, and the record of who saw what: one service for the CLI and the desktop app.

Role checks name what a person is about to do (``require_supervisor``), never a list of roles: the
lists live in ``forms.vocabulary``. Every view of patient data is an ``access.view`` event in the
chain, whether the person used the CLI or the app (``record_view``; the use cases that show data,
such as ``tasks.view_board`` and ``patients.view_patient_search``, call it).
"""

from __future__ import annotations

from app.store.store import Store
from forms.vocabulary import CENSUS_KEEPERS, SUPERVISORS

ADMIN = "admin"

# What an ``access.view`` event says was seen.
VIEW_BOARD = "board"
VIEW_TASK_LIST = "task_list"
VIEW_TASK = "task"
VIEW_PATIENT_SEARCH = "patient_search"


def may_supervise(role: str | None) -> bool:
    """Whether a person in ``role`` may review, reconcile, audit and export (super-user, admin)."""
    return role in SUPERVISORS


def require_supervisor(store: Store) -> None:
    """NotPermitted unless the signed-in person may supervise (super-user or admin)."""
    store.require_role(*SUPERVISORS)


def require_census_keeper(store: Store) -> None:
    """NotPermitted unless the signed-in person may load the census (unit coordinator and above)."""
    store.require_role(*CENSUS_KEEPERS)


def require_admin(store: Store) -> None:
    store.require_role(ADMIN)


def record_view(store: Store, what: str, *, count: int = 1, target_id: str | None = None) -> str:
    """Record that the signed-in person saw ``what`` (``count`` rows of it); returns the event id."""
    return store.record("access.view", {"what": what, "count": int(count), "target_id": target_id}).event_id
