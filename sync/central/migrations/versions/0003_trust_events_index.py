"""A small partial index over the events that grant roles on a device (sync/central/actors.py reads
them to check each event's actor).

Revision ID: 0003_trust_events_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_trust_events_index"
down_revision = "0002_device_trust"
branch_labels = None
depends_on = None

TRUST_TYPES = ("device.grants_sealed", "device.initialized", "user.added", "user.key_bound", "user.role_changed")


def upgrade() -> None:
    where = sa.text("type IN (" + ", ".join(f"'{t}'" for t in TRUST_TYPES) + ")")
    op.create_index("events_trust", "events", ["device_id", "device_seq"], postgresql_where=where,
                    sqlite_where=where)


def downgrade() -> None:
    op.drop_index("events_trust", "events")
