"""shared limits: budgets, rate buckets and named locks that every worker of a pool shares
(store/schema_limits.py), so `--max-cost` and `--rpm` hold across processes and machines.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "limit_accounts",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("spent_cost", sa.Float(), nullable=False),
        sa.Column("spent_tokens", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "limit_reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_limit_reservations_account", "limit_reservations", ["account", "expires_at"])
    op.create_index("ix_limit_reservations_owner", "limit_reservations", ["owner"])
    op.create_table(
        "rate_buckets",
        sa.Column("name", sa.String(length=96), nullable=False),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("stamp", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "named_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("named_leases")
    op.drop_table("rate_buckets")
    op.drop_index("ix_limit_reservations_owner", table_name="limit_reservations")
    op.drop_index("ix_limit_reservations_account", table_name="limit_reservations")
    op.drop_table("limit_reservations")
    op.drop_table("limit_accounts")
