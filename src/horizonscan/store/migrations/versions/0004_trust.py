"""trust: STEEP+V and horizon per item, evidence modes and problems, near-duplicate provenance,
saved parts of long articles, the opt-in audit log (prompt and response on the ledger row), and
article leases so two runs (or workers) never pay for the same article twice.

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
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dimension", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("horizon", sa.String(length=4), nullable=True))
        batch_op.add_column(
            sa.Column("evidence_mode", sa.String(length=16), nullable=False, server_default="quote")
        )
        batch_op.add_column(sa.Column("evidence_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("problems", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reused_from", sa.Integer(), nullable=True))
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prompt", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("response", sa.Text(), nullable=True))
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
    op.create_table(
        "analysis_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("prompt_version", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("part_hash", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("text_hash", "prompt_version", "model", "part_hash", name="uq_analysis_part"),
    )
    with op.batch_alter_table("analysis_parts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analysis_parts_text_hash"), ["text_hash"], unique=False)


def downgrade() -> None:
    op.drop_table("analysis_parts")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.drop_column("response")
        batch_op.drop_column("prompt")
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.drop_column("reused_from")
    with op.batch_alter_table("items", schema=None) as batch_op:
        for col in ("problems", "evidence_note", "evidence_mode", "horizon", "dimension"):
            batch_op.drop_column(col)
