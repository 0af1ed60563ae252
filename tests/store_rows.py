"""What a workstation store's database holds, read directly by tests to assert on it.

The product reads through named functions (app/store/read_models.py, eventlog.py, syncstate.py);
tests may look at the tables themselves, and do it through this one helper.
"""

from __future__ import annotations


def rows(store, sql: str, params: list | tuple = ()) -> list[dict]:
    """The rows ``sql`` selects from the store's open database, as dicts."""
    cur = store.db.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
