"""Schema migrations: small functions applied in order, each once, recorded in ``migrations``.

Add a step with ``@migration(N)``; never edit a step that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from sync.clock import iso, utc_now

from .database import transaction

MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = []


def migration(number: int):
    def register(fn: Callable[[sqlite_utils.Database], None]):
        MIGRATIONS.append((number, fn.__name__, fn))
        MIGRATIONS.sort(key=lambda m: m[0])
        return fn

    return register


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet recorded, each in its own transaction; return their names."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
               " applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT number FROM migrations").fetchall()}
    applied = []
    for number, name, step in MIGRATIONS:
        if number in done:
            continue
        with transaction(db):
            step(db)
            db.execute("INSERT INTO migrations (number, name, applied_at) VALUES (?, ?, ?)",
                       [number, name, iso(utc_now())])
        applied.append(name)
    return applied


@migration(1)
def event_log_and_projections(db: sqlite_utils.Database) -> None:
    db.executescript("""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    -- The system of record. Rows are never changed or removed (see the triggers).
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        device_id TEXT NOT NULL,
        device_seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        task_id TEXT,
        hlc TEXT NOT NULL,
        hash TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (device_id, device_seq)
    );
    CREATE INDEX events_by_task ON events (task_id) WHERE task_id IS NOT NULL;
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: corrections are new events'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: corrections are new events'); END;

    -- Per-event sync state of this device's own events, beside the log. An own event with no
    -- row here is pending; a row is written when the central (or a receipt) answers for it.
    -- meta 'sync_watermark' is the highest device_seq up to which every event has an answer.
    CREATE TABLE sync_state (
        device_seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('synced', 'quarantined', 'rejected')),
        result TEXT NOT NULL,
        reason TEXT,
        updated_at TEXT NOT NULL
    );

    -- Signed heads of this device's chain, written at each sync and lock.
    CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        device_seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        signature TEXT NOT NULL,
        why TEXT NOT NULL
    );

    -- Projections: rebuilt from events by projections.rebuild().
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        patient_id TEXT NOT NULL,
        status TEXT NOT NULL,
        priority TEXT NOT NULL,
        destination TEXT,
        version INTEGER NOT NULL,
        correlation_id TEXT NOT NULL,
        summary TEXT NOT NULL,
        answers_event_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        mode TEXT NOT NULL,
        back_entry INTEGER NOT NULL DEFAULT 0,
        needs_review INTEGER NOT NULL DEFAULT 0,
        review_reason TEXT,
        notes INTEGER NOT NULL DEFAULT 0,
        last_order TEXT NOT NULL,
        last_event_id TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX tasks_by_workflow_status ON tasks (workflow, status);
    CREATE TABLE patients (
        patient_id TEXT PRIMARY KEY,
        mrn TEXT,
        family TEXT NOT NULL,
        given TEXT NOT NULL,
        birth_date TEXT,
        sex TEXT,
        location TEXT,
        temporary INTEGER NOT NULL DEFAULT 0,
        linked_to TEXT,
        as_of TEXT NOT NULL
    );
    CREATE TABLE users (
        user_id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        added_at TEXT NOT NULL
    );
    """)


@migration(2)
def checkpoints_append_only(db: sqlite_utils.Database) -> None:
    db.executescript("""
    CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
        BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
    CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
        BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
    """)


@migration(3)
def trust_events_index(db: sqlite_utils.Database) -> None:
    # Role grants are read at every unlock and grant (sync/grants.py): a small index finds them.
    db.execute("CREATE INDEX events_trust ON events (device_id, device_seq) WHERE type IN "
               "('device.initialized', 'user.added', 'user.role_changed', 'user.key_bound', "
               "'device.grants_sealed')")


@migration(4)
def census_newest_wins(db: sqlite_utils.Database) -> None:
    """Patients keep the order key of the snapshot that set them (projections.census_order)."""
    from .projections import census_order

    db.execute("ALTER TABLE patients ADD COLUMN census_order TEXT")
    # Rows of an older store: their snapshot's key from its as_of (no event id: any tie goes to a
    # snapshot that arrives from now on).
    for patient_id, as_of in db.execute("SELECT patient_id, as_of FROM patients").fetchall():
        key, _ = census_order({"event_id": "", "recorded_at": as_of, "payload": {"as_of": as_of}})
        db.execute("UPDATE patients SET census_order = ? WHERE patient_id = ?", [key, patient_id])


@migration(5)
def chain_forks(db: sqlite_utils.Database) -> None:
    """A restored workstation's own events at seqs the central already held leave the chain only
    into ``forked_events``, byte for byte (see forks.py): the log stays append-only, by design.

    ``forks`` records each recovery; ``forked_events`` keeps every event of a forked branch and
    the seq where the same event (same id and content) now stands in the chain. Both refuse UPDATE and DELETE; ``events`` now allows
    a DELETE only of a row whose exact copy is already in ``forked_events``.
    """
    db.executescript("""
    CREATE TABLE forks (
        fork_id TEXT PRIMARY KEY,
        fork_seq INTEGER NOT NULL,
        central_head_seq INTEGER NOT NULL,
        taken_back INTEGER NOT NULL,
        forked INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        confirmed_by TEXT,
        recovered_at TEXT NOT NULL
    );
    CREATE TABLE forked_events (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        fork_id TEXT NOT NULL REFERENCES forks (fork_id),
        device_id TEXT NOT NULL,
        device_seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        task_id TEXT,
        hlc TEXT NOT NULL,
        hash TEXT NOT NULL,
        body TEXT NOT NULL,
        re_recorded_seq INTEGER,
        reason TEXT,
        UNIQUE (fork_id, event_id)
    );
    CREATE TRIGGER forks_no_update BEFORE UPDATE ON forks
        BEGIN SELECT RAISE(ABORT, 'forks are append-only'); END;
    CREATE TRIGGER forks_no_delete BEFORE DELETE ON forks
        BEGIN SELECT RAISE(ABORT, 'forks are append-only'); END;
    CREATE TRIGGER forked_events_no_update BEFORE UPDATE ON forked_events
        BEGIN SELECT RAISE(ABORT, 'forked events are append-only'); END;
    CREATE TRIGGER forked_events_no_delete BEFORE DELETE ON forked_events
        BEGIN SELECT RAISE(ABORT, 'forked events are append-only'); END;
    DROP TRIGGER events_no_delete;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        WHEN NOT EXISTS (SELECT 1 FROM forked_events f WHERE f.event_id = OLD.event_id
                         AND f.device_id = OLD.device_id AND f.device_seq = OLD.device_seq
                         AND f.hash = OLD.hash AND f.body = OLD.body)
        BEGIN SELECT RAISE(ABORT, 'events are append-only: corrections are new events'); END;
    """)


@migration(6)
def set_aside_pulled_events(db: sqlite_utils.Database) -> None:
    # Pulled events this workstation cannot take (see setaside.py): kept, with the reason, in this
    # encrypted file; the pull goes on past them. Only reported_at is ever set after the insert.
    db.executescript("""
    CREATE TABLE set_aside (
        id INTEGER PRIMARY KEY,
        body_sha256 TEXT NOT NULL UNIQUE,
        event_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        device_seq INTEGER,
        type TEXT NOT NULL,
        task_id TEXT,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        body TEXT NOT NULL,
        set_aside_at TEXT NOT NULL,
        reported_at TEXT
    );
    CREATE TRIGGER set_aside_no_delete BEFORE DELETE ON set_aside
        BEGIN SELECT RAISE(ABORT, 'set-aside events are kept'); END;
    CREATE TRIGGER set_aside_only_reported BEFORE UPDATE ON set_aside
        WHEN NEW.body IS NOT OLD.body OR NEW.reason IS NOT OLD.reason OR NEW.event_id IS NOT OLD.event_id
        BEGIN SELECT RAISE(ABORT, 'set-aside events are kept as received'); END;
    """)


@migration(7)
def compressed_bodies(db: sqlite_utils.Database) -> None:
    """Event bodies are kept zstd-compressed with a shipped dictionary, its id in ``body_codec``
    (see bodies.py; NULL: the canonical text itself). Bodies already held are compressed here, and
    read back as the same canonical bytes, so every hash and signed checkpoint still verifies.

    Rows are rewritten only here: the append-only triggers are lifted for this step and put back as
    they were, and a forked event's copy must now match its codec too.
    """
    from .bodies import encode

    for table in ("events", "forked_events"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN body_codec INTEGER")
    db.execute("DROP TRIGGER events_no_update")
    db.execute("DROP TRIGGER forked_events_no_update")
    for table, key in (("events", "seq"), ("forked_events", "id")):
        last = 0
        while rows := db.execute(f"SELECT {key}, body FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT 1000",
                                 [last]).fetchall():
            packed = []
            for row_key, body in rows:
                stored, codec = encode(body.encode("utf-8") if isinstance(body, str) else bytes(body))
                if codec is not None:
                    packed.append([stored, codec, row_key])
            db.conn.executemany(f"UPDATE {table} SET body = ?, body_codec = ? WHERE {key} = ?", packed)
            last = rows[-1][0]
    db.execute("CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN "
               "SELECT RAISE(ABORT, 'events are append-only: corrections are new events'); END")
    db.execute("CREATE TRIGGER forked_events_no_update BEFORE UPDATE ON forked_events BEGIN "
               "SELECT RAISE(ABORT, 'forked events are append-only'); END")
    db.execute("DROP TRIGGER events_no_delete")
    db.execute("""CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        WHEN NOT EXISTS (SELECT 1 FROM forked_events f WHERE f.event_id = OLD.event_id
                         AND f.device_id = OLD.device_id AND f.device_seq = OLD.device_seq
                         AND f.hash = OLD.hash AND f.body = OLD.body AND f.body_codec IS OLD.body_codec)
        BEGIN SELECT RAISE(ABORT, 'events are append-only: corrections are new events'); END""")
