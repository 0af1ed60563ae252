"""Device trust: revoking a device, tokens made for one device, and an append-only record of every
enrollment, re-enrollment, revoke and bundle registration. The central's private keys leave the
database at the next start (see sync/central/keys.py); the column stays, emptied.

Revision ID: 0002_device_trust
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_device_trust"
down_revision = "0001"
branch_labels = None
depends_on = None

GSEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.String(40)


def upgrade() -> None:
    op.add_column("devices", sa.Column("revoked_at", TIME))
    op.add_column("devices", sa.Column("revoked_reason", sa.Text))
    op.add_column("enroll_tokens", sa.Column("for_device", sa.String(64)))
    op.create_table(
        "device_audit",
        sa.Column("id", GSEQ, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False))
    op.create_index("device_audit_by_device", "device_audit", ["device_id", "id"])
    if op.get_bind().dialect.name == "postgresql":  # tideover_append_only() comes with 0001
        op.execute("CREATE TRIGGER device_audit_append_only BEFORE UPDATE OR DELETE ON device_audit "
                   "FOR EACH ROW EXECUTE FUNCTION tideover_append_only()")
        op.execute("CREATE TRIGGER device_audit_no_truncate BEFORE TRUNCATE ON device_audit "
                   "FOR EACH STATEMENT EXECUTE FUNCTION tideover_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER device_audit_no_{action.lower()} BEFORE {action} ON device_audit "
                       f"BEGIN SELECT RAISE(ABORT, 'device_audit is append-only'); END")


def downgrade() -> None:
    raise NotImplementedError("The central's event store is never downgraded; restore a backup instead.")
