"""Reads and writes of the providers' batch engines: batches, their items, and the articles
they hold.

A repository apart from `Store` (it shares the Store's engine), so the batch work never grows the
core class. Every write commits on its own, and every state change is a conditional `UPDATE …
WHERE status = …`, so ingesting the same results twice (or from two processes) changes nothing
the second time; a worker can call the same methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from horizonscan.store.base import HasEngine
from horizonscan.store.schema import ArticleRow, CallRow, utcnow
from horizonscan.store.schema_batches import ProviderBatchItemRow, ProviderBatchRow

# Ours, not the provider's (see ProviderBatchRow): the batches still to poll or ingest.
OPEN_STATUSES = ("submitting", "open", "ended")
# An article whose request waits in a provider batch: ordinary runs and workers leave it alone.
BATCHED = "batched"


@dataclass
class NewItem:
    """One article's request, as it is recorded before the batch is sent."""

    custom_id: str
    article_id: int
    text_hash: str


@dataclass
class BatchSummary:
    """A batch as `horizonscan batches` lists it."""

    id: int
    provider: str
    model: str
    remote_id: str | None
    status: str
    remote_status: str | None
    requests: int
    items: dict[str, int] = field(default_factory=dict)  # our item status → count
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    created_at: datetime | None = None
    submitted_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.model}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "llm": self.spec,
            "remote_id": self.remote_id,
            "status": self.status,
            "remote_status": self.remote_status,
            "requests": self.requests,
            "items": dict(self.items),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "error": self.error,
        }


class BatchRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def of(cls, store: HasEngine) -> BatchRepo:
        return cls(store.engine)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    # ----- batches ----------------------------------------------------------------------------
    def create(
        self,
        *,
        provider: str,
        model: str,
        prompt_version: str,
        mode: str,
        tag: str,
        items: Sequence[NewItem],
        same_text: Iterable[int] = (),
    ) -> int:
        """Record a batch and its items, and mark their articles `batched`, before anything is
        sent: a process killed during the submission finds the batch again (by its tag).

        `same_text` are other articles whose text is one of the items' (they get its analysis).
        """
        now = utcnow()
        article_ids = [i.article_id for i in items] + list(same_text)
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(ProviderBatchRow).values(
                    provider=provider, model=model, prompt_version=prompt_version, mode=mode, tag=tag,
                    status="submitting", counts={}, requests=len(items), created_at=now,
                )
            )  # fmt: skip
            key = result.inserted_primary_key
            assert key is not None
            batch_id = int(key[0])
            conn.execute(
                insert(ProviderBatchItemRow),
                [
                    {
                        "batch_id": batch_id, "custom_id": i.custom_id, "article_id": i.article_id,
                        "text_hash": i.text_hash, "status": "queued", "input_tokens": 0,
                        "output_tokens": 0, "cost_usd": 0.0, "updated_at": now,
                    }
                    for i in items
                ],
            )  # fmt: skip
            for start in range(0, len(article_ids), 500):
                conn.execute(
                    update(ArticleRow)
                    .where(ArticleRow.id.in_(article_ids[start : start + 500]))
                    .values(status=BATCHED, error=None, updated_at=now)
                )
        return batch_id

    def submitted(self, batch_id: int, remote_id: str, *, input_file_id: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(ProviderBatchRow)
                .where(ProviderBatchRow.id == batch_id, ProviderBatchRow.status == "submitting")
                .values(
                    remote_id=remote_id,
                    input_file_id=input_file_id,
                    status="open",
                    submitted_at=utcnow(),
                    error=None,
                )
            )

    def abandon(self, batch_id: int, reason: str) -> None:
        """A submission that never reached the provider: the batch is closed and its articles are
        pending again (`new`), so the next `analyze --batch` (or an ordinary run) takes them."""
        now = utcnow()
        with self.engine.begin() as conn:
            hashes = select(ProviderBatchItemRow.text_hash).where(ProviderBatchItemRow.batch_id == batch_id)
            conn.execute(
                update(ArticleRow)
                .where(ArticleRow.text_hash.in_(hashes), ArticleRow.status == BATCHED)
                .values(status="new", error=None, updated_at=now)
            )
            conn.execute(
                update(ProviderBatchItemRow)
                .where(ProviderBatchItemRow.batch_id == batch_id)
                .values(status="failed", error=reason, updated_at=now)
            )
            conn.execute(
                update(ProviderBatchRow)
                .where(ProviderBatchRow.id == batch_id)
                .values(status="failed", error=reason, lease_owner=None, lease_until=None)
            )

    def update_remote(
        self,
        batch_id: int,
        *,
        remote_status: str,
        counts: dict[str, int],
        ended: bool,
        output_file_id: str | None = None,
        error_file_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """What the provider said when polled; an ended batch moves to `ended` (to be ingested)."""
        now = utcnow()
        values: dict[str, Any] = {"remote_status": remote_status, "counts": counts, "checked_at": now}
        if output_file_id:
            values["output_file_id"] = output_file_id
        if error_file_id:
            values["error_file_id"] = error_file_id
        if error:
            values["error"] = error
        with self.engine.begin() as conn:
            conn.execute(update(ProviderBatchRow).where(ProviderBatchRow.id == batch_id).values(**values))
            if ended:
                conn.execute(
                    update(ProviderBatchRow)
                    .where(ProviderBatchRow.id == batch_id, ProviderBatchRow.status == "open")
                    .values(status="ended", ended_at=now)
                )

    def close(self, batch_id: int, status: str = "done", error: str | None = None) -> None:
        values: dict[str, Any] = {"status": status}
        if error is not None:
            values["error"] = error
        with self.engine.begin() as conn:
            conn.execute(update(ProviderBatchRow).where(ProviderBatchRow.id == batch_id).values(**values))

    def get(self, batch_id: int) -> ProviderBatchRow | None:
        with self._session() as s:
            return s.get(ProviderBatchRow, batch_id)

    def open_batches(self, spec: str | None = None) -> list[ProviderBatchRow]:
        """Batches still to poll or ingest, oldest first (all providers, or one `provider:model`)."""
        q = select(ProviderBatchRow).where(ProviderBatchRow.status.in_(OPEN_STATUSES))
        if spec is not None:
            provider, _, model = spec.partition(":")
            q = q.where(ProviderBatchRow.provider == provider, ProviderBatchRow.model == model)
        with self._session() as s:
            return list(s.scalars(q.order_by(ProviderBatchRow.id)))

    def known_remote_ids(self, provider: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ProviderBatchRow.remote_id).where(
                    ProviderBatchRow.provider == provider, ProviderBatchRow.remote_id.is_not(None)
                )
            )
            return {str(r[0]) for r in rows}

    def summaries(self, *, limit: int | None = None, open_only: bool = False) -> list[BatchSummary]:
        """Batches with their items counted by status and their cost, newest first."""
        b, i = ProviderBatchRow, ProviderBatchItemRow
        q = select(b).order_by(b.id.desc())
        if open_only:
            q = q.where(b.status.in_(OPEN_STATUSES))
        if limit is not None:
            q = q.limit(limit)
        with self._session() as s:
            rows = list(s.scalars(q))
            ids = [r.id for r in rows]
            counts: dict[int, dict[str, int]] = {}
            money: dict[int, tuple[float, int, int]] = {}
            if ids:
                for bid, status, n in s.execute(
                    select(i.batch_id, i.status, func.count(i.id))
                    .where(i.batch_id.in_(ids))
                    .group_by(i.batch_id, i.status)
                ):
                    counts.setdefault(int(bid), {})[str(status)] = int(n)
                for bid, cost, tin, tout in s.execute(
                    select(
                        i.batch_id, func.sum(i.cost_usd), func.sum(i.input_tokens), func.sum(i.output_tokens)
                    )
                    .where(i.batch_id.in_(ids))
                    .group_by(i.batch_id)
                ):
                    money[int(bid)] = (float(cost or 0.0), int(tin or 0), int(tout or 0))
        out = []
        for r in rows:
            cost, tin, tout = money.get(r.id, (0.0, 0, 0))
            out.append(
                BatchSummary(
                    id=r.id, provider=r.provider, model=r.model, remote_id=r.remote_id, status=r.status,
                    remote_status=r.remote_status, requests=r.requests, items=counts.get(r.id, {}),
                    cost_usd=cost, input_tokens=tin, output_tokens=tout, created_at=r.created_at,
                    submitted_at=r.submitted_at, ended_at=r.ended_at, error=r.error,
                )
            )  # fmt: skip
        return out

    # ----- who polls a batch: one process at a time -------------------------------------------
    def claim(self, batch_id: int, owner: str, *, seconds: float) -> bool:
        """Hold the batch for `owner` (one atomic UPDATE … WHERE free or expired)."""
        now = utcnow()
        b = ProviderBatchRow
        stmt = (
            update(b)
            .where(
                b.id == batch_id,
                or_(b.lease_owner.is_(None), b.lease_owner == owner, b.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def holder(self, batch_id: int) -> str | None:
        """Who holds the batch now (an unexpired lease), if anyone."""
        b = ProviderBatchRow
        with self.engine.connect() as conn:
            row = conn.execute(
                select(b.lease_owner).where(
                    b.id == batch_id, b.lease_owner.is_not(None), b.lease_until >= utcnow()
                )
            ).first()
        return str(row[0]) if row is not None else None

    def release(self, batch_id: int, owner: str) -> None:
        b = ProviderBatchRow
        with self.engine.begin() as conn:
            conn.execute(
                update(b)
                .where(b.id == batch_id, b.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    # ----- items ------------------------------------------------------------------------------
    def items(self, batch_id: int, statuses: Sequence[str] | None = None) -> list[ProviderBatchItemRow]:
        q = select(ProviderBatchItemRow).where(ProviderBatchItemRow.batch_id == batch_id)
        if statuses is not None:
            q = q.where(ProviderBatchItemRow.status.in_(list(statuses)))
        with self._session() as s:
            return list(s.scalars(q.order_by(ProviderBatchItemRow.id)))

    def items_to_redo(self, spec: str | None = None) -> list[ProviderBatchItemRow]:
        """Items whose batch answer was missing or unusable, waiting for an ordinary call."""
        i, b = ProviderBatchItemRow, ProviderBatchRow
        q = select(i).join(b, b.id == i.batch_id).where(i.status == "retry")
        if spec is not None:
            provider, _, model = spec.partition(":")
            q = q.where(b.provider == provider, b.model == model)
        with self._session() as s:
            return list(s.scalars(q.order_by(i.id)))

    def settle_item(
        self,
        item_id: int,
        status: str,
        *,
        expect: Sequence[str] = ("queued",),
        outcome: str | None = None,
        error: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cost_usd: float | None = None,
    ) -> bool:
        """Move an item on, only from the statuses in `expect`: False when it had moved already."""
        values: dict[str, Any] = {"status": status, "error": error, "updated_at": utcnow()}
        if outcome is not None:
            values["outcome"] = outcome
        if input_tokens is not None:
            values["input_tokens"] = input_tokens
        if output_tokens is not None:
            values["output_tokens"] = output_tokens
        if cost_usd is not None:
            values["cost_usd"] = cost_usd
        i = ProviderBatchItemRow
        with self.engine.begin() as conn:
            done = conn.execute(update(i).where(i.id == item_id, i.status.in_(list(expect))).values(**values))
            return bool(done.rowcount == 1)

    def queued_texts(self, provider: str, model: str, prompt_version: str) -> dict[str, int]:
        """Text hash → batch id, for texts whose request waits in an open batch."""
        i, b = ProviderBatchItemRow, ProviderBatchRow
        q = (
            select(i.text_hash, i.batch_id)
            .join(b, b.id == i.batch_id)
            .where(
                b.status.in_(OPEN_STATUSES),
                b.provider == provider,
                b.model == model,
                b.prompt_version == prompt_version,
                i.status.in_(("queued", "retry")),
            )
        )
        with self.engine.connect() as conn:
            return {str(h): int(bid) for h, bid in conn.execute(q)}

    def mark_batched(self, article_ids: Sequence[int]) -> None:
        """Articles whose text already waits in an open batch: they get its analysis too."""
        ids = list(article_ids)
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                conn.execute(
                    update(ArticleRow)
                    .where(ArticleRow.id.in_(ids[start : start + 500]), ArticleRow.status != "analyzed")
                    .values(status=BATCHED, error=None, updated_at=utcnow())
                )

    def specs_with_work(self) -> list[str]:
        """`provider:model` of every batch still to poll, or with items waiting for a fallback call."""
        i, b = ProviderBatchItemRow, ProviderBatchRow
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(b.provider, b.model)
                .where(
                    or_(
                        b.status.in_(OPEN_STATUSES),
                        b.id.in_(select(i.batch_id).where(i.status == "retry")),
                    )
                )
                .group_by(b.provider, b.model)
                .order_by(func.min(b.id))
            )
            return [f"{p}:{m}" for p, m in rows]

    def remove_batch(self, batch_id: int) -> None:
        """Drop a batch row and its items (only for a submission refused before it was sent)."""
        with self.engine.begin() as conn:
            conn.execute(delete(ProviderBatchItemRow).where(ProviderBatchItemRow.batch_id == batch_id))
            conn.execute(delete(ProviderBatchRow).where(ProviderBatchRow.id == batch_id))

    # ----- articles and the ledger ------------------------------------------------------------
    def set_text_status(
        self, text_hash: str, status: str, *, error: str | None = None, only: str = BATCHED
    ) -> int:
        """Every article with this text still marked `only` gets `status` (they share the analysis)."""
        a = ArticleRow
        with self.engine.begin() as conn:
            done = conn.execute(
                update(a)
                .where(a.text_hash == text_hash, a.status == only)
                .values(status=status, error=error, updated_at=utcnow())
            )
            return int(done.rowcount)

    def article_ids_of_text(self, text_hash: str, status: str = BATCHED) -> list[int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ArticleRow.id)
                .where(ArticleRow.text_hash == text_hash, ArticleRow.status == status)
                .order_by(ArticleRow.id)
            )
            return [int(r[0]) for r in rows]

    def recorded_call(self, run_id: str, text_hash: str) -> CallRow | None:
        """The ledger row already written for this batch's answer about this text, if any: what
        makes a second ingest of the same results a no-op even after a crash mid-ingest."""
        c = CallRow
        with self._session() as s:
            return s.scalar(
                select(c).where(c.run_id == run_id, c.text_hash == text_hash).order_by(c.id).limit(1)
            )


def new_article_sources(engine: Engine, *, limit: int | None = None) -> list[str]:
    """Sources of articles collected but never analyzed (`new`, with text), oldest first: what a
    recurring collection analyzes besides this cycle's own new links (an interrupted cycle's)."""
    a = ArticleRow
    q = select(a.source).where(a.status == "new", a.text.is_not(None)).order_by(a.id)
    if limit is not None:
        q = q.limit(limit)
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(q)]
