"""Analyses: what the model said about a text (one per text, prompt version and model), its items,
and the saved answers for parts of long texts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import selectinload

from horizonscan.models import Analysis, CallRecord, CheckedItem
from horizonscan.store import dialect
from horizonscan.store.base import Repository
from horizonscan.store.schema import AnalysisPartRow, AnalysisRow, ArticleRow, CallRow, ItemRow, utcnow


class AnalysisRepo(Repository):
    def find_analysis(self, text_hash: str, prompt_version: str, model: str) -> Analysis | None:
        with self.session() as s:
            row = s.scalar(
                select(AnalysisRow)
                .options(selectinload(AnalysisRow.items))
                .where(
                    AnalysisRow.text_hash == text_hash,
                    AnalysisRow.prompt_version == prompt_version,
                    AnalysisRow.model == model,
                )
            )
            return _to_analysis(row) if row else None

    def analysis_keys(self, prompt_version: str, model: str) -> set[str]:
        """Text hashes that already have a valid analysis for this prompt and model."""
        with self.session() as s:
            return set(
                s.scalars(
                    select(AnalysisRow.text_hash).where(
                        AnalysisRow.prompt_version == prompt_version, AnalysisRow.model == model
                    )
                )
            )

    def save_analysis(
        self,
        analysis: Analysis,
        article_id: int | None = None,
        *,
        calls: Iterable[CallRecord] = (),
        run_id: str | None = None,
    ) -> int:
        """Store the analysis, the calls that produced it, and mark the article analyzed — atomically.

        Committing the successful calls with their result means a crash can never leave a
        paid-for answer in the ledger without the analysis it paid for.
        """
        # Core statements, not ORM objects: this runs once per article on the batch's hot path.
        with self.engine.begin() as conn:
            conn.execute(
                delete(AnalysisRow).where(
                    AnalysisRow.text_hash == analysis.text_hash,
                    AnalysisRow.prompt_version == analysis.prompt_version,
                    AnalysisRow.model == analysis.model,
                )
            )  # its items go with it (ON DELETE CASCADE)
            result = conn.execute(
                insert(AnalysisRow).values(
                    text_hash=analysis.text_hash,
                    model=analysis.model,
                    prompt_version=analysis.prompt_version,
                    schema_version=analysis.schema_version,
                    title=analysis.title,
                    summary=analysis.summary,
                    keywords=analysis.keywords,
                    themes=analysis.themes,
                    category=analysis.category,
                    type=analysis.type,
                    language=analysis.language,
                    chunks=analysis.chunks,
                    reused_from=analysis.reused_from,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            analysis_id = int(key[0])
            if analysis.items:
                conn.execute(
                    insert(ItemRow),
                    [
                        {"analysis_id": analysis_id, "position": i, **item.model_dump()}
                        for i, item in enumerate(analysis.items)
                    ],
                )
            records = [{"run_id": run_id, **rec.model_dump()} for rec in calls]
            if records:
                conn.execute(insert(CallRow), records)
            if article_id is not None:
                conn.execute(
                    update(ArticleRow)
                    .where(ArticleRow.id == article_id)
                    .values(status="analyzed", error=None, updated_at=utcnow())
                )
        return analysis_id

    def english_of(self, text_hashes: Iterable[str]) -> dict[str, str]:
        """Title, summary and keywords of the newest analysis per text: English evidence for matching."""
        wanted = list(set(text_hashes))
        out: dict[str, str] = {}
        with self.session() as s:
            for i in range(0, len(wanted), 500):
                rows = s.execute(
                    select(
                        AnalysisRow.text_hash, AnalysisRow.title, AnalysisRow.summary, AnalysisRow.keywords
                    )
                    .where(AnalysisRow.text_hash.in_(wanted[i : i + 500]))
                    .order_by(AnalysisRow.id)
                )
                for h, title, summary, keywords in rows:
                    out[h] = f"{title}. {summary} {'; '.join(keywords or [])}"
        return out

    def has_analyses(self) -> bool:
        with self.session() as s:
            return s.scalar(select(AnalysisRow.id).limit(1)) is not None

    # ----- long articles' partial answers, kept as they arrive --------------------------------
    def analysis_parts(self, text_hash: str, prompt_version: str, model: str) -> dict[str, dict[str, Any]]:
        """Part hash → the saved answer for that part of this text, prompt and model."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(AnalysisPartRow.part_hash, AnalysisPartRow.output).where(
                    AnalysisPartRow.text_hash == text_hash,
                    AnalysisPartRow.prompt_version == prompt_version,
                    AnalysisPartRow.model == model,
                )
            ).all()
        return {str(h): dict(o) for h, o in rows}

    def save_analysis_part(
        self,
        text_hash: str,
        prompt_version: str,
        model: str,
        part_hash: str,
        position: int,
        output: dict[str, Any],
    ) -> None:
        """Committed at once, on its own: a merge that fails later never pays for this part again."""
        stmt = dialect.upsert(
            self.engine,
            AnalysisPartRow,
            keys=["text_hash", "prompt_version", "model", "part_hash"],
            update=["output", "position"],
            values=dict(
                text_hash=text_hash, prompt_version=prompt_version, model=model, part_hash=part_hash,
                position=position, output=output, created_at=utcnow(),
            ),
        )  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(stmt)


def item_from_row(r: Any) -> CheckedItem:
    """Rows from our own database were validated when written: build them without re-validating."""
    return CheckedItem.model_construct(
        kind=r["kind"], name=r["name"], description=r["description"], relevancy=r["relevancy"],
        evidence=r["evidence"], evidence_found=r["evidence_found"], evidence_score=r["evidence_score"],
        change=r["change"], ten_year=r["ten_year"], driving_force=r["driving_force"],
        dimension=r["dimension"], horizon=r["horizon"], evidence_mode=r["evidence_mode"] or "quote",
        evidence_note=r["evidence_note"], problems=list(r["problems"] or []),
    )  # fmt: skip


def analysis_from_row(row: Any, items: list[CheckedItem]) -> Analysis:
    return Analysis.model_construct(
        id=row["id"], text_hash=row["text_hash"], model=row["model"], prompt_version=row["prompt_version"],
        schema_version=row["schema_version"], title=row["title"], summary=row["summary"],
        keywords=list(row["keywords"]), themes=list(row["themes"]), category=row["category"],
        type=row["type"], language=row["language"], chunks=row["chunks"], created_at=row["created_at"],
        reused_from=row["reused_from"], items=items,
    )  # fmt: skip


def _to_analysis(row: AnalysisRow) -> Analysis:
    return Analysis(
        id=row.id,
        text_hash=row.text_hash,
        model=row.model,
        prompt_version=row.prompt_version,
        schema_version=row.schema_version,
        title=row.title,
        summary=row.summary,
        keywords=list(row.keywords),
        themes=list(row.themes),
        category=row.category,
        type=row.type,
        language=row.language,
        chunks=row.chunks,
        reused_from=row.reused_from,
        created_at=row.created_at,
        items=[
            CheckedItem(
                kind=i.kind,
                name=i.name,
                description=i.description,
                relevancy=i.relevancy,
                evidence=i.evidence,
                evidence_found=i.evidence_found,
                evidence_score=i.evidence_score,
                change=i.change,
                ten_year=i.ten_year,
                driving_force=i.driving_force,
                dimension=i.dimension,
                horizon=i.horizon,
                evidence_mode="picked" if i.evidence_mode == "picked" else "quote",
                evidence_note=i.evidence_note,
                problems=list(i.problems or []),
            )
            for i in row.items
        ],
    )
