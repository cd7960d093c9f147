"""web: curation (stars, hidden, notes, reviewed on articles and items) and the full-text index.

The index is an FTS5 table over each analyzed article's English title, summary, keywords, themes
and items, plus `search_docs`, the same articles flattened for filters. Triggers put every
article whose analysis or metadata changes into `search_dirty`; `SearchIndex.sync` (run by the
web app and the static site before they read) rebuilds just those rows. Every existing article
starts in the queue, so the first sync indexes the corpus.

On PostgreSQL the same queue is filled by PL/pgSQL triggers, and `search_fts` is a table with a
`tsvector` column under a GIN index (written by `SearchIndex.sync`, which folds case and
diacritics as FTS5 does).

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


# PostgreSQL: one trigger function per queueing rule (ON CONFLICT makes each insert idempotent).
PG_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION search_dirty_analysis() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO search_dirty (article_id) SELECT id FROM articles
        WHERE text_hash = (CASE WHEN TG_OP = 'DELETE' THEN OLD.text_hash ELSE NEW.text_hash END)
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER search_dirty_analysis AFTER INSERT OR DELETE ON analyses
        FOR EACH ROW EXECUTE FUNCTION search_dirty_analysis()""",
    """CREATE OR REPLACE FUNCTION search_dirty_item() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO search_dirty (article_id)
        SELECT ar.id FROM articles ar JOIN analyses an ON an.text_hash = ar.text_hash
        WHERE an.id = NEW.analysis_id ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER search_dirty_item_update AFTER UPDATE ON items
        FOR EACH ROW EXECUTE FUNCTION search_dirty_item()""",
    """CREATE OR REPLACE FUNCTION search_dirty_article() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO search_dirty (article_id)
        VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END) ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER search_dirty_article_update
        AFTER UPDATE OF status, text_hash, title, url, published, language, origin_label ON articles
        FOR EACH ROW EXECUTE FUNCTION search_dirty_article()""",
    """CREATE TRIGGER search_dirty_article_delete AFTER DELETE ON articles
        FOR EACH ROW EXECUTE FUNCTION search_dirty_article()""",
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE search_fts (article_id INTEGER PRIMARY KEY, title TEXT NOT NULL, "
            "summary TEXT NOT NULL, keywords TEXT NOT NULL, themes TEXT NOT NULL, items TEXT NOT NULL, "
            "tsv tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX ix_search_fts_tsv ON search_fts USING gin (tsv)")
        for ddl in PG_TRIGGERS:
            op.execute(ddl)
        op.execute("INSERT INTO search_dirty (article_id) SELECT id FROM articles ON CONFLICT DO NOTHING")
        return
    op.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5("
        "title, summary, keywords, themes, items, tokenize = 'unicode61 remove_diacritics 2')"
    )
    for ddl in TRIGGERS:
        op.execute(ddl)
    op.execute("INSERT OR IGNORE INTO search_dirty (article_id) SELECT id FROM articles")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name in (
            ("analyses", "search_dirty_analysis"),
            ("items", "search_dirty_item_update"),
            ("articles", "search_dirty_article_update"),
            ("articles", "search_dirty_article_delete"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for fn in ("search_dirty_analysis", "search_dirty_item", "search_dirty_article"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
    else:
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
