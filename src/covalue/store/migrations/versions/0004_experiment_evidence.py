"""Experiments as evidence: the space an experiment runs in, and the items linked to it.

Revision ID: 0004_experiment_evidence
Revises: 0003_collaboration
Create Date: 2026-11-25 22:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004_experiment_evidence"
down_revision: str | Sequence[str] | None = "0003_collaboration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("cc_experiments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("space_id", sa.String(length=300), nullable=True))

    op.create_table(
        "cc_experiment_items",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=300), nullable=False),
        sa.Column("added_by", sa.String(length=320), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["cc_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("experiment_id", "item_id"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("cc_experiment_items")
    with op.batch_alter_table("cc_experiments", schema=None) as batch_op:
        batch_op.drop_column("space_id")
