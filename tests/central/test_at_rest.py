"""The central at rest (finding 9 of issue 8): its database, WAL and key files private to its user,
and its private keys apart from the event data, also for a database made before that."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import httpx
import pytest
import sqlalchemy as sa
from central_helpers import FakeDevice, free_port
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi.testclient import TestClient

from sync.bundle import sign_receipt, verify_receipt
from sync.central.app import create_app
from sync.central.cli import main as central_cli
from sync.central.db import CentralDB, central_keys
from sync.central.keys import CentralKeysError, load_keys

RAW = (serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
PUB = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def wide_umask():
    """The umask of a careless service account: files 0644 unless the central sees to it."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_sqlite_central_makes_its_files_readable_by_its_user_only(tmp_path, wide_umask):
    folder = tmp_path / "srv" / "tideover"
    db = CentralDB(str(folder / "central.db"))
    db.migrate()
    try:
        with TestClient(create_app(db)) as client:
            dev = FakeDevice()
            dev.enroll(client, db)
            assert dev.push(client, [dev.init_event(), dev.task()]).status_code == 200
            wal, shm = folder / "central.db-wal", folder / "central.db-shm"
            assert wal.exists() and shm.exists()  # the central is running: its WAL holds event bodies
            assert {p.name: mode(p) for p in (folder / "central.db", wal, shm)} == {
                "central.db": 0o600, "central.db-wal": 0o600, "central.db-shm": 0o600}
            assert mode(folder) == 0o700
            assert mode(db.keys_dir) == 0o700
            assert {p.name: mode(p) for p in db.keys_dir.iterdir()} == {"bundle.key": 0o600, "signing.key": 0o600}
            assert db.readable_by_others() == []
    finally:
        db.dispose()


def test_the_private_keys_are_not_in_the_database(central_db):
    keys = load_keys(central_db)
    with central_db.read() as conn:
        rows = {r.name: r for r in conn.execute(sa.select(central_keys))}
    assert {n: r.private_key for n, r in rows.items()} == {"bundle": "", "signing": ""}
    assert rows["signing"].public_key == keys.signing_private.public_key().public_bytes(*PUB).hex()
    signing_file = serialization.load_pem_private_key((central_db.keys_dir / "signing.key").read_bytes(), None)
    assert signing_file.private_bytes(*RAW) == keys.signing_private.private_bytes(*RAW)


def test_the_keys_of_a_database_made_before_move_out_of_it(central_db):
    bundle, signing = X25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_receipt = sign_receipt({"bundle_id": "b1", "device_id": "d1", "results": []}, signing)
    with central_db.write() as conn:  # as the central wrote them before the keys folder
        conn.execute(sa.insert(central_keys), [
            {"name": "bundle", "private_key": bundle.private_bytes(*RAW).hex(),
             "public_key": bundle.public_key().public_bytes(*PUB).hex(), "created_at": "2026-11-01T00:00:00.000Z"},
            {"name": "signing", "private_key": signing.private_bytes(*RAW).hex(),
             "public_key": signing.public_key().public_bytes(*PUB).hex(), "created_at": "2026-11-01T00:00:00.000Z"}])
    assert not (central_db.keys_dir / "signing.key").exists()
    keys = load_keys(central_db)
    assert keys.signing_private.private_bytes(*RAW) == signing.private_bytes(*RAW)
    assert keys.bundle_private.private_bytes(*RAW) == bundle.private_bytes(*RAW)
    with central_db.read() as conn:
        assert set(conn.execute(sa.select(central_keys.c.private_key)).scalars()) == {""}
    assert mode(central_db.keys_dir / "signing.key") == 0o600
    verify_receipt(old_receipt, keys.public().signing_public_key)  # workstations' pinned key still holds
    if central_db.dialect == "sqlite":
        central_db.dispose()
        base = central_db.engine.url.database
        on_disk = b"".join(open(p, "rb").read() for p in (base, base + "-wal") if os.path.exists(p))
        assert signing.private_bytes(*RAW).hex().encode() not in on_disk


def test_a_server_given_another_keys_folder_is_refused(central_db, tmp_path, capsys):
    load_keys(central_db)
    elsewhere = CentralDB(central_db.url, keys_dir=tmp_path / "not-this-centrals-keys")
    try:
        with pytest.raises(CentralKeysError, match="set up with"):
            load_keys(elsewhere)
    finally:
        elsewhere.dispose()
    capsys.readouterr()
    assert central_cli(["keys", "export", "--db", central_db.url, "--keys-dir", str(tmp_path / "empty"),
                        "--out", str(tmp_path / "k.json")]) == 1
    assert "Copy the keys folder" in capsys.readouterr().err
    assert not (tmp_path / "k.json").exists()


