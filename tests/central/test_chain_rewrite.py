"""A local chain rewritten and re-signed with the device key passes `audit verify`, and is caught at the
central at the next sync, shown to IT and on the workstation (issue 8, finding 7)."""

from __future__ import annotations

import json

import orjson
from central_helpers import PASSWORD, capture, enroll_store, held_event_ids

from app.services import sync as sync_service
from app.services import workstation as ws
from app.store import eventlog
from app.store.bodies import decode, encode
from app.store.store import Store
from sync.canonical import canonical_bytes
from sync.central.cli import main as central_cli
from sync.central.queries import verify
from sync.events import recompute_hash


def rewrite_and_re_sign(store: Store, seq: int, change) -> None:
    """What someone with the data key (and so the device key) can do: change the event at ``seq``,
    re-chain everything after it, drop the append-only triggers for a moment and re-sign the head."""
    conn = store.db.conn
    rows = conn.execute("SELECT seq, body, body_codec FROM events WHERE device_id = ? AND device_seq >= ?"
                        " ORDER BY device_seq", [store.device_id, seq]).fetchall()
    prev = conn.execute("SELECT hash FROM events WHERE device_id = ? AND device_seq = ?",
                        [store.device_id, seq - 1]).fetchone()[0]
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER checkpoints_no_delete")
    for row_seq, stored, codec in rows:
        body = orjson.loads(decode(stored, codec))
        if body["device_seq"] == seq:
            change(body)
        body["prev_hash"] = prev
        body["hash"] = prev = recompute_hash(body)
        # Written back the way the store writes bodies (bodies.py): compressed, its codec beside it.
        conn.execute("UPDATE events SET hash = ?, body = ?, body_codec = ? WHERE seq = ?",
                     [body["hash"], *encode(canonical_bytes(body)), row_seq])
    conn.execute("DELETE FROM checkpoints")
    conn.execute("CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, "
                 "'events are append-only: corrections are new events'); END")
    conn.execute("CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints BEGIN SELECT RAISE(ABORT, "
                 "'checkpoints are append-only'); END")
    store._head = eventlog.read_head(store.db, store.device_id)
    store.checkpoint("re-signed")


def test_a_rewritten_synced_chain_passes_locally_and_is_refused_and_shown_at_the_next_sync(central, make_store,
                                                                                          capsys):
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    task_id = capture(a)
    assert sync_service.sync(a, sync_service.Link.from_store(a))["refused"] is None
    created = next(b for b in map(json.loads, eventlog.task_bodies(a, task_id)) if b["type"] == "task.created")
    central_copy = set(held_event_ids(db, a.device_id))

    def raise_priority(body):
        body["payload"]["priority"] = "stat"

    rewrite_and_re_sign(a, created["device_seq"], raise_priority)
    assert a.verify() > 0  # the limit of local tamper evidence: the rewrite verifies locally
    data_dir = a.data_dir
    a.close()

    again = Store.open(data_dir, "admin", PASSWORD)
    summary = sync_service.sync(again, sync_service.Link.from_store(again))
    assert summary["refused"]["error"] == "chain_broken"
    # The central's copy stands: nothing of the rewritten chain went in.
    assert set(held_event_ids(db, again.device_id)) == central_copy
    assert verify(db)["problems"][0]["problem"] == "chain_differs"
    assert verify(db)["problems"][0]["device_id"] == again.device_id
    # IT sees it, and so does the workstation.
    assert central_cli(["--db", db.url, "verify"]) == 4
    out = capsys.readouterr().out
    assert "chain_differs" in out and again.device_id in out
    st = ws.status(again)
    assert any("differs from the central's copy" in w for w in st["warnings"])
    again.close()
