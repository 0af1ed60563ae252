"""Events workstations cannot take: their reports of what they set aside, and the events IT
withholds from pulls (each an append-only, audited record; the events themselves stay).

Revision ID: 0005_set_aside
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_set_aside"
down_revision = "0004_device_clock"
branch_labels = None
depends_on = None

GSEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "set_aside_reports",
        sa.Column("id", GSEQ, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("reported_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("reported_at", TIME, nullable=False),
        sa.UniqueConstraint("event_id", "reported_by", name="set_aside_reports_once"))
    op.create_table(
        "withheld",
        sa.Column("id", GSEQ, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("withheld_by", sa.String(64), nullable=False),
        sa.Column("withheld_at", TIME, nullable=False),
        sa.UniqueConstraint("event_id", name="withheld_event_id"))
    for table in ("set_aside_reports", "withheld"):
        if op.get_bind().dialect.name == "postgresql":  # tideover_append_only() comes with 0001
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION tideover_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION tideover_append_only()")
        else:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def downgrade() -> None:
    raise NotImplementedError("The central's event store is never downgraded; restore a backup instead.")
