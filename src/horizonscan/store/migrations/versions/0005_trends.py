"""trends: trends with their centroids and summaries, trend members (one row per item, removed
with the item), item embeddings (one per item text), and cached LLM reports about trends.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trends",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("name_item_id", sa.Integer(), nullable=True),
        sa.Column("embedder", sa.String(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector_sum", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=True),
        sa.Column("horizon", sa.String(length=4), nullable=True),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("sources", sa.Integer(), nullable=False),
        sa.Column("popularity", sa.Float(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=True),
        sa.Column("last_seen", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("trends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trends_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_trends_dimension"), ["dimension"], unique=False)
    op.create_table(
        "trend_members",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("trend_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["trend_id"], ["trends.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("trend_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trend_members_trend_id"), ["trend_id"], unique=False)
    op.create_table(
        "item_vectors",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("embedder", sa.String(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "trend_reports",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("prompt_version", sa.String(), nullable=True),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )


def downgrade() -> None:
    op.drop_table("trend_reports")
    op.drop_table("item_vectors")
    with op.batch_alter_table("trend_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trend_members_trend_id"))
    op.drop_table("trend_members")
    with op.batch_alter_table("trends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trends_dimension"))
        batch_op.drop_index(batch_op.f("ix_trends_status"))
    op.drop_table("trends")
