"""Device clocks: the offset of each device's clock from the central's, measured at each push.

Revision ID: 0004_device_clock
Revises: 0003_trust_events_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_device_clock"
down_revision = "0003_trust_events_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("clock_offset_s", sa.Float))
        batch.add_column(sa.Column("clock_read_at", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("clock_read_at")
        batch.drop_column("clock_offset_s")
