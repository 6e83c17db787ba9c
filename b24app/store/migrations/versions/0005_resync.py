"""Resync on triggers: resync requests, template hashes, webhook deliveries, clocks; who to notify.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("portals") as batch:
        batch.add_column(sa.Column("admin_user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("drift_checksum", sa.String(length=128), nullable=True))
    op.create_table(
        "resyncs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "portal_id",
            sa.Integer(),
            sa.ForeignKey("portals.id", ondelete="CASCADE", name="fk_resyncs_portal_id_portals"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("requested_at", TIME, nullable=False),
        sa.Column("not_before", TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_resyncs"),
        sa.UniqueConstraint("portal_id", "state", name="uq_resyncs_portal_id"),
    )
    op.create_index("ix_resyncs_portal_id", "resyncs", ["portal_id"])
    op.create_table(
        "template_hashes",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_template_hashes"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_webhook_deliveries"),
    )
    op.create_index("ix_webhook_deliveries_received_at", "webhook_deliveries", ["received_at"])
    op.create_table(
        "clocks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_clocks"),
    )


def downgrade() -> None:
    op.drop_table("clocks")
    op.drop_index("ix_webhook_deliveries_received_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("template_hashes")
    op.drop_index("ix_resyncs_portal_id", table_name="resyncs")
    op.drop_table("resyncs")
    with op.batch_alter_table("portals") as batch:
        batch.drop_column("drift_checksum")
        batch.drop_column("admin_user_id")
