"""What a workstation store's database holds, read directly by tests to assert on it.

The product reads through named functions (app/store/read_models.py, eventlog.py, syncstate.py);
tests may look at the tables themselves, and do it through this one helper.
"""

from __future__ import annotations

import orjson

from app.store.bodies import decode


def rows(store, sql: str, params: list | tuple = ()) -> list[dict]:
    """The rows ``sql`` selects from the store's open database, as dicts."""
    cur = store.db.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def event_bodies(store, where: str = "", params: list | tuple = (), table: str = "events") -> list[dict]:
    """The parsed bodies of ``table`` rows matching ``where`` (SQL after FROM), in the order stored.

    Bodies are stored compressed (app/store/bodies.py): they are read back through the codec, never as
    the raw column."""
    key = "seq" if table == "events" else "id"
    found = store.db.conn.execute(f"SELECT body, body_codec, event_id, device_seq FROM {table} {where} ORDER BY {key}",
                                  list(params)).fetchall()
    return [orjson.loads(decode(body, codec, event_id=event_id, device_seq=seq)) for body, codec, event_id, seq in found]
