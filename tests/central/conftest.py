"""Shared fixtures for the central and sync tests: a private PostgreSQL cluster started by the test
run, a central database on each backend, the real API on loopback, and workstation stores."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from central_helpers import PASSWORD, ThreadServer, free_port

from sync.central.db import CentralDB


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed; .ci/run installs "
                       "the Debian package postgresql.")


class PostgresCluster:
    """A throwaway cluster in a temp folder on a free loopback port (as user postgres when root)."""

    def __init__(self):
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="tideover-pg-"))
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self.as_user, *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"),
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)


@pytest.fixture(scope="session")
def pg_cluster():
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, request, tmp_path, monkeypatch):
    """A fresh, empty central database URL on the backend under test (its private keys in tmp_path)."""
    if backend == "sqlite":
        yield str(tmp_path / "central.db")
        return
    monkeypatch.setenv("TIDEOVER_CENTRAL_KEYS_DIR", str(tmp_path / "central-keys"))
    cluster = request.getfixturevalue("pg_cluster")
    name = "t_" + uuid.uuid4().hex[:12]
    cluster.admin(f"CREATE DATABASE {name}")
    try:
        yield cluster.url(name)
    finally:
        cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def central_db(db_url):
    db = CentralDB(db_url)
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def central(central_db):
    """(url, db) of the real central API served over HTTP on loopback."""
    from sync.central.app import create_app

    with ThreadServer(create_app(central_db)) as srv:
        yield srv.url, central_db


@pytest.fixture
def central_app_options() -> dict:
    """Options for ``create_app`` of the in-process ``api`` (a test module overrides this fixture)."""
    return {}


@pytest.fixture
def api(central_db, central_app_options):
    """(client, db): the central app in process (FastAPI's TestClient), on the test's database."""
    from fastapi.testclient import TestClient

    from sync.central.app import create_app

    with TestClient(create_app(central_db, **central_app_options)) as client:
        yield client, central_db


@pytest.fixture
def device(api):
    """A synthetic device enrolled with the ``api`` central (its chain made by hand: FakeDevice)."""
    from central_helpers import FakeDevice

    client, db = api
    dev = FakeDevice()
    dev.enroll(client, db)
    return dev


@pytest.fixture
def make_store(tmp_path):
    """Make a workstation store: make_store(name, site=..., unit=...)."""
    from app.store.store import Store

    made = []

    def make(name: str, site: str = "st-marys", unit: str = "ward-7"):
        store, _code = Store.create(tmp_path / name, site_id=site, unit_id=unit, admin_id="admin",
                                    admin_name="Ada Admin (IT)", password=PASSWORD)
        made.append(store)
        return store

    yield make
    for store in made:
        if store.db is not None:
            store.db.conn.close()
            store.db = None
