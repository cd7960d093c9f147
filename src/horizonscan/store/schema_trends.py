"""Tables of the trends stage (migration 0005_trends). Kept beside `schema.py`, on the same Base."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from horizonscan.store.schema import Base, utcnow


class TrendRow(Base):
    """A trend: its centroid (sum of member vectors), name, and a summary refreshed on update."""

    __tablename__ = "trends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String)
    name_item_id: Mapped[int | None] = mapped_column(Integer)  # the item whose name it carries
    embedder: Mapped[str] = mapped_column(String)
    dim: Mapped[int] = mapped_column(Integer)
    vector_sum: Mapped[bytes] = mapped_column(LargeBinary)  # float32 sum of member vectors
    size: Mapped[int] = mapped_column(Integer, default=0)  # member items
    # Summary as of the last update, for listing and filtering without recomputing.
    status: Mapped[str] = mapped_column(String(16), default="noise", index=True)
    dimension: Mapped[str | None] = mapped_column(String(16), index=True)
    horizon: Mapped[str | None] = mapped_column(String(4))
    documents: Mapped[int] = mapped_column(Integer, default=0)
    sources: Mapped[int] = mapped_column(Integer, default=0)
    popularity: Mapped[float] = mapped_column(Float, default=0.0)
    first_seen: Mapped[datetime | None] = mapped_column()
    last_seen: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TrendMemberRow(Base):
    """Which trend an item belongs to; removed with the item (a re-analysis replaces items)."""

    __tablename__ = "trend_members"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    trend_id: Mapped[int] = mapped_column(ForeignKey("trends.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class ItemVectorRow(Base):
    """The embedding of one item text ("name: description"), computed once per text and embedder:
    the copied items of reused analyses share it."""

    __tablename__ = "item_vectors"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)  # sha256(embedder, text)
    embedder: Mapped[str] = mapped_column(String)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float16


class TrendReportRow(Base):
    """An LLM answer about trends (interpretation, review, exploration), valid for one input."""

    __tablename__ = "trend_reports"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String, primary_key=True)
    input_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String)
    prompt_version: Mapped[str | None] = mapped_column(String)
    output: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
