"""Tables. Change them only together with a new migration in `migrations/versions/`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class ArticleRow(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String, unique=True)  # path or URL as given
    url: Mapped[str | None] = mapped_column(String, index=True)
    origin_label: Mapped[str | None] = mapped_column(String)
    origin_url: Mapped[str | None] = mapped_column(String)
    title: Mapped[str | None] = mapped_column(String)
    author: Mapped[str | None] = mapped_column(String)
    published: Mapped[str | None] = mapped_column(String)
    language: Mapped[str | None] = mapped_column(String(8))
    content_type: Mapped[str | None] = mapped_column(String(16))
    text_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    raw_hash: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # A run (or worker) that is analyzing the article holds it until `lease_until`.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()


class AnalysisRow(Base):
    __tablename__ = "analyses"
    __table_args__ = (UniqueConstraint("text_hash", "prompt_version", "model", name="uq_analysis_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String)
    prompt_version: Mapped[str] = mapped_column(String)
    schema_version: Mapped[str] = mapped_column(String)
    title: Mapped[str] = mapped_column(String)
    summary: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    themes: Mapped[list[str]] = mapped_column(JSON)
    category: Mapped[str] = mapped_column(String(32), index=True)
    type: Mapped[str] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    chunks: Mapped[int] = mapped_column(Integer, default=1)
    reused_from: Mapped[int | None] = mapped_column(Integer)  # article whose analysis was copied
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    items: Mapped[list[ItemRow]] = relationship(
        back_populates="analysis", cascade="all, delete-orphan", order_by="ItemRow.position"
    )


class ItemRow(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text)
    change: Mapped[str | None] = mapped_column(Text)
    ten_year: Mapped[str | None] = mapped_column(Text)
    driving_force: Mapped[str | None] = mapped_column(Text)
    relevancy: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[str] = mapped_column(Text, default="")
    evidence_found: Mapped[bool] = mapped_column(Boolean, default=False)
    evidence_score: Mapped[float] = mapped_column(Float, default=0.0)
    dimension: Mapped[str | None] = mapped_column(String(16))  # STEEP+V
    horizon: Mapped[str | None] = mapped_column(String(4))  # H1, H2, H3 (signals)
    evidence_mode: Mapped[str] = mapped_column(String(16), default="quote")  # quote | picked
    evidence_note: Mapped[str | None] = mapped_column(Text)  # why the evidence was not found
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)  # kept, but marked
    analysis: Mapped[AnalysisRow] = relationship(back_populates="items")


class CallRow(Base):
    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_model", "provider", "model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[str | None] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String)
    purpose: Mapped[str] = mapped_column(String(32))
    text_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    request_chars: Mapped[int] = mapped_column(Integer, default=0)
    # The opt-in audit log (`audit = true`): the request as sent and the raw answer, keys scrubbed.
    prompt: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)


class SourceRow(Base):
    """A recurring source (newsletter, archive, feed, sitemap, OPML, URL list, folder)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    spec: Mapped[str] = mapped_column(String, unique=True)  # URL or path as added
    kind: Mapped[str | None] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String)
    etag: Mapped[str | None] = mapped_column(String)
    last_modified: Mapped[str | None] = mapped_column(String)
    last_checked: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    links_seen: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignatureRow(Base):
    """What the pair scorer needs about one text, computed once per text hash."""

    __tablename__ = "signatures"

    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    embedder: Mapped[str] = mapped_column(String)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    chunk_vectors: Mapped[bytes] = mapped_column(LargeBinary)
    title_vector: Mapped[bytes] = mapped_column(LargeBinary)
    entities: Mapped[list[str]] = mapped_column(JSON)
    numbers: Mapped[list[str]] = mapped_column(JSON)
    urls: Mapped[list[str]] = mapped_column(JSON)
    lang: Mapped[str | None] = mapped_column(String(8))
    length: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NearDupKeyRow(Base):
    """MinHash LSH band keys: texts sharing a key are near-duplicate candidates."""

    __tablename__ = "neardup_keys"
    __table_args__ = (UniqueConstraint("key", "text_hash", name="uq_neardup"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), index=True)
    text_hash: Mapped[str] = mapped_column(String(64), index=True)


class StoryMemberRow(Base):
    __tablename__ = "story_members"

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    story_id: Mapped[int] = mapped_column(Integer, index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryRow(Base):
    """A story's optional synthesized view (`stories --synthesize`), valid for one member set."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(primary_key=True)  # the id of the story's first article
    members_hash: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String)
    summary: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String)
    prompt_version: Mapped[str | None] = mapped_column(String)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AnalysisPartRow(Base):
    """The answer for one part of a long article, saved as it arrives: a failed or killed
    merge never pays for its parts again."""

    __tablename__ = "analysis_parts"
    __table_args__ = (
        UniqueConstraint("text_hash", "prompt_version", "model", "part_hash", name="uq_analysis_part"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), index=True)
    prompt_version: Mapped[str] = mapped_column(String)
    model: Mapped[str] = mapped_column(String)
    part_hash: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    output: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetaRow(Base):
    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
