"""The local log stays append-only with a recorded fork (migration 5), tested on an older store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlcipher3
from store_rows import rows

from app.services.demo import DEMO_PASSWORD
from app.store.store import Store

FIXTURES = Path(__file__).parent / "fixtures"


def test_an_older_store_gets_the_fork_tables_and_stays_append_only(tmp_path):
    # A store the previous release made (migrations 1 and 2: no fork tables, the old DELETE trigger).
    shutil.copytree(FIXTURES / "release_0d86e13" / "workstation", tmp_path / "s")
    store = Store.open(tmp_path / "s", "admin", DEMO_PASSWORD)
    try:
        assert rows(store, "SELECT name FROM migrations WHERE number = 5")[0]["name"] == "chain_forks"
        assert store.verify() > 0
        row = rows(store, "SELECT event_id, device_id, device_seq, type, task_id, hlc, hash, body, body_codec FROM events "
                          "WHERE device_id = ? ORDER BY device_seq DESC LIMIT 1", [store.device_id])[0]
        conn = store.db.conn
        # An event cannot be removed, nor removed after a copy that differs from it by one byte.
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events WHERE event_id = ?", [row["event_id"]])
        conn.execute("BEGIN")
        conn.execute("INSERT INTO forks (fork_id, fork_seq, central_head_seq, taken_back, forked, event_id,"
                     " recovered_at) VALUES ('f1', 1, 1, 1, 1, 'x', 'now')")
        conn.execute("INSERT INTO forked_events (event_id, fork_id, device_id, device_seq, type, task_id, hlc, hash,"
                     " body, body_codec, re_recorded_seq) VALUES (?, 'f1', ?, ?, ?, ?, ?, ?, ?, ?, 99)",
                     [row["event_id"], row["device_id"], row["device_seq"], row["type"], row["task_id"],
                      row["hlc"], row["hash"], row["body"] + b" ", row["body_codec"]])
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
                     " body, body_codec, re_recorded_seq) VALUES (?, 'f1', ?, ?, ?, ?, ?, ?, ?, ?, 99)",
                     [row["event_id"], row["device_id"], row["device_seq"], row["type"], row["task_id"],
                      row["hlc"], row["hash"], row["body"], row["body_codec"]])
        conn.execute("DELETE FROM events WHERE event_id = ?", [row["event_id"]])
        conn.execute("ROLLBACK")
        assert rows(store, "SELECT count(*) AS n FROM events WHERE event_id = ?", [row["event_id"]])[0]["n"] == 1
    finally:
        store.close()
