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
ENV_KEYS_DIR = "TIDEOVER_CENTRAL_KEYS_DIR"
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
    sa.Column("for_device", sa.String(64)),  # a token IT made to bring back one (revoked) device
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
    sa.Column("revoked_at", sa.String(40)),
    sa.Column("revoked_reason", sa.Text),
    sa.Column("clock_offset_s", sa.Float),  # the device's clock minus the central's, at its last push
    sa.Column("clock_read_at", sa.String(40)),
)
device_audit = sa.Table(  # append-only: every enrollment, re-enrollment, revoke and bundle registration
    "device_audit", metadata,
    sa.Column("id", _GSEQ, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(24), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index("device_audit_by_device", "device_id", "id"),
)
# The event types that grant roles on a device, as the partial index events_trust (migration 0003) was
# made: the planners use the index only for a query with these same constants (sync/central/actors.py).
# sync.grants.TRUST_TYPES must stay this set (tests/central/test_schema_drift.py); a change needs a migration.
TRUST_EVENT_TYPES = ("device.grants_sealed", "device.initialized", "user.added", "user.key_bound",
                     "user.role_changed")
TRUST_WHERE = sa.text("events.type IN (" + ", ".join(f"'{t}'" for t in TRUST_EVENT_TYPES) + ")")
events = sa.Table(
    "events", metadata,
    sa.Column("gseq", _GSEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False),
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
    sa.UniqueConstraint("event_id", name="events_event_id"),
    sa.UniqueConstraint("device_id", "device_seq", name="events_device_seq"),
    sa.Index("events_by_unit", "site_id", "unit_id", "gseq"),  # pulls: a unit's events after a cursor
    sa.Index("events_by_task", "task_id", "base_version"),  # conflict detection
    sa.Index("events_trust", "device_id", "device_seq", sqlite_where=TRUST_WHERE, postgresql_where=TRUST_WHERE),
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
set_aside_reports = sa.Table(  # append-only: a workstation could not take a pulled event (sync.validity)
    "set_aside_reports", metadata,
    sa.Column("id", _GSEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("reported_by", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("reported_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("event_id", "reported_by", name="set_aside_reports_once"),
)
withheld = sa.Table(  # append-only: events IT keeps out of every pull, with why and who decided
    "withheld", metadata,
    sa.Column("id", _GSEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("withheld_by", sa.String(64), nullable=False),
    sa.Column("withheld_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("event_id", name="withheld_event_id"),
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


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) a folder only its owner can enter; an existing one is left as is."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    return path


def _create_private_sqlite(path: Path) -> None:
    """Create an empty database file 0600 (in a 0700 folder if the folder is new).

    SQLite makes the WAL and shared-memory files with the database file's mode, so they are 0600 too.
    An empty file is a new database to SQLite. os.open with a mode rather than a changed umask, which
    is process-wide and not thread-safe.
    """
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.fchmod(fd, 0o600)
    os.close(fd)


def default_keys_dir(url: str) -> Path:
    """Where the central's private keys live unless --keys-dir or TIDEOVER_CENTRAL_KEYS_DIR says.

    SQLite: a folder beside the database file. PostgreSQL: one per database in the user's data folder
    (several API servers on one database each need a copy of it: see docs/central.md).
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db_file = Path(parsed.database)
        return db_file.with_name(db_file.name + ".keys")
    import platformdirs

    where = f"{parsed.host or 'local'}-{parsed.port or 5432}-{parsed.database or 'postgres'}"
    return platformdirs.user_data_path("tideover-central") / "keys" / where


def redacted(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


class CentralDB:
    """An engine plus the few dialect differences the central needs."""

    def __init__(self, db: str | None = None, keys_dir: str | Path | None = None):
        self.url = engine_url(db)
        try:
            parsed = sa.make_url(self.url)
        except sa.exc.ArgumentError:
            raise CentralDBError(f"{db!r} is not a database URL or a file path.") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise CentralDBError(f"Unsupported database {parsed.get_backend_name()!r}: use a SQLite file "
                                 f"or postgresql://...")
        keys_dir = keys_dir or os.environ.get(ENV_KEYS_DIR)
        self.keys_dir = Path(keys_dir).expanduser().resolve() if keys_dir else default_keys_dir(self.url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                _create_private_sqlite(Path(parsed.database))
            self.engine = sa.create_engine(self.url, connect_args={"timeout": 30, "check_same_thread": False},
                                           pool_pre_ping=False)
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True, pool_size=8, max_overflow=8)
        self.dialect = self.engine.dialect.name
        # Per-process caches of facts derived from append-only rows (sync/central/actors.py).
        self.cache: dict = {}

    def dispose(self) -> None:
        self.engine.dispose()

    def readable_by_others(self) -> list[str]:
        """The database's files (SQLite: the file, WAL, shared memory) that group or others may read."""
        if self.dialect != "sqlite":
            return []
        base = Path(self.engine.url.database)
        found = []
        for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
            try:
                if path.stat().st_mode & 0o077:
                    found.append(str(path))
            except FileNotFoundError:
                continue
        return found

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
