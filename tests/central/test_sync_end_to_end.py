"""Two workstations on one ward, the real central over HTTP on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json

import pytest
from central_helpers import PASSWORD, capture, enroll_store, held_event_ids, record_past_the_store
from store_rows import rows

from app.cli import main as tideover
from app.services import sync as sync_service
from app.store import outbox, syncstate
from sync.central.enroll import create_token


def forget_answers(store) -> None:
    """As if every answer had been lost: the workstation thinks nothing was synced."""
    store.db.execute("DELETE FROM sync_state")
    store.db.execute("DELETE FROM meta WHERE key = 'sync_watermark'")


def own_event_ids(store) -> set[str]:
    return {r["event_id"] for r in rows(store, "SELECT event_id FROM events WHERE device_id = ?",
                                                [store.device_id])}


def test_two_workstations_see_each_others_tasks(central, make_store):
    url, db = central
    a, b = make_store("a"), make_store("b")
    enroll_store(a, url, db)
    enroll_store(b, url, db)
    task_a = capture(a, "ed_triage")
    task_b = capture(b, "specimen_handoff", "P100002")

    first_a = sync_service.sync(a, sync_service.Link.from_store(a))
    first_b = sync_service.sync(b, sync_service.Link.from_store(b))
    again_a = sync_service.sync(a, sync_service.Link.from_store(a))

    assert first_a["results"]["accepted"] == first_a["pushed"] == len(own_event_ids(a))
    assert first_a["pending"] == 0 and first_b["pending"] == 0
    assert first_b["pulled"] >= 2  # A's census and task
    assert again_a["pulled"] >= 2  # B's census and task
    for store in (a, b):
        tasks = {r["task_id"]: r for r in rows(store, "SELECT task_id, workflow, status FROM tasks")}
        assert set(tasks) == {task_a, task_b}
        assert tasks[task_b]["workflow"] == "specimen_handoff"
    # The central holds exactly what the two workstations made, once each.
    held = held_event_ids(db)
    assert len(held) == len(set(held))
    assert set(held) == own_event_ids(a) | own_event_ids(b)
    assert a.meta()["last_sync"] == again_a["at"]
    assert rows(a, "SELECT why FROM checkpoints ORDER BY id DESC LIMIT 1")[0]["why"] == "sync"


def test_a_second_sync_sends_nothing_and_pulls_nothing(central, make_store):
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    capture(a)
    sync_service.sync(a, sync_service.Link.from_store(a))
    second = sync_service.sync(a, sync_service.Link.from_store(a))
    assert second["pushed"] == 0 and second["pulled"] == 0 and second["pending"] == 0
    assert sorted(held_event_ids(db)) == sorted(own_event_ids(a))


def test_resending_after_local_state_is_lost_is_answered_duplicate(central, make_store):
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    capture(a)
    sync_service.sync(a, sync_service.Link.from_store(a))
    forget_answers(a)
    summary = sync_service.sync(a, sync_service.Link.from_store(a))
    assert summary["results"]["duplicate"] == summary["pushed"] == len(own_event_ids(a))
    assert summary["results"]["accepted"] == 0
    assert outbox.pending_count(a) == 0
    assert sorted(held_event_ids(db)) == sorted(own_event_ids(a))


def test_small_batches_resume_where_they_stopped(central, make_store):
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    for i in range(3):
        capture(a, patient=f"P10000{i + 1}")
    summary = sync_service.sync(a, sync_service.Link.from_store(a), batch_size=2)
    assert summary["pending"] == 0
    assert summary["results"]["accepted"] == len(own_event_ids(a))
    assert sorted(held_event_ids(db)) == sorted(own_event_ids(a))


def test_cli_enroll_and_sync_print_a_json_summary(central, make_store, monkeypatch, capsys):
    url, db = central
    a = make_store("a")
    data_dir = a.data_dir
    a.db.conn.close()
    a.db = None
    monkeypatch.setenv("TIDEOVER_PASSWORD", PASSWORD)
    token, _ = create_token(db, "st-marys", "ward-7")
    base = ["--data-dir", str(data_dir), "--user", "admin"]
    assert tideover([*base, "enroll", "--central", url, "--token", token]) == 0
    assert "Enrolled device" in capsys.readouterr().out
    assert tideover([*base, "sync"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pending"] == 0 and summary["results"]["accepted"] == summary["pushed"] > 0
    # A replayed token is refused with one clear line and exit 1.
    assert tideover([*base, "enroll", "--central", url, "--token", token]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tideover: ") and "token" in err and "Traceback" not in err


def test_sync_without_enrollment_is_a_clear_error(make_store, monkeypatch, capsys):
    a = make_store("a")
    data_dir = a.data_dir
    a.db.conn.close()
    a.db = None
    monkeypatch.setenv("TIDEOVER_PASSWORD", PASSWORD)
    assert tideover(["--data-dir", str(data_dir), "--user", "admin", "sync"]) == 1
    assert "not enrolled" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_unreachable_central_keeps_the_outbox(make_store, central):
    from central_helpers import Redirect, free_port

    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    capture(a)
    pending = outbox.pending_count(a)
    link = dataclasses.replace(sync_service.Link.from_store(a), timeout=2)
    retry = sync_service.Retry(attempts=3, sleep=lambda s: None)
    with pytest.raises(sync_service.CentralUnreachable, match="did not answer after 3 tries"):
        sync_service.sync(a, link, retry=retry, transport=Redirect(free_port()))  # nothing listens there
    assert outbox.pending_count(a) == pending


def test_a_quarantined_event_is_shown_at_the_workstation_and_blocks_nothing(central, make_store):
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    odd = record_past_the_store(a, "device.initialized", {"public_key": "not-the-enrolled-key"},
                                {"user_id": "system", "display_name": "Tideover workstation", "role": "admin"})
    task_id = capture(a)
    summary = sync_service.sync(a, sync_service.Link.from_store(a))
    assert summary["results"]["quarantined"] == 1 and summary["pending"] == 0
    assert summary["held_back"] == [{"event_id": odd.event_id, "device_id": a.device_id,
                                     "device_seq": odd.device_seq, "state": "quarantined",
                                     "reason": "key_mismatch", "type": "device.initialized", "task_id": None}]
    assert syncstate.sync_state_of(a, odd.event_id) == "quarantined"
    assert task_id in {r["task_id"] for r in rows(a, "SELECT task_id FROM tasks")}
    held = set(held_event_ids(db))
    assert odd.event_id not in held and own_event_ids(a) - held == {odd.event_id}
