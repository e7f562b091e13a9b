"""Members in the loop: the opportunities members suggest and their requests to join an experiment.

Revision ID: 0005_member_requests
Revises: 0004_experiment_evidence
Create Date: 2026-11-26 02:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005_member_requests"
down_revision: str | Sequence[str] | None = "0004_experiment_evidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "cc_member_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("by_email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["cc_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cc_member_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cc_member_requests_community_id"), ["community_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("cc_member_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cc_member_requests_community_id"))
    op.drop_table("cc_member_requests")
