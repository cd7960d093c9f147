"""similarity and stories

On PostgreSQL with the pgvector extension available, article embeddings are also kept in
`article_embeddings` (a `vector` column; HNSW indexes per dimension are made as vectors arrive,
see store/dialect.py), where nearest-neighbour search runs.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "neardup_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "text_hash", name="uq_neardup"),
    )
    with op.batch_alter_table("neardup_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_neardup_keys_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_neardup_keys_text_hash"), ["text_hash"], unique=False)

    op.create_table(
        "signatures",
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("embedder", sa.String(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("chunk_vectors", sa.LargeBinary(), nullable=False),
        sa.Column("title_vector", sa.LargeBinary(), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=True),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("text_hash"),
    )
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("members_hash", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("prompt_version", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "story_members",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_id"),
    )
    with op.batch_alter_table("story_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_story_members_story_id"), ["story_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql" and _pgvector():
        op.execute(
            "CREATE TABLE article_embeddings (text_hash VARCHAR(64) PRIMARY KEY "
            "REFERENCES signatures (text_hash) ON DELETE CASCADE, dim INTEGER NOT NULL, "
            "embedding vector NOT NULL)"
        )


def _pgvector() -> bool:
    """Whether the `vector` extension is (or can be) installed in this database."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first():
        return True
    if not bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).first():
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError:
        return False  # not allowed for this role: embeddings stay in the signatures' blobs
    return True


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS article_embeddings")
    with op.batch_alter_table("story_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_members_story_id"))

    op.drop_table("story_members")
    op.drop_table("stories")
    op.drop_table("signatures")
    with op.batch_alter_table("neardup_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_neardup_keys_text_hash"))
        batch_op.drop_index(batch_op.f("ix_neardup_keys_key"))

    op.drop_table("neardup_keys")
    op.drop_table("meta")
