"""Rollbacks: a run of kind "rollback" names the run whose state before it restored.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("rollback_of", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_runs_rollback_of_runs", "runs", ["rollback_of"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("fk_runs_rollback_of_runs", type_="foreignkey")
        batch.drop_column("rollback_of")
