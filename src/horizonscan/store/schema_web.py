"""Tables of the web app: curation (stars, hidden, notes, reviewed) and the search index's rows.

Kept apart from `schema.py` so the web work never edits the core tables; migration 0006 creates
them. The FTS5 table (`search_fts`) and the queue of articles to reindex (`search_dirty`) are not
ORM-mapped: `store/search.py` reads and writes them with plain SQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from horizonscan.store.schema import Base, utcnow


class ArticleCurationRow(Base):
    """What a team decided about an article: kept across re-analyses (keyed by article id)."""

    __tablename__ = "curation_articles"

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    starred: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ItemCurationRow(Base):
    """The same for one item of an article's analysis.

    Items are rewritten (new row ids) whenever an analysis is saved again, so an item is known by
    its article and `item_key` ("kind:name", name case-folded): a re-analysis that keeps the
    item's name keeps its star, note and review.
    """

    __tablename__ = "curation_items"
    __table_args__ = (UniqueConstraint("article_id", "item_key", name="uq_curation_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    item_key: Mapped[str] = mapped_column(String(240))
    starred: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SearchDocRow(Base):
    """One analyzed article, flattened for fast listing and filtering (10 000 rows in a few ms).

    `themes`, `dimensions` and `horizons` are "|a|b|" strings (lower case, except horizons) so a
    filter is one `instr`; rebuilt by `SearchIndex.sync` whenever the article or its analysis
    changes.
    """

    __tablename__ = "search_docs"
    __table_args__ = (Index("ix_search_docs_date", "date", "article_id"),)

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    analysis_id: Mapped[int] = mapped_column(Integer)
    date: Mapped[str] = mapped_column(String(10))  # publication date, else first seen (YYYY-MM-DD)
    title: Mapped[str] = mapped_column(String)
    summary: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32), index=True)
    type: Mapped[str] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8), index=True)
    origin: Mapped[str | None] = mapped_column(String, index=True)
    url: Mapped[str | None] = mapped_column(String)
    themes: Mapped[str] = mapped_column(Text, default="|")
    dimensions: Mapped[str] = mapped_column(Text, default="|")
    horizons: Mapped[str] = mapped_column(Text, default="|")
    relevancy: Mapped[int] = mapped_column(Integer, default=0)  # the highest of its items
    items: Mapped[int] = mapped_column(Integer, default=0)
    unverified: Mapped[int] = mapped_column(Integer, default=0)  # items whose evidence was not found
