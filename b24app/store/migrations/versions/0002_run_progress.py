"""Runs off the request: the engine's progress lines, the job's result, and which worker runs it.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("progress", JSON, nullable=True))
        batch.add_column(sa.Column("result", JSON, nullable=True))
        batch.add_column(sa.Column("worker", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("worker")
        batch.drop_column("result")
        batch.drop_column("progress")
