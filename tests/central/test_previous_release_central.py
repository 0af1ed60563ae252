"""A central database made by the previous release (main at 0d86e13, Alembic revision 0001) migrates to
head with today's code, on SQLite and PostgreSQL: the schema is then the models, verify passes, and the
workstation it served as well as a new one still sync with it (fixtures: tests/fixtures/release_0d86e13)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from central_helpers import ThreadServer, capture, enroll_store, held_event_ids
from store_rows import rows
from test_schema_drift import schema_drift

from app.services import sync as sync_service
from app.services.demo import DEMO_PASSWORD
from app.store.store import Store
from sync.central.app import create_app
from sync.central.cli import main as central_cli
from sync.central.db import CentralDB, central_keys, events, metadata
from sync.central.queries import verify

RELEASE = Path(__file__).parent.parent / "fixtures" / "release_0d86e13"
OLD_REVISION = "0001"
OLD_TASKS = 2


def _old_central(db_url: str, backend: str) -> None:
    """Put the previous release's central at ``db_url``: the file itself on SQLite; on PostgreSQL the
    schema of revision 0001 (unchanged since that release) filled with the file's rows."""
    if backend == "sqlite":
        shutil.copyfile(RELEASE / "central.db", db_url)
        os.chmod(db_url, 0o600)
        return
    old = sa.create_engine(f"sqlite:///{RELEASE / 'central.db'}")
    rows = sa.MetaData()
    rows.reflect(old)
    db = CentralDB(db_url)
    cfg = db._alembic()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, OLD_REVISION)
        with old.connect() as src:
            for table in rows.sorted_tables:
                if table.name == "alembic_version":
                    continue
                data = [dict(r) for r in src.execute(sa.select(table)).mappings()]
                if data:
                    conn.execute(sa.Table(table.name, sa.MetaData(), autoload_with=conn).insert(), data)
        for table, column in (("events", "gseq"), ("quarantine", "id"), ("conflicts", "id")):
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                                 f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
    old.dispose()
    db.dispose()


def test_a_central_of_the_previous_release_migrates_and_still_syncs(db_url, backend, tmp_path, make_store):
    _old_central(db_url, backend)
    db = CentralDB(db_url)
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == OLD_REVISION
            old_events = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
        assert old_events > 0 and not db.schema_current()

        db.migrate()
        assert db.schema_current()
        assert schema_drift(db, metadata) == []
        report = verify(db)
        assert report["problems"] == [] and report["events"] == old_events
        assert central_cli(["verify", "--db", db_url]) == 0

        with ThreadServer(create_app(db)) as srv:
            with db.read() as conn:  # the first start moved the old release's private keys out of the database
                assert {r.private_key for r in conn.execute(sa.select(central_keys))} == {""}
            data = tmp_path / "old-workstation"
            shutil.copytree(RELEASE / "workstation", data)
            old = Store.open(data, "admin", DEMO_PASSWORD)  # the store migrates too
            old.set_meta("central_url", srv.url)  # the old release's central ran on a loopback port now gone
            assert len(rows(old, "SELECT task_id FROM tasks")) == OLD_TASKS
            new_task = capture(old, "ed_triage", "P100003")
            summary = sync_service.sync(old, sync_service.Link.from_store(old))
            assert summary["refused"] is None and summary["pending"] == 0
            assert summary["results"]["quarantined"] == summary["results"]["rejected"] == 0
            assert set(held_event_ids(db, old.device_id)) == {r["event_id"] for r in rows(old,
                "SELECT event_id FROM events WHERE device_id = ?", [old.device_id])}

            fresh = make_store("fresh")
            enroll_store(fresh, srv.url, db)
            pulled = sync_service.sync(fresh, sync_service.Link.from_store(fresh))
            assert pulled["pending"] == 0
            tasks = {r["task_id"] for r in rows(fresh, "SELECT task_id FROM tasks")}
            assert len(tasks) == OLD_TASKS + 1 and new_task in tasks
            old.close()

        report = verify(db)
        assert report["problems"] == [] and report["events"] > old_events
    finally:
        db.dispose()

