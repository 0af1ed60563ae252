"""The local log stays append-only with a recorded fork (migration 5), tested on an older store."""

from __future__ import annotations

import pytest
import sqlcipher3
from store_rows import rows

from app.services.demo import DEMO_PASSWORD, seed_demo
from app.store.store import Store

OLD_DELETE_TRIGGER = """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: corrections are new events'); END;"""


def make_it_older(store) -> None:
    """As a store written before migration 5 shipped: no fork tables, the old DELETE trigger."""
    conn = store.db.conn
    for trigger in ("forks_no_update", "forks_no_delete", "forked_events_no_update", "forked_events_no_delete",
                    "events_no_delete"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP TABLE forked_events")
    conn.execute("DROP TABLE forks")
    conn.execute(OLD_DELETE_TRIGGER)
    conn.execute("DELETE FROM migrations WHERE number = 5")


def test_an_older_store_gets_the_fork_tables_and_stays_append_only(tmp_path):
    store, _ = seed_demo(tmp_path / "s")
    make_it_older(store)
    store.close()
    store = Store.open(tmp_path / "s", "admin", DEMO_PASSWORD)
    try:
        assert rows(store, "SELECT name FROM migrations WHERE number = 5")[0]["name"] == "chain_forks"
        assert store.verify() > 0
        row = rows(store, "SELECT event_id, device_id, device_seq, type, task_id, hlc, hash, body FROM events "
                          "WHERE device_id = ? ORDER BY device_seq DESC LIMIT 1", [store.device_id])[0]
        conn = store.db.conn
        # An event cannot be removed, nor removed after a copy that differs from it by one byte.
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events WHERE event_id = ?", [row["event_id"]])
        conn.execute("BEGIN")
        conn.execute("INSERT INTO forks (fork_id, fork_seq, central_head_seq, taken_back, forked, event_id,"
                     " recovered_at) VALUES ('f1', 1, 1, 1, 1, 'x', 'now')")
        conn.execute("INSERT INTO forked_events (event_id, fork_id, device_id, device_seq, type, task_id, hlc, hash,"
                     " body, re_recorded_seq) VALUES (?, 'f1', ?, ?, ?, ?, ?, ?, ?, 99)",
                     [row["event_id"], row["device_id"], row["device_seq"], row["type"], row["task_id"],
                      row["hlc"], row["hash"], row["body"] + " "])
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events WHERE event_id = ?", [row["event_id"]])
        for sql in ("UPDATE forked_events SET body = 'x'", "DELETE FROM forked_events", "DELETE FROM forks",
                    "UPDATE forks SET forked = 0"):
            with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
                conn.execute(sql)
        conn.execute("ROLLBACK")
        # Only the exact copy lets the row leave the chain (what forks.take_back does, in one transaction).
        conn.execute("BEGIN")
        conn.execute("INSERT INTO forks (fork_id, fork_seq, central_head_seq, taken_back, forked, event_id,"
                     " recovered_at) VALUES ('f1', 1, 1, 1, 1, 'x', 'now')")
        conn.execute("INSERT INTO forked_events (event_id, fork_id, device_id, device_seq, type, task_id, hlc, hash,"
                     " body, re_recorded_seq) VALUES (?, 'f1', ?, ?, ?, ?, ?, ?, ?, 99)",
                     [row["event_id"], row["device_id"], row["device_seq"], row["type"], row["task_id"],
                      row["hlc"], row["hash"], row["body"]])
        conn.execute("DELETE FROM events WHERE event_id = ?", [row["event_id"]])
        conn.execute("ROLLBACK")
        assert rows(store, "SELECT count(*) AS n FROM events WHERE event_id = ?", [row["event_id"]])[0]["n"] == 1
    finally:
        store.close()
