"""The central's table definitions (sync/central/db.py) and its Alembic migrations describe one schema.

A database migrated to head is compared with the models by Alembic's autogenerate, on SQLite and
PostgreSQL: a column, index, constraint or type that exists on one side only fails the test. Triggers
and functions are not in the models; tests of append-only behaviour cover them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sync.central.db import TRUST_EVENT_TYPES, CentralDB, metadata
from sync.grants import TRUST_TYPES


def schema_drift(db: CentralDB, models: sa.MetaData) -> list:
    """What Alembic would write in a new migration to bring the database to ``models`` (empty: no drift)."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, models)


def test_the_migrated_schema_is_the_models(central_db):
    assert schema_drift(central_db, metadata) == []


def test_a_column_only_in_the_models_is_drift(central_db):
    drifted = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["devices"].append_column(sa.Column("nickname", sa.String(40)))
    sa.Index("devices_by_unit", drifted.tables["devices"].c.unit_id)
    diff = schema_drift(central_db, drifted)
    assert [(d[0], d[3].name) for d in diff if d[0] == "add_column"] == [("add_column", "nickname")]
    assert [(d[0], d[1].name) for d in diff if d[0] == "add_index"] == [("add_index", "devices_by_unit")]
    assert len(diff) == 2


def test_the_trust_index_covers_every_event_type_that_grants_a_role():
    """actors.py reads a device's grants through the partial index events_trust: a trust type the
    index does not list would be missed (a new one needs a migration that remakes the index)."""
    assert set(TRUST_EVENT_TYPES) == set(TRUST_TYPES)
