"""Alembic environment: migrations run in process on a connection the central passes in.

``target_metadata`` is the central's table definitions (sync/central/db.py), so autogenerate can draft
a new migration from a change to them, and tests/central/test_schema_drift.py compares the two.
"""

from alembic import context

from sync.central.db import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True,
                  compare_type=True, compare_server_default=True, render_as_batch=True)
context.run_migrations()
