"""Workstations with wrong clocks, on real encrypted stores and the real central over HTTP
(SQLite and PostgreSQL): order follows cause, no clock drags another, skew is measured and shown,
and times beyond a device's own clock are held for review, never lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from central_helpers import PASSWORD, FakeDevice, capture, enroll_store, held_event_ids, quarantined
from store_rows import rows

from app.services import sync as sync_service
from app.services import tasks as ts
from app.services import workstation as ws
from app.store.store import Store
from sync.central.cli import main as central_cli
from sync.central.metrics import CentralMetrics
from sync.clock import MAX_DRIFT_MS, Clock, format_hlc, iso, parse_hlc, utc_now
from sync.protocol import TIME_BEYOND_DEVICE_CLOCK, TIME_IMPLAUSIBLE


def skewed(hours: float = 0.0, seconds: float = 0.0) -> Clock:
    """A real clock that runs ``hours`` + ``seconds`` ahead of this machine's (behind when negative)."""
    shift = timedelta(hours=hours, seconds=seconds)
    return Clock(lambda: utc_now() + shift)


@pytest.fixture
def workstation(tmp_path):
    """workstation(name, clock): a real SQLCipher store whose wall clock is ``clock``."""
    made = []

    def make(name: str, clock: Clock | None = None) -> Store:
        store, _ = Store.create(tmp_path / name, site_id="st-marys", unit_id="ward-7", admin_id="admin",
                                admin_name="Ada Admin (IT)", password=PASSWORD, clock=clock or Clock())
        made.append(store)
        return store

    yield make
    for store in made:
        if store.db is not None:
            store.close()


def sync(store: Store) -> dict:
    return sync_service.sync(store, sync_service.Link.from_store(store))


def board_row(store: Store, task_id: str) -> dict:
    return rows(store, "SELECT status, version, needs_review, last_event_id FROM tasks WHERE task_id = ?",
                       [task_id])[0]


def test_a_workstation_30_hours_fast_cannot_revert_anothers_board(central, workstation):
    url, db = central
    fast, right = workstation("fast", skewed(hours=30)), workstation("right")
    enroll_store(fast, url, db)
    enroll_store(right, url, db)
    task_id = capture(right, "referral")
    sync(right)
    sync(fast)
    ts.transition_task(fast, task_id, "accepted")  # stamped 30 h ahead
    sync(fast)
    sync(right)
    ts.transition_task(right, task_id, "in-progress")  # made after seeing "accepted", stamped now
    for store in (right, fast, right):
        sync(store)
    assert board_row(right, task_id) == board_row(fast, task_id)
    assert board_row(right, task_id)["status"] == "in-progress"
    assert board_row(right, task_id)["needs_review"] == 0
    ts.transition_task(right, task_id, "completed")  # the nurse can complete the task
    sync(right)
    sync(fast)
    assert board_row(fast, task_id) == board_row(right, task_id)
    assert board_row(fast, task_id)["status"] == "completed"
    moves = [e.get("to_status") for e in ts.timeline(right, task_id)]
    assert moves == ["requested", "accepted", "in-progress", "completed"]


def test_a_23_hours_fast_workstation_does_not_drag_anothers_clock(central, workstation, tmp_path):
    url, db = central
    fast, right = workstation("fast", skewed(hours=23)), workstation("right")
    enroll_store(fast, url, db)
    enroll_store(right, url, db)
    task_id = capture(fast, "referral")
    sync(fast)
    assert sync(right)["pulled"] >= 1
    far = rows(fast, "SELECT hlc FROM events WHERE task_id = ?", [task_id])[0]["hlc"]

    def ahead_of_own_wall_ms(store: Store) -> int:
        wall = int(store.clock.now().timestamp() * 1000)
        return parse_hlc(store.clock.tick())[0] - wall

    assert ahead_of_own_wall_ms(right) <= MAX_DRIFT_MS
    ts.transition_task(right, task_id, "accepted")
    mine = rows(right, "SELECT hlc FROM events WHERE task_id = ? AND device_id = ?",
                       [task_id, right.device_id])[0]["hlc"]
    assert mine < far  # its own clock, not the fast one's ...
    assert ts.get_task(right, task_id)["status"] == "accepted"  # ... and still in cause order
    right.close()
    again = Store.open(tmp_path / "right", "admin", PASSWORD, clock=Clock())  # a new process, same log
    assert ahead_of_own_wall_ms(again) <= MAX_DRIFT_MS
    again.close()


