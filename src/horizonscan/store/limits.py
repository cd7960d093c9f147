"""What the workers of a pool share beyond the articles' leases: a budget, rate buckets, named
locks, and a look at the queue (tables in `schema_limits.py`).

Every decision is made inside one transaction that first takes a lock on the row it is about:
an INSERT (SQLite: the database's write lock, held to the commit) then `SELECT … FOR UPDATE`
(PostgreSQL: that row's lock; SQLite ignores it, already holding the write lock). So two workers
reserving at once are served one after the other, on either engine, with no branch per dialect.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from horizonscan.store import dialect
from horizonscan.store.base import Repository
from horizonscan.store.schema import AnalysisRow, ArticleRow, utcnow
from horizonscan.store.schema_limits import (
    LimitAccountRow,
    LimitReservationRow,
    NamedLeaseRow,
    RateBucketRow,
)


@dataclass(frozen=True)
class Hold:
    """The answer to a reservation: `held` (go; `key` settles it), `wait` (calls in flight hold
    the rest of the budget: ask again when one settles) or `spent` (the cap is reached)."""

    outcome: Literal["held", "wait", "spent"]
    key: int | None = None
    spent_cost: float = 0.0
    spent_tokens: int = 0


class LimitRepo(Repository):
    # ----- budgets ---------------------------------------------------------------------------
    def _lock_account(self, conn: Connection, account: str) -> tuple[float, int]:
        conn.execute(
            dialect.insert_ignore(
                conn,
                LimitAccountRow,
                {"name": account, "spent_cost": 0.0, "spent_tokens": 0, "updated_at": utcnow()},
            )
        )
        row = conn.execute(
            select(LimitAccountRow.spent_cost, LimitAccountRow.spent_tokens)
            .where(LimitAccountRow.name == account)
            .with_for_update()
        ).one()
        return float(row[0]), int(row[1])

    def reserve(
        self,
        account: str,
        owner: str,
        *,
        cost: float,
        tokens: int,
        max_cost: float | None,
        max_tokens: int | None,
        seconds: float,
    ) -> Hold:
        """Reserve one call's worst case against the pool's caps, atomically.

        Same rule as the in-process `Budget`: no call starts once the settled spend reached a cap;
        one starts while spend + the live reservations of calls in flight stay under it (or none
        is in flight); otherwise it waits. So the pool overshoots a cap by at most the calls in
        flight when it is reached. A reservation not renewed for `seconds` (its worker was killed)
        stops counting.
        """
        now = utcnow()
        with self.engine.begin() as conn:
            spent_cost, spent_tokens = self._lock_account(conn, account)
            if (max_cost is not None and spent_cost >= max_cost) or (
                max_tokens is not None and spent_tokens >= max_tokens
            ):
                return Hold("spent", spent_cost=spent_cost, spent_tokens=spent_tokens)
            held_cost, held_tokens, in_flight = conn.execute(
                select(
                    func.coalesce(func.sum(LimitReservationRow.cost), 0.0),
                    func.coalesce(func.sum(LimitReservationRow.tokens), 0),
                    func.count(LimitReservationRow.id),
                ).where(LimitReservationRow.account == account, LimitReservationRow.expires_at >= now)
            ).one()
            full = (max_cost is not None and spent_cost + float(held_cost) >= max_cost) or (
                max_tokens is not None and spent_tokens + int(held_tokens) >= max_tokens
            )
            if in_flight and full:
                return Hold("wait", spent_cost=spent_cost, spent_tokens=spent_tokens)
            key = conn.execute(
                insert(LimitReservationRow)
                .values(
                    account=account, owner=owner, cost=cost, tokens=tokens,
                    expires_at=now + timedelta(seconds=seconds),
                )
                .returning(LimitReservationRow.id)
            ).scalar_one()  # fmt: skip
        return Hold("held", key=int(key), spent_cost=spent_cost, spent_tokens=spent_tokens)

    def settle(self, account: str, key: int, *, cost: float, tokens: int) -> None:
        """The call ended: its reservation goes, its real cost (0 if it failed) is spent."""
        with self.engine.begin() as conn:
            self._lock_account(conn, account)
            conn.execute(delete(LimitReservationRow).where(LimitReservationRow.id == key))
            conn.execute(
                update(LimitAccountRow)
                .where(LimitAccountRow.name == account)
                .values(
                    spent_cost=LimitAccountRow.spent_cost + cost,
                    spent_tokens=LimitAccountRow.spent_tokens + tokens,
                    updated_at=utcnow(),
                )
            )

    def renew_reservations(self, owner: str, *, seconds: float) -> int:
        stmt = (
            update(LimitReservationRow)
            .where(LimitReservationRow.owner == owner)
            .values(expires_at=utcnow() + timedelta(seconds=seconds))
        )
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def drop_reservations(self, owner: str) -> int:
        """A worker's reservations, gone when it stops (its calls were cancelled, none paid)."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(delete(LimitReservationRow).where(LimitReservationRow.owner == owner)).rowcount
            )

    def spent(self, account: str) -> tuple[float, int]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(LimitAccountRow.spent_cost, LimitAccountRow.spent_tokens).where(
                    LimitAccountRow.name == account
                )
            ).first()
        return (float(row[0]), int(row[1])) if row else (0.0, 0)

    # ----- rate buckets ----------------------------------------------------------------------
    def take(self, bucket: str, *, rate_per_min: float, amount: float) -> float:
        """Take `amount` from a shared token bucket refilled at `rate_per_min`: 0 when taken,
        else the seconds to wait before asking again (nothing is taken then)."""
        now = time.time()
        capacity = float(rate_per_min)
        amount = min(amount, capacity)
        with self.engine.begin() as conn:
            conn.execute(
                dialect.insert_ignore(conn, RateBucketRow, {"name": bucket, "level": capacity, "stamp": now})
            )
            level, stamp = conn.execute(
                select(RateBucketRow.level, RateBucketRow.stamp)
                .where(RateBucketRow.name == bucket)
                .with_for_update()
            ).one()
            rate = rate_per_min / 60.0
            level = min(capacity, float(level) + max(0.0, now - float(stamp)) * rate)
            wait = 0.0
            if level >= amount:
                level -= amount
            else:
                wait = (amount - level) / rate
            conn.execute(
                update(RateBucketRow).where(RateBucketRow.name == bucket).values(level=level, stamp=now)
            )
        return wait

    # ----- named locks -----------------------------------------------------------------------
    def try_lock(self, name: str, owner: str, *, seconds: float) -> bool:
        """Hold the lock `name` for `seconds` unless another owner holds it unexpired."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                dialect.insert_ignore(conn, NamedLeaseRow, {"name": name, "owner": None, "until": None})
            )
            got = conn.execute(
                update(NamedLeaseRow)
                .where(
                    NamedLeaseRow.name == name,
                    or_(
                        NamedLeaseRow.owner.is_(None), NamedLeaseRow.owner == owner, NamedLeaseRow.until < now
                    ),
                )
                .values(owner=owner, until=now + timedelta(seconds=seconds))
            )
            return bool(got.rowcount == 1)

    def unlock(self, name: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(NamedLeaseRow)
                .where(NamedLeaseRow.name == name, NamedLeaseRow.owner == owner)
                .values(owner=None, until=None)
            )

    def lock_holder(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(NamedLeaseRow.owner).where(
                    NamedLeaseRow.name == name,
                    NamedLeaseRow.owner.is_not(None),
                    NamedLeaseRow.until >= utcnow(),
                )
            ).first()
        return str(row[0]) if row else None

    # ----- the queue -------------------------------------------------------------------------
    def pending(self, statuses: tuple[str, ...] = ("new",)) -> int:
        """Articles waiting for analysis, held or not (a held one may come back: its worker may die)."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count(ArticleRow.id)).where(
                        ArticleRow.status.in_(statuses), ArticleRow.text.is_not(None)
                    )
                ).scalar_one()
            )

    def queue_holders(self, statuses: tuple[str, ...] = ("new",)) -> set[str]:
        """Who holds pending articles now (unexpired leases): a worker that finds the queue empty
        looks for holders that died on its machine."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ArticleRow.lease_owner)
                .where(
                    ArticleRow.status.in_(statuses),
                    ArticleRow.lease_owner.is_not(None),
                    ArticleRow.lease_until >= utcnow(),
                )
                .distinct()
            )
            return {str(r[0]) for r in rows}

    def corpus_marker(self) -> str | None:
        """Changes whenever the corpus stage has something new to do: an analysis saved (or
        replaced), an article with text added or changed; None while nothing is analyzed.
        Cheap: two aggregate queries."""
        with self.engine.connect() as conn:
            a = conn.execute(select(func.count(AnalysisRow.id), func.max(AnalysisRow.id))).one()
            b = conn.execute(
                select(ArticleRow.status, func.count(ArticleRow.id), func.max(ArticleRow.id))
                .where(ArticleRow.text.is_not(None), ArticleRow.status != "new")
                .group_by(ArticleRow.status)
                .order_by(ArticleRow.status)
            ).all()
        if not a[0]:
            return None
        # Not `updated_at`: taking and renewing leases touch it without changing the corpus.
        return f"a{a[0]}:{a[1]}|" + ",".join(f"{s}{n}:{m}" for s, n, m in b)
