"""Tables that workers on many machines share (migration 0008_shared_limits), on the same Base
as `schema.py`.

Why in the database: a `--max-cost` or `--rpm` kept in one process holds for that process only;
N workers would spend N times the cap. Here every worker reserves from the same rows, under the
database's own locks (store/limits.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from horizonscan.store.schema import Base, utcnow


class LimitAccountRow(Base):
    """A shared budget ("pool"): what its workers have spent, settled calls only."""

    __tablename__ = "limit_accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spent_cost: Mapped[float] = mapped_column(Float, default=0.0)
    spent_tokens: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LimitReservationRow(Base):
    """One call in flight: its worst-case cost, held from before it is sent until it is settled.
    A killed worker never settles; its rows stop counting at `expires_at` (renewed while alive)."""

    __tablename__ = "limit_reservations"
    __table_args__ = (Index("ix_limit_reservations_account", "account", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(128), index=True)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column()


class RateBucketRow(Base):
    """A token bucket (`--rpm`, `--tpm`) shared by every worker of a pool: its level at `stamp`
    (seconds since the epoch; workers' clocks are assumed in sync, as NTP keeps them)."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    level: Mapped[float] = mapped_column(Float)
    stamp: Mapped[float] = mapped_column(Float)


class NamedLeaseRow(Base):
    """A short-lived lock by name (e.g. "corpus": one worker runs the corpus stage at a time)."""

    __tablename__ = "named_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(128))
    until: Mapped[datetime | None] = mapped_column()
