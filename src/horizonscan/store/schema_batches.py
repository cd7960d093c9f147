"""Tables of the providers' batch engines (migration 0007_batches), on the same Base as `schema.py`.

A `provider_batches` row is one batch submitted (or being submitted) to OpenAI's Batch API or
Anthropic's Message Batches; each `provider_batch_items` row is one article's request in it. They
are written before anything is sent, so a killed process finds its batches again and resumes
polling them instead of paying for a second submission.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from horizonscan.store.schema import Base, utcnow


class ProviderBatchRow(Base):
    """One provider batch.

    `status` is ours: submitting (written, not yet known to have reached the provider), open (the
    provider is working on it), ended (its results are being ingested), done (every item settled),
    failed (the provider refused the whole batch; its items went to the fallback). `remote_status`
    is the provider's own word (validating, in_progress, finalizing, completed, expired, …).
    """

    __tablename__ = "provider_batches"
    __table_args__ = (
        UniqueConstraint("provider", "remote_id", name="uq_provider_batch_remote"),
        Index("ix_provider_batches_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String)
    prompt_version: Mapped[str] = mapped_column(String)
    mode: Mapped[str] = mapped_column(String(32))  # the structured-output mode the requests use
    # Sent with the batch (OpenAI metadata) so a submission whose answer was lost can be found.
    tag: Mapped[str] = mapped_column(String(40), unique=True)
    remote_id: Mapped[str | None] = mapped_column(String(128))
    input_file_id: Mapped[str | None] = mapped_column(String(128))
    output_file_id: Mapped[str | None] = mapped_column(String(128))
    error_file_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="submitting")
    remote_status: Mapped[str | None] = mapped_column(String(32))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the provider's request counts
    requests: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    checked_at: Mapped[datetime | None] = mapped_column()
    # Who is polling or ingesting it now (a CLI run or a worker), so two never ingest at once.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()


class ProviderBatchItemRow(Base):
    """One article's request in a provider batch, and what became of it.

    `status`: queued (waiting for the provider), done (its answer is the article's analysis),
    retry (the answer was missing or unusable: errored, expired, cancelled, invalid; an ordinary
    call redoes it), redone (the ordinary call did), failed (reported, with `error`), stale (the
    article changed, or was analyzed by another run, before the answer came: not used).
    """

    __tablename__ = "provider_batch_items"
    __table_args__ = (
        UniqueConstraint("batch_id", "custom_id", name="uq_provider_batch_item"),
        Index("ix_provider_batch_items_status", "batch_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("provider_batches.id", ondelete="CASCADE"))
    custom_id: Mapped[str] = mapped_column(String(64))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"), index=True)
    text_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    outcome: Mapped[str | None] = mapped_column(String(16))  # succeeded, errored, expired, cancelled
    error: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
