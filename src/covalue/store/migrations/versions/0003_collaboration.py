"""The Collaboration canvas: canvas entries, experiments and participants, value stories, revisions.

Revision ID: 0003_collaboration
Revises: 0002_shared_value
Create Date: 2026-11-23 14:43:51.048011

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003_collaboration"
down_revision: str | Sequence[str] | None = "0002_shared_value"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "cc_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cc_entries", schema=None) as batch_op:
        batch_op.create_index("ix_cc_entries_community_period", ["community_id", "period"], unique=False)

    op.create_table(
        "cc_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=True),
        sa.Column("by_email", sa.String(length=320), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cc_revisions", schema=None) as batch_op:
        batch_op.create_index("ix_cc_revisions_object", ["kind", "object_id", "version"], unique=False)

    op.create_table(
        "cc_experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("hypothesis", sa.Text(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("lesson", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["cc_entries.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cc_experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cc_experiments_community_id"), ["community_id"], unique=False)

    op.create_table(
        "cc_participants",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=320), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["cc_experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("experiment_id", "member_id"),
    )
    op.create_table(
        "cc_stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("immediate", sa.Text(), nullable=False),
        sa.Column("potential", sa.Text(), nullable=False),
        sa.Column("applied", sa.Text(), nullable=False),
        sa.Column("realized", sa.Text(), nullable=False),
        sa.Column("reframing", sa.Text(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("goal_link", sa.String(length=32), nullable=False),
        sa.Column("items", sa.JSON(), nullable=True),
        sa.Column("members", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["cc_experiments.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cc_stories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cc_stories_community_id"), ["community_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("cc_stories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cc_stories_community_id"))

    op.drop_table("cc_stories")
    op.drop_table("cc_participants")
    with op.batch_alter_table("cc_experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cc_experiments_community_id"))

    op.drop_table("cc_experiments")
    with op.batch_alter_table("cc_revisions", schema=None) as batch_op:
        batch_op.drop_index("ix_cc_revisions_object")

    op.drop_table("cc_revisions")
    with op.batch_alter_table("cc_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_cc_entries_community_period")

    op.drop_table("cc_entries")
