"""The central canonical event store: keys, enrollment, devices, events, quarantine, checkpoints,
conflicts and bundle receipts. Events and quarantine are append-only on both backends.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GSEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.String(40)
APPEND_ONLY = ("events", "quarantine", "checkpoints")


def upgrade() -> None:
    op.create_table(
        "central_keys",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False))
    op.create_table(
        "enroll_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("used_at", TIME),
        sa.Column("device_id", sa.String(64)))
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("credential_hash", sa.String(64)),
        sa.Column("enrolled_at", TIME, nullable=False),
        sa.Column("enrolled_via", sa.String(16), nullable=False),
        sa.Column("head_seq", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("last_push_at", TIME),
        sa.Column("backlog", sa.BigInteger, nullable=False))
    op.create_table(
        "events",
        sa.Column("gseq", GSEQ, primary_key=True, autoincrement=True),
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
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.UniqueConstraint("event_id", name="events_event_id"),
        sa.UniqueConstraint("device_id", "device_seq", name="events_device_seq"))
    op.create_index("events_by_unit", "events", ["site_id", "unit_id", "gseq"])
    op.create_index("events_by_task", "events", ["task_id", "base_version"])
    op.create_table(
        "quarantine",
        sa.Column("id", GSEQ, primary_key=True, autoincrement=True),
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
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.UniqueConstraint("device_id", "device_seq", name="quarantine_device_seq"))
    op.create_table(
        "checkpoints",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("device_seq", sa.BigInteger, primary_key=True),
        sa.Column("signed_at", TIME, primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("received_at", TIME, nullable=False))
    op.create_table(
        "conflicts",
        sa.Column("id", GSEQ, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("base_version", sa.BigInteger, nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(32)),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("other_event_id", sa.String(36), nullable=False),
        sa.Column("other_device_id", sa.String(64), nullable=False),
        sa.Column("detected_at", TIME, nullable=False),
        sa.UniqueConstraint("event_id", "other_event_id", name="conflicts_pair"))
    op.create_table(
        "receipts",
        sa.Column("bundle_id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("imported_at", TIME, nullable=False),
        sa.Column("receipt", sa.Text, nullable=False))
    _append_only()


def _append_only() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION tideover_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '% is append-only: corrections are new events', TG_TABLE_NAME; END $$""")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION tideover_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION tideover_append_only()")
    else:
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: corrections are new events'); END")


def downgrade() -> None:
    raise NotImplementedError("The central's event store is never downgraded; restore a backup instead.")
