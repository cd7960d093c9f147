"""Article views: each article with its chosen analysis, in the shape publish/ and web/ read
(`models.ArticleView`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from horizonscan.models import ArticleView, CheckedItem, Origin
from horizonscan.store.analyses import analysis_from_row, item_from_row
from horizonscan.store.base import Repository
from horizonscan.store.schema import AnalysisRow, ArticleRow, ItemRow


class ViewRepo(Repository):
    def articles(
        self,
        *,
        only_analyzed: bool = True,
        article_ids: Iterable[int] | None = None,
        prompt_version: str | None = None,
        model: str | None = None,
    ) -> list[ArticleView]:
        """Articles with their analysis: the one for this prompt/model when given, else the newest.

        Plain column queries (no ORM objects, no article text): publishing reads the whole
        corpus on every run.
        """
        a, an, it = ArticleRow, AnalysisRow, ItemRow
        q = select(
            a.id, a.source, a.url, a.origin_label, a.origin_url, a.title, a.language, a.status, a.error,
            a.text_hash,
        ).order_by(a.id)  # fmt: skip
        if article_ids is not None:
            q = q.where(a.id.in_(list(article_ids)))
        if only_analyzed:
            q = q.where(a.status == "analyzed")
        with self.engine.connect() as conn:
            arts = conn.execute(q).all()
            hashes = list({r.text_hash for r in arts if r.text_hash})
            best: dict[str, tuple[tuple[bool, int], Any]] = {}
            for i in range(0, len(hashes), 500):
                for r in conn.execute(select(an).where(an.text_hash.in_(hashes[i : i + 500]))).mappings():
                    wanted = (prompt_version is None or r["prompt_version"] == prompt_version) and (
                        model is None or r["model"] == model
                    )
                    rank = (wanted, int(r["id"]))
                    cur = best.get(r["text_hash"])
                    if cur is None or rank > cur[0]:
                        best[r["text_hash"]] = (rank, r)
            chosen = [row for _, row in best.values()]
            items: dict[int, list[CheckedItem]] = {}
            ids = [row["id"] for row in chosen]
            for i in range(0, len(ids), 500):
                q_items = (
                    select(it)
                    .where(it.analysis_id.in_(ids[i : i + 500]))
                    .order_by(it.analysis_id, it.position)
                )
                for r in conn.execute(q_items).mappings():
                    items.setdefault(r["analysis_id"], []).append(item_from_row(r))
        analyses = {row["text_hash"]: analysis_from_row(row, items.get(row["id"], [])) for row in chosen}
        return [
            ArticleView(
                id=r.id, source=r.source, url=r.url,
                origin=Origin(label=r.origin_label, url=r.origin_url) if r.origin_label else None,
                title=r.title, language=r.language, status=r.status, error=r.error, text_hash=r.text_hash,
                analysis=analyses.get(r.text_hash) if r.text_hash else None,
            )
            for r in arts
        ]  # fmt: skip