def _wait_ready(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the central did not start")


def test_serve_warns_of_plain_http_and_guards_metrics_and_docs(tmp_path):
    port = free_port()
    db_file = tmp_path / "central.db"
    env = {**os.environ, "TIDEOVER_METRICS_TOKEN": "scrape-token-0123"}
    proc = subprocess.Popen([sys.executable, "-m", "sync.central.cli", "--db", str(db_file), "serve",
                             "--host", "0.0.0.0", "--port", str(port), "--docs"], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc)
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        scraped = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer scrape-token-0123"})
        assert scraped.status_code == 200 and "tideover_push_seconds" in scraped.text
        assert httpx.get(f"{url}/openapi.json").status_code == 200
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    assert "WARNING: plain HTTP on 0.0.0.0" in err


def test_metrics_docs_and_openapi_are_closed_by_default(central_db):
    with TestClient(create_app(central_db)) as client:
        dev = FakeDevice()
        dev.enroll(client, central_db)
        assert dev.push(client, [dev.init_event()]).status_code == 200
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path
        closed = client.get("/metrics")
        assert closed.status_code == 404 and dev.device_id not in closed.text
    with TestClient(create_app(central_db, metrics_token="t0ken-for-prometheus")) as client:
        refused = client.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert refused.status_code == 401 and dev.device_id not in refused.text
        allowed = client.get("/metrics", headers={"Authorization": "Bearer t0ken-for-prometheus"})
        assert allowed.status_code == 200 and dev.device_id in allowed.text



@pytest.mark.postgres
def test_the_documented_postgresql_roles_run_the_central_and_cannot_rewrite_history(pg_cluster, tmp_path,
                                                                                    monkeypatch):
    import re
    import uuid
    from pathlib import Path

    import psycopg

    docs = (Path(__file__).resolve().parents[2] / "docs" / "central.md").read_text()
    sql = re.search(r"```sql\n(.*?)```", docs, re.S).group(1)
    tag = uuid.uuid4().hex[:8]
    migrate_role, app_role, database = f"tideover_migrate_{tag}", f"tideover_app_{tag}", f"t_roles_{tag}"
    sql = sql.replace("tideover_migrate", migrate_role).replace("tideover_app", app_role)
    sql = sql.replace("DATABASE tideover ", f"DATABASE {database} ")
    sql = "\n".join(line.split("--")[0] for line in sql.splitlines())
    statements = [s.strip() for s in sql.split(";")]
    setup = [s for s in statements if s.startswith("CREATE")]
    grants = [s for s in statements if s.startswith(("GRANT", "REVOKE"))]
    monkeypatch.setenv("TIDEOVER_CENTRAL_KEYS_DIR", str(tmp_path / "keys"))
    for stmt in setup:
        pg_cluster.admin(stmt)
    host = f"127.0.0.1:{pg_cluster.port}/{database}"
    try:
        owner = CentralDB(f"postgresql://{migrate_role}@{host}")
        owner.migrate()
        with psycopg.connect(f"postgresql://{migrate_role}@{host}", autocommit=True) as conn:
            for stmt in grants:
                conn.execute(stmt)
        owner.dispose()
        app_db = CentralDB(f"postgresql://{app_role}@{host}")
        app_db.migrate()  # what every command does first: a no-op on a current schema
        with TestClient(create_app(app_db)) as client:
            dev = FakeDevice()
            dev.enroll(client, app_db)
            assert dev.push(client, [dev.init_event(), dev.task()]).status_code == 200
            assert client.get("/v1/pull", headers=dev.auth).status_code == 200
        assert central_cli(["device", "revoke", dev.device_id, "--reason", "test", "--db", app_db.url]) == 0
        for forbidden in ("UPDATE events SET body = 'x'", "DELETE FROM device_audit",
                          "ALTER TABLE events DISABLE TRIGGER events_append_only", "DROP TABLE events"):
            with pytest.raises(sa.exc.ProgrammingError, match="(?i)permission denied|must be owner"):
                with app_db.write() as conn:
                    conn.execute(sa.text(forbidden))
        app_db.dispose()
    finally:
        pg_cluster.admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        pg_cluster.admin(f"DROP ROLE IF EXISTS {app_role}")
        pg_cluster.admin(f"DROP ROLE IF EXISTS {migrate_role}")
