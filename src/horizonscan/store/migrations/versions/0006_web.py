"""web: curation (stars, hidden, notes, reviewed on articles and items) and the full-text index.

The index is an FTS5 table over each analyzed article's English title, summary, keywords, themes
and items, plus `search_docs`, the same articles flattened for filters. Triggers put every
article whose analysis or metadata changes into `search_dirty`; `SearchIndex.sync` (run by the
web app and the static site before they read) rebuilds just those rows. Every existing article
starts in the queue, so the first sync indexes the corpus.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Kept identical to store/search.py's TRIGGERS (which re-creates them if a later table rebuild
# drops them).
TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS search_dirty_analysis_insert AFTER INSERT ON analyses BEGIN
        INSERT INTO search_dirty (article_id) SELECT id FROM articles
        WHERE text_hash = NEW.text_hash AND id NOT IN (SELECT article_id FROM search_dirty); END""",
    """CREATE TRIGGER IF NOT EXISTS search_dirty_analysis_delete AFTER DELETE ON analyses BEGIN
        INSERT INTO search_dirty (article_id) SELECT id FROM articles
        WHERE text_hash = OLD.text_hash AND id NOT IN (SELECT article_id FROM search_dirty); END""",
    """CREATE TRIGGER IF NOT EXISTS search_dirty_item_update AFTER UPDATE ON items BEGIN
        INSERT INTO search_dirty (article_id)
        SELECT ar.id FROM articles ar JOIN analyses an ON an.text_hash = ar.text_hash
        WHERE an.id = NEW.analysis_id AND ar.id NOT IN (SELECT article_id FROM search_dirty); END""",
    """CREATE TRIGGER IF NOT EXISTS search_dirty_article_update
        AFTER UPDATE OF status, text_hash, title, url, published, language, origin_label
        ON articles BEGIN
        INSERT INTO search_dirty (article_id) SELECT NEW.id
        WHERE NOT EXISTS (SELECT 1 FROM search_dirty WHERE article_id = NEW.id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_dirty_article_delete AFTER DELETE ON articles BEGIN
        INSERT INTO search_dirty (article_id) SELECT OLD.id
        WHERE NOT EXISTS (SELECT 1 FROM search_dirty WHERE article_id = OLD.id); END""",
)


def upgrade() -> None:
    op.create_table(
        "curation_articles",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("starred", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_id"),
    )
    op.create_index("ix_curation_articles_starred", "curation_articles", ["starred"])
    op.create_index("ix_curation_articles_hidden", "curation_articles", ["hidden"])
    op.create_table(
        "curation_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=240), nullable=False),
        sa.Column("starred", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reviewed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("article_id", "item_key", name="uq_curation_item"),
    )
    op.create_index("ix_curation_items_article_id", "curation_items", ["article_id"])
    op.create_table(
        "search_docs",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("origin", sa.String(), nullable=True),
        sa.Column("url", sa.String(), nullable=True),
        sa.Column("themes", sa.Text(), nullable=False, server_default="|"),
        sa.Column("dimensions", sa.Text(), nullable=False, server_default="|"),
        sa.Column("horizons", sa.Text(), nullable=False, server_default="|"),
        sa.Column("relevancy", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("items", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("unverified", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("article_id"),
    )
    op.create_index("ix_search_docs_date", "search_docs", ["date", "article_id"])
    op.create_index("ix_search_docs_category", "search_docs", ["category"])
    op.create_index("ix_search_docs_language", "search_docs", ["language"])
    op.create_index("ix_search_docs_origin", "search_docs", ["origin"])
    op.execute("CREATE TABLE search_dirty (article_id INTEGER PRIMARY KEY)")
    op.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5("
        "title, summary, keywords, themes, items, tokenize = 'unicode61 remove_diacritics 2')"
    )
    for ddl in TRIGGERS:
        op.execute(ddl)
    op.execute("INSERT OR IGNORE INTO search_dirty (article_id) SELECT id FROM articles")


def downgrade() -> None:
    for name in (
        "search_dirty_analysis_insert",
        "search_dirty_analysis_delete",
        "search_dirty_item_update",
        "search_dirty_article_update",
        "search_dirty_article_delete",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS search_fts")
    op.execute("DROP TABLE IF EXISTS search_dirty")
    op.drop_table("search_docs")
    op.drop_table("curation_items")
    op.drop_table("curation_articles")
