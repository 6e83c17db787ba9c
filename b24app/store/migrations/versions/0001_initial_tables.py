"""The initial tables: registrations, portals, tokens, runs, events, locks.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "locks",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_locks")),
    )
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("client_id", name=op.f("uq_registrations_client_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_registrations_slug")),
    )
    op.create_table(
        "portals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("client_endpoint", sa.String(length=512), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("template", sa.String(length=255), nullable=True),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("application_token_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_portals_registration_id_registrations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portals")),
        sa.UniqueConstraint("member_id", name=op.f("uq_portals_member_id")),
    )
    op.create_index(op.f("ix_portals_domain"), "portals", ["domain"], unique=False)
    op.create_index(op.f("ix_portals_registration_id"), "portals", ["registration_id"], unique=False)
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portal_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["portal_id"], ["portals.id"], name=op.f("fk_events_portal_id_portals"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_portal_id"), "events", ["portal_id"], unique=False)
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portal_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_name", sa.String(length=255), nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("template_name", sa.String(length=255), nullable=True),
        sa.Column("template_hash", sa.String(length=64), nullable=True),
        sa.Column("plan", JSON, nullable=True),
        sa.Column("checksum", sa.String(length=128), nullable=True),
        sa.Column("summary", JSON, nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("requests_used", sa.Integer(), nullable=True),
        sa.Column("state_before", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["portal_id"], ["portals.id"], name=op.f("fk_runs_portal_id_portals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_portal_id"), "runs", ["portal_id"], unique=False)
    op.create_table(
        "tokens",
        sa.Column("portal_id", sa.Integer(), nullable=False),
        sa.Column("access_token_encrypted", sa.Text(), nullable=True),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=True),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["portal_id"], ["portals.id"], name=op.f("fk_tokens_portal_id_portals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("portal_id", name=op.f("pk_tokens")),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    op.drop_index(op.f("ix_runs_portal_id"), table_name="runs")
    op.drop_table("runs")
    op.drop_index(op.f("ix_events_portal_id"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_portals_registration_id"), table_name="portals")
    op.drop_index(op.f("ix_portals_domain"), table_name="portals")
    op.drop_table("portals")
    op.drop_table("registrations")
    op.drop_table("locks")
