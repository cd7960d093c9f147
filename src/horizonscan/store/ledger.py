"""The call ledger: one row per LLM call (tokens, cost, latency, and with `audit` the exchange)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, func, select

from horizonscan.models import CallRecord
from horizonscan.store.base import Repository
from horizonscan.store.schema import CallRow


class Ledger(Repository):
    def record_calls(self, recs: Iterable[CallRecord], run_id: str | None = None) -> None:
        with self.session() as s:
            s.add_all(CallRow(run_id=run_id, **rec.model_dump()) for rec in recs)

    def usage(self) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.execute(
                select(
                    CallRow.provider,
                    CallRow.model,
                    func.count(CallRow.id),
                    func.sum(case((CallRow.status == "ok", 1), else_=0)),
                    func.sum(CallRow.input_tokens),
                    func.sum(CallRow.output_tokens),
                    func.sum(CallRow.cost_usd),
                    func.avg(CallRow.latency_s),
                )
                .group_by(CallRow.provider, CallRow.model)
                .order_by(CallRow.provider, CallRow.model)
            ).all()
        return [
            {
                "provider": p,
                "model": m,
                "calls": int(n),
                "ok": int(ok or 0),
                "failed": int(n) - int(ok or 0),
                "input_tokens": int(ti or 0),
                "output_tokens": int(to or 0),
                "cost_usd": round(float(c or 0.0), 6),
                "avg_latency_s": round(float(lat or 0.0), 3),
            }
            for p, m, n, ok, ti, to, c, lat in rows
        ]

    def calls(self, *, text_hashes: Iterable[str] | None = None, last: int | None = None) -> list[CallRow]:
        """Ledger rows, oldest first: those for these texts, or the `last` N of all."""
        with self.session() as s:
            q = select(CallRow)
            if text_hashes is not None:
                q = q.where(CallRow.text_hash.in_(list(text_hashes)))
            if last is not None:
                rows = list(s.scalars(q.order_by(CallRow.id.desc()).limit(last)))
                return rows[::-1]
            return list(s.scalars(q.order_by(CallRow.id)))
