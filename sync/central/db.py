"""The central's database: one URL for SQLite or PostgreSQL, its tables, migrations and write locking.

Writers are serialized: ``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
PostgreSQL. Hashing and signature checks happen before the write transaction, so the lock covers
only the inserts. Serializing writers keeps the global sequence in commit order (a pull cursor
can never skip an event that commits late) and makes the id and chain checks exact when several
API servers share one PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite as sqlite_dialect

from sync.errors import TideoverError

ENV_DB = "TIDEOVER_CENTRAL_DB"
DEFAULT_DB = "tideover-central.db"
WRITE_LOCK_KEY = 0x7ADE0  # the advisory lock every PostgreSQL writer takes
MIGRATIONS_DIR = Path(__file__).parent / "migrations"

metadata = sa.MetaData()
_GSEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

central_keys = sa.Table(
    "central_keys", metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("private_key", sa.Text, nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)
enroll_tokens = sa.Table(
    "enroll_tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
    sa.Column("used_at", sa.String(40)),
    sa.Column("device_id", sa.String(64)),
)
devices = sa.Table(
    "devices", metadata,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("public_key", sa.String(64), nullable=False),
    sa.Column("credential_hash", sa.String(64)),
    sa.Column("enrolled_at", sa.String(40), nullable=False),
    sa.Column("enrolled_via", sa.String(16), nullable=False),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("last_push_at", sa.String(40)),
    sa.Column("backlog", sa.BigInteger, nullable=False),
)
events = sa.Table(
    "events", metadata,
    sa.Column("gseq", _GSEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("device_seq", sa.BigInteger, nullable=False),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("workflow", sa.String(32)),
    sa.Column("task_id", sa.String(64)),
    sa.Column("base_version", sa.BigInteger),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("device_id", "device_seq", name="events_device_seq"),
)
quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("id", _GSEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("device_seq", sa.BigInteger, nullable=False),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("workflow", sa.String(32)),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("device_id", "device_seq", name="quarantine_device_seq"),
)
checkpoints = sa.Table(
    "checkpoints", metadata,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("device_seq", sa.BigInteger, primary_key=True),
    sa.Column("signed_at", sa.String(40), primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(100), nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
)
conflicts = sa.Table(
    "conflicts", metadata,
    sa.Column("id", _GSEQ, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(64), nullable=False),
    sa.Column("base_version", sa.BigInteger, nullable=False),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("unit_id", sa.String(64), nullable=False),
    sa.Column("workflow", sa.String(32)),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("other_event_id", sa.String(36), nullable=False),
    sa.Column("other_device_id", sa.String(64), nullable=False),
    sa.Column("detected_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("event_id", "other_event_id", name="conflicts_pair"),
)
receipts = sa.Table(
    "receipts", metadata,
    sa.Column("bundle_id", sa.String(64), primary_key=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("imported_at", sa.String(40), nullable=False),
    sa.Column("receipt", sa.Text, nullable=False),
)


class CentralDBError(TideoverError):
    kind = "central_db"


def engine_url(db: str | None) -> str:
    """The SQLAlchemy URL for ``--db``: a bare path means SQLite; postgresql:// means psycopg 3."""
    db = (db or os.environ.get(ENV_DB) or DEFAULT_DB).strip()
    for prefix in ("postgresql://", "postgres://"):
        if db.startswith(prefix):
            return "postgresql+psycopg://" + db[len(prefix):]
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def redacted(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


class CentralDB:
    """An engine plus the few dialect differences the central needs."""

    def __init__(self, db: str | None = None):
        self.url = engine_url(db)
        try:
            parsed = sa.make_url(self.url)
        except sa.exc.ArgumentError:
            raise CentralDBError(f"{db!r} is not a database URL or a file path.") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise CentralDBError(f"Unsupported database {parsed.get_backend_name()!r}: use a SQLite file "
                                 f"or postgresql://...")
        if parsed.get_backend_name() == "sqlite":
            self.engine = sa.create_engine(self.url, connect_args={"timeout": 30, "check_same_thread": False},
                                           pool_pre_ping=False)
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=8, max_overflow=8)
        self.dialect = self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One serialized write transaction."""
        with self.engine.connect().execution_options(tideover_write=True) as conn, conn.begin():
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
            yield conn

    @contextlib.contextmanager
    def read(self, after_writer: bool = False) -> Iterator[sa.Connection]:
        """A read transaction; ``after_writer``: it starts once the write transaction under way (if
        any) has ended, so a reader waiting for a write sees it as soon as it commits (PostgreSQL)."""
        with self.engine.connect() as conn, conn.begin():
            if after_writer and self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({WRITE_LOCK_KEY})")
            yield conn

    def insert_ignore(self, table: sa.Table):
        """INSERT ... ON CONFLICT DO NOTHING for this backend."""
        dialect = pg if self.dialect == "postgresql" else sqlite_dialect
        return dialect.insert(table).on_conflict_do_nothing()

    # -- migrations ---------------------------------------------------------------------------
    def _alembic(self):
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest migration (safe to run from several servers at once)."""
        from alembic import command

        cfg = self._alembic()
        with self.engine.connect().execution_options(tideover_write=True) as conn, conn.begin():
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def schema_current(self) -> bool:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic()).get_current_head()
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() == head


def _sqlite_connect(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = FULL")  # an acknowledged event survives a power cut
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA temp_store = MEMORY")
    cur.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get("tideover_write")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