def central_stats(db, capsys) -> dict:
    capsys.readouterr()
    assert central_cli(["stats", "--json", "--db", db.url]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_workstation_3_minutes_fast_is_flagged_and_its_events_kept_and_shared(central, workstation, capsys):
    url, db = central
    off, right = workstation("off", skewed(seconds=180)), workstation("right")
    enroll_store(off, url, db)
    enroll_store(right, url, db)
    task_id = capture(off, "referral")
    answer = sync(off)
    assert answer["results"]["quarantined"] == answer["results"]["rejected"] == 0
    assert 120 < answer["clock_offset_s"] <= 181  # less the request's way there
    capture(right, "ed_triage")
    assert abs(sync(right)["clock_offset_s"]) < 60
    assert ts.get_task(right, task_id)["status"] == "requested"  # shared with the unit

    per_device = {d["device_id"]: d for d in central_stats(db, capsys)["per_device"]}
    assert per_device[off.device_id]["clock_off"] is True and per_device[off.device_id]["clock_offset_s"] > 120
    assert per_device[right.device_id]["clock_off"] is False
    metrics = CentralMetrics(db, Clock()).render().decode()
    assert f'tideover_device_clock_offset_seconds{{device="{off.device_id}",site="st-marys",unit="ward-7"}} 1' \
        in metrics
    status = ws.status(off)
    assert status["clock_off"] is True and status["clock_offset_s"] > 120
    assert ws.status(right)["clock_off"] is False


def _fresh_push(client, dev: FakeDevice, bodies: list[dict], device_clock: str | None) -> dict:
    batch = dev.batch(bodies)
    if device_clock:
        batch["device_clock"] = device_clock
    resp = client.post("/v1/push", content=json.dumps(batch), headers=dev.auth)
    assert resp.status_code == 200, resp.text
    return {r["device_seq"]: (r["result"], r["reason"]) for r in resp.json()["results"]}


def test_year_9999_and_times_beyond_the_device_clock_are_held_for_review(central, capsys):
    url, db = central
    dev, other = FakeDevice(), FakeDevice()
    now = utc_now()
    with httpx.Client(base_url=url) as client:
        dev.enroll(client, db)
        other.enroll(client, db)
        at_now = {"occurred_at": iso(now), "recorded_at": iso(now),
                  "hlc": format_hlc(int(now.timestamp() * 1000), 0)}
        ten_min = now + timedelta(minutes=10)
        bodies = [dev.init_event(),
                  dev.task(occurred_at="9999-12-31T23:59:59.000Z", recorded_at="9999-12-31T23:59:59.000Z"),
                  dev.task(hlc="9999999999999.00000"),
                  dev.task(**{**at_now, "recorded_at": iso(ten_min), "occurred_at": iso(ten_min)}),
                  dev.task(**{**at_now, "hlc": format_hlc(int(ten_min.timestamp() * 1000), 0)}),
                  dev.task(**at_now)]
        got = _fresh_push(client, dev, bodies, iso(now))
        assert got == {1: ("accepted", None), 2: ("quarantined", TIME_IMPLAUSIBLE),
                       3: ("quarantined", TIME_IMPLAUSIBLE), 4: ("quarantined", TIME_BEYOND_DEVICE_CLOCK),
                       5: ("quarantined", TIME_BEYOND_DEVICE_CLOCK), 6: ("accepted", None)}
        # A device whose own clock claims year 9999 does not make year 9999 believable.
        late = dev.task(occurred_at="9999-12-31T23:59:59.000Z", recorded_at="9999-12-31T23:59:59.000Z")
        assert _fresh_push(client, dev, [late], "9999-12-31T23:59:59.999Z") == {7: ("quarantined", TIME_IMPLAUSIBLE)}
        # Without a clock reading (an older workstation) only the absurd is held.
        plain = dev.task(**{**at_now, "recorded_at": iso(ten_min)})
        assert _fresh_push(client, dev, [plain, dev.task(recorded_at="9999-01-01T00:00:00.000Z")], None) == \
            {8: ("accepted", None), 9: ("quarantined", TIME_IMPLAUSIBLE)}
        pulled = client.get("/v1/pull", params={"after": 0}, headers=other.auth).json()["events"]
    held = {q["device_seq"]: q["reason"] for q in quarantined(db)}
    assert held == {2: TIME_IMPLAUSIBLE, 3: TIME_IMPLAUSIBLE, 4: TIME_BEYOND_DEVICE_CLOCK,
                    5: TIME_BEYOND_DEVICE_CLOCK, 7: TIME_IMPLAUSIBLE, 9: TIME_IMPLAUSIBLE}
    assert len(held_event_ids(db, dev.device_id)) == 3  # the chain went on around what is held
    assert sorted(e["device_seq"] for e in pulled if e["device_id"] == dev.device_id) == [6, 8]
    assert central_cli(["verify", "--db", db.url]) == 0  # held events keep the chain whole


def test_a_push_with_a_clock_reading_that_is_no_time_is_refused_whole(central):
    url, db = central
    dev = FakeDevice()
    with httpx.Client(base_url=url) as client:
        dev.enroll(client, db)
        for bad in ("2026-13-40T00:00:00.000Z", "٢٠٢٦-11-25T08:00:00.000Z", 1764057600):
            batch = {**dev.batch([dev.init_event()]), "device_clock": bad}
            resp = client.post("/v1/push", content=json.dumps(batch), headers=dev.auth)
            assert resp.status_code == 422 and "device_clock" in resp.json()["detail"]
            dev.seq, dev.made = 0, []
            dev.head = "0" * 64


def test_events_stamped_before_the_clock_was_set_back_are_held_not_lost(central, workstation):
    url, db = central
    shift = {"by": timedelta(0)}
    store = workstation("stepped", Clock(lambda: utc_now() + shift["by"]))
    enroll_store(store, url, db)
    shift["by"] = timedelta(hours=2)  # the clock jumped ahead ...
    early = capture(store, "referral")  # ... while this was recorded (the census load too)
    shift["by"] = timedelta(0)  # IT set the clock right before the workstation synced
    later = ts.capture_task(store, "ed_triage", "P100002", ts_answers("ed_triage")).task_id
    answer = sync(store)
    assert answer["results"]["quarantined"] >= 1 and answer["refused"] is None
    held = {e["task_id"]: e for e in answer["held_back"] if e.get("task_id")}
    assert held[early]["reason"] == TIME_BEYOND_DEVICE_CLOCK
    assert {e["type"] for e in answer["held_back"]} == {"task.created", "census.loaded"}  # sign-ins, grants go in
    assert ws.status(store)["quarantined"] >= 1
    assert ws.status(store)["pending_sync"] == 0
    with db.read() as conn:
        import sqlalchemy as sa

        from sync.central.db import events, quarantine
        kept = conn.execute(sa.select(quarantine.c.body).where(quarantine.c.reason == TIME_BEYOND_DEVICE_CLOCK))
        assert any(json.loads(b)["task_id"] == early for (b,) in kept)  # kept at the central for review
        assert conn.execute(sa.select(events.c.event_id).where(events.c.task_id == later)).first() is not None


def ts_answers(workflow: str) -> dict:
    from app.services.demo import example_answers

    return example_answers(workflow)


def test_a_tideover_process_3_minutes_fast_is_flagged_in_status_json(central, workstation, tmp_path):
    assert shutil.which("faketime"), "this test needs faketime (apt-get install faketime; .ci/run installs it)"
    url, db = central
    store = workstation("proc")
    enroll_store(store, url, db)
    capture(store, "referral")
    store.close()
    env = {**os.environ, "TIDEOVER_DATA_DIR": str(tmp_path / "proc"), "TIDEOVER_USER": "admin",
           "TIDEOVER_PASSWORD": PASSWORD}

    def tideover(*args: str, skew: str | None = None) -> dict:
        cmd = [sys.executable, "-m", "app.cli", *args]
        if skew:
            cmd = ["faketime", "-f", skew, *cmd]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    assert tideover("sync", skew="+180s")["clock_offset_s"] > 120  # the whole process runs 3 min fast
    status = tideover("status", "--json")
    assert status["clock_off"] is True and status["clock_offset_s"] > 120
