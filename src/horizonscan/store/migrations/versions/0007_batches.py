"""batches: the providers' batch engines (OpenAI Batch API, Anthropic Message Batches). One row per
submitted batch, with its remote id, and one per article request in it, so a restart resumes
polling instead of submitting again (store/schema_batches.py).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("prompt_version", sa.String(), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("remote_id", sa.String(length=128), nullable=True),
        sa.Column("input_file_id", sa.String(length=128), nullable=True),
        sa.Column("output_file_id", sa.String(length=128), nullable=True),
        sa.Column("error_file_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("remote_status", sa.String(length=32), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "remote_id", name="uq_provider_batch_remote"),
        sa.UniqueConstraint("tag"),
    )
    op.create_index("ix_provider_batches_status", "provider_batches", ["status"])
    op.create_table(
        "provider_batch_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("custom_id", sa.String(length=64), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Float(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["provider_batches.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id", "custom_id", name="uq_provider_batch_item"),
    )
    op.create_index("ix_provider_batch_items_status", "provider_batch_items", ["batch_id", "status"])
    op.create_index("ix_provider_batch_items_article_id", "provider_batch_items", ["article_id"])
    op.create_index("ix_provider_batch_items_text_hash", "provider_batch_items", ["text_hash"])


def downgrade() -> None:
    op.drop_index("ix_provider_batch_items_text_hash", table_name="provider_batch_items")
    op.drop_index("ix_provider_batch_items_article_id", table_name="provider_batch_items")
    op.drop_index("ix_provider_batch_items_status", table_name="provider_batch_items")
    op.drop_table("provider_batch_items")
    op.drop_index("ix_provider_batches_status", table_name="provider_batches")
    op.drop_table("provider_batches")
