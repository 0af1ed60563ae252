"""Operations: health, readiness, Prometheus metrics, stats, verify and conflicts commands."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from central_helpers import FakeDevice, counts

from sync.central.cli import main as central_cli

METRICS_TOKEN = "scrape-me-0123456789"


@pytest.fixture
def central_app_options() -> dict:
    return {"metrics_token": METRICS_TOKEN}


def test_health_and_readiness(api):
    client, db = api
    assert client.get("/healthz").json() == {"status": "ok", "detail": ""}
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_migrations_are_not_current(api):
    client, db = api
    with db.write() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'old'"))
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.json()["detail"] == "migrations pending"


def test_metrics_stats_conflicts_and_verify(api, capsys):
    client, db = api
    a, b = FakeDevice(), FakeDevice()
    a.enroll(client, db)
    b.enroll(client, db)
    created = a.task()
    assert a.push(client, [created, a.transition(created["task_id"], 1)], backlog=7).status_code == 200
    assert b.push(client, [b.transition(created["task_id"], 1, to="cancelled"),
                           b.raw_event("task.teleported", {}, workflow="ed_triage", task_id="t")]).status_code == 200
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert 'tideover_events_total{result="accepted",site="st-marys",unit="ward-7",workflow="ed_triage"} 2.0' in metrics
    assert 'tideover_events_total{result="conflict",site="st-marys",unit="ward-7",workflow="ed_triage"} 1.0' in metrics
    assert 'tideover_quarantine_events{result="quarantined"} 1.0' in metrics
    assert f'tideover_device_backlog_events{{device="{a.device_id}",site="st-marys",unit="ward-7"}} 7.0' in metrics
    assert "tideover_push_seconds_count 2.0" in metrics
    assert f'tideover_device_lag_seconds{{device="{a.device_id}"' in metrics

    capsys.readouterr()
    assert central_cli(["stats", "--json", "--db", db.url]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["events"], stats["quarantine"], stats["conflicts"], stats["devices"]) == (3, 1, 1, 2)
    assert {d["device_id"]: d["highest_seq"] for d in stats["per_device"]} == {a.device_id: 2, b.device_id: 2}

    assert central_cli(["conflicts", "list", "--json", "--db", db.url]) == 0
    [conflict] = json.loads(capsys.readouterr().out)
    assert conflict["task_id"] == created["task_id"] and conflict["device_id"] == b.device_id

    assert central_cli(["verify", "--db", db.url]) == 0
    assert "Every chain links" in capsys.readouterr().out


def test_verify_finds_an_edited_row_and_exits_non_zero(api, capsys):
    client, db = api
    a = FakeDevice()
    a.enroll(client, db)
    assert a.push(client, [a.init_event(), a.task(), a.task()]).status_code == 200
    before = counts(db)
    with db.write() as conn:  # an intruder with database access, past the append-only trigger
        if db.dialect == "postgresql":
            conn.execute(sa.text("ALTER TABLE events DISABLE TRIGGER events_append_only"))
        else:
            conn.execute(sa.text("DROP TRIGGER events_no_update"))
        conn.execute(sa.text("UPDATE events SET body = replace(body, 'synthetic', 'tampered') "
                             "WHERE device_seq = 2"))
    capsys.readouterr()
    assert central_cli(["verify", "--json", "--db", db.url]) == 4
    report = json.loads(capsys.readouterr().out)
    assert report["problems"][0]["device_id"] == a.device_id and report["problems"][0]["device_seq"] == 2
    assert counts(db) == before


def test_events_are_append_only_in_the_database(api):
    client, db = api
    a = FakeDevice()
    a.enroll(client, db)
    assert a.push(client, [a.init_event(), a.raw_event("task.teleported", {})]).status_code == 200
    for sql in ("UPDATE events SET type = 'x'", "DELETE FROM events", "DELETE FROM quarantine",
                "UPDATE checkpoints SET hash = 'x'"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with db.write() as conn:
                conn.execute(sa.text(sql))
    assert (counts(db)["events"], counts(db)["quarantine"], counts(db)["checkpoints"]) == (1, 1, 1)


def test_central_cli_errors_are_one_line(tmp_path, capsys):
    assert central_cli(["stats", "--db", "postgresql://nobody@127.0.0.1:1/none"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tideover-central: database error") and err.count("\n") == 1
    assert central_cli(["bundle", "import", str(tmp_path / "missing"), "--receipt", str(tmp_path / "r"),
                        "--db", str(tmp_path / "c.db")]) == 1
    assert "Cannot read" in capsys.readouterr().err


def test_the_database_comes_from_tideover_central_db_when_not_given(tmp_path, monkeypatch, capsys):
    from sync.central.db import engine_url

    db_file = tmp_path / "from-env.db"
    monkeypatch.setenv("TIDEOVER_CENTRAL_DB", str(db_file))
    assert central_cli(["enroll-token", "create", "--site", "st-marys", "--unit", "ward-7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["site_id"] == "st-marys"
    assert db_file.exists()
    assert engine_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url(str(db_file)) == f"sqlite:///{db_file}"
