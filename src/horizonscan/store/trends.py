"""Reads and writes of the trends stage, on the Store's engine (its own aggregate: trends, their
members, item embeddings and cached reports). Plain column queries: a corpus holds ~100k items."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Engine, bindparam, delete, func, insert, select, update

from horizonscan.store import dialect
from horizonscan.store.schema import (
    AnalysisRow,
    ArticleRow,
    ItemRow,
    MetaRow,
    NearDupKeyRow,
    StoryMemberRow,
    utcnow,
)
from horizonscan.store.schema_trends import ItemVectorRow, TrendMemberRow, TrendReportRow, TrendRow

CHUNK = 500
SUMMARY_COLUMNS = (
    "status",
    "dimension",
    "horizon",
    "documents",
    "sources",
    "popularity",
    "first_seen",
    "last_seen",
)


class ItemRecord(NamedTuple):
    """An item of an article's current (newest) analysis (a tuple: 100k of them are read at once)."""

    id: int
    analysis_id: int
    kind: str
    name: str
    description: str
    evidence: str
    evidence_found: bool
    relevancy: int
    dimension: str | None
    horizon: str | None

    @property
    def text(self) -> str:
        """What is embedded: the item's meaning, without its quote."""
        return f"{self.name}: {self.description}"


@dataclass(frozen=True)
class AnalysisRecord:
    id: int
    text_hash: str
    title: str
    summary: str
    keywords: list[str]
    language: str | None
    reused_from: int | None


@dataclass(frozen=True)
class ArticleRecord:
    id: int
    text_hash: str
    source: str
    url: str | None
    origin_label: str | None
    published: str | None
    first_seen: datetime
    title: str | None
    language: str | None


@dataclass
class TrendRecord:
    id: int
    name: str
    name_item_id: int | None
    embedder: str
    vector_sum: np.ndarray
    size: int
    status: str = "noise"
    dimension: str | None = None
    horizon: str | None = None
    documents: int = 0
    sources: int = 0
    popularity: float = 0.0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass
class TrendChanges:
    """One update of the trends, written in one transaction."""

    trends: list[TrendRecord] = field(default_factory=list)  # new or changed (upserted)
    members: dict[int, int] = field(default_factory=dict)  # item id → trend id (upserted)
    removed_members: list[int] = field(default_factory=list)  # item ids
    removed_trends: list[int] = field(default_factory=list)  # trend ids


def _item(r: Any) -> ItemRecord:
    return ItemRecord(r[0], r[1], r[2], r[3], r[4], r[5] or "", bool(r[6]), r[7], r[8], r[9])


def _datetime(value: Any) -> datetime:
    """SQLite hands DATETIME columns back as text on the raw cursor."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _blob(vec: np.ndarray) -> bytes:
    return np.ascontiguousarray(vec, dtype=np.float32).tobytes()


# The newest analysis of every analyzed article's text: older ones are superseded.
_CURRENT = (
    "SELECT max(an.id) FROM analyses an WHERE an.text_hash IN "
    "(SELECT text_hash FROM articles WHERE status = 'analyzed') GROUP BY an.text_hash"
)


class TrendRepository:
    """The trends aggregate over the shared engine (`store.trends`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Bulk reads straight from the DBAPI cursor: a corpus holds ~100k items, and result-row
        processing would cost more than the query."""
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(dialect.driver_sql(self.engine, sql), tuple(params))
            rows = list(cur.fetchall())
            cur.close()
            return rows
        finally:
            raw.close()

    # ----- the corpus as the trends stage reads it --------------------------------------------
    def current_analyses(self) -> list[AnalysisRecord]:
        """The current analysis of every analyzed article's text (keywords: see `keywords`)."""
        rows = self._rows(
            "SELECT id, text_hash, title, summary, language, reused_from FROM analyses "
            f"WHERE id IN ({_CURRENT}) ORDER BY id"
        )
        return [AnalysisRecord(r[0], r[1], r[2], r[3], [], r[4], r[5]) for r in rows]

    def keywords(self, analysis_ids: Iterable[int]) -> dict[int, list[str]]:
        ids = list(analysis_ids)
        out: dict[int, list[str]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), CHUNK):
                q = select(AnalysisRow.id, AnalysisRow.keywords).where(AnalysisRow.id.in_(ids[i : i + CHUNK]))
                out.update({int(a): list(k or []) for a, k in conn.execute(q).all()})
        return out

    def current_items(self) -> list[ItemRecord]:
        """Items of every current analysis, by id, in one query."""
        rows = self._rows(
            "SELECT id, analysis_id, kind, name, description, evidence, evidence_found, relevancy, "
            f"dimension, horizon FROM items WHERE analysis_id IN ({_CURRENT}) ORDER BY id"
        )
        return [ItemRecord._make(r) if r[5] is not None and type(r[6]) is bool else _item(r) for r in rows]

    def items_of(self, analysis_ids: Iterable[int]) -> list[ItemRecord]:
        it = ItemRow
        cols = (
            it.id,
            it.analysis_id,
            it.kind,
            it.name,
            it.description,
            it.evidence,
            it.evidence_found,
            it.relevancy,
            it.dimension,
            it.horizon,
        )
        ids = list(analysis_ids)
        out: list[ItemRecord] = []
        with self.engine.connect() as conn:
            for i in range(0, len(ids), CHUNK):
                rows = conn.execute(select(*cols).where(it.analysis_id.in_(ids[i : i + CHUNK]))).all()
                out.extend(
                    ItemRecord(
                        int(r[0]), int(r[1]), r[2], r[3], r[4], r[5] or "", bool(r[6]), int(r[7]), r[8], r[9]
                    )
                    for r in rows
                )
        out.sort(key=lambda r: r.id)
        return out

    def articles(self) -> list[ArticleRecord]:
        """Analyzed articles with text, by id."""
        rows = self._rows(
            "SELECT id, text_hash, source, url, origin_label, published, first_seen, title, language "
            "FROM articles WHERE status = 'analyzed' AND text_hash IS NOT NULL ORDER BY id"
        )
        return [ArticleRecord(r[0], r[1], r[2], r[3], r[4], r[5], _datetime(r[6]), r[7], r[8]) for r in rows]

    def near_duplicate_candidates(self, max_bucket: int = 50) -> list[tuple[str, str]]:
        """Pairs of texts sharing at least two MinHash LSH band keys (the similarity stage's
        near-duplicate candidates); keys shared by more than `max_bucket` texts are boilerplate."""
        k1, k2 = NearDupKeyRow.__table__.alias("k1"), NearDupKeyRow.__table__.alias("k2")
        useful = (
            select(NearDupKeyRow.key)
            .group_by(NearDupKeyRow.key)
            .having(func.count() >= 2, func.count() <= max_bucket)
        )
        q = (
            select(k1.c.text_hash, k2.c.text_hash)
            .join(k2, (k1.c.key == k2.c.key) & (k1.c.text_hash < k2.c.text_hash))
            .where(k1.c.key.in_(useful))
            .group_by(k1.c.text_hash, k2.c.text_hash)
            .having(func.count() >= 2)
        )
        with self.engine.connect() as conn:
            return [(str(a), str(b)) for a, b in conn.execute(q)]

    def texts(self, text_hashes: Iterable[str]) -> dict[str, str]:
        wanted = list(set(text_hashes))
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), CHUNK):
                rows = conn.execute(
                    select(ArticleRow.text_hash, ArticleRow.text).where(
                        ArticleRow.text_hash.in_(wanted[i : i + CHUNK])
                    )
                )
                out.update({h: t for h, t in rows if h is not None and t is not None})
        return out

    def story_of(self) -> dict[int, int]:
        """Article id → story id (empty when the similarity stage has not run)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(StoryMemberRow.article_id, StoryMemberRow.story_id))
            return {int(a): int(s) for a, s in rows}

    # ----- trends ---------------------------------------------------------------------------
    def members(self) -> dict[int, int]:
        return dict(self._rows("SELECT item_id, trend_id FROM trend_members"))

    def trends(self) -> list[TrendRecord]:
        t = TrendRow
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.id)).mappings().all()
        return [
            TrendRecord(
                id=int(r["id"]),
                name=r["name"],
                name_item_id=r["name_item_id"],
                embedder=r["embedder"],
                vector_sum=np.frombuffer(r["vector_sum"], dtype=np.float32).copy(),
                size=int(r["size"]),
                status=r["status"],
                dimension=r["dimension"],
                horizon=r["horizon"],
                documents=int(r["documents"]),
                sources=int(r["sources"]),
                popularity=float(r["popularity"]),
                first_seen=r["first_seen"],
                last_seen=r["last_seen"],
            )
            for r in rows
        ]

    def _trend_values(self, rec: TrendRecord) -> dict[str, Any]:
        return {
            "id": rec.id,
            "name": rec.name,
            "name_item_id": rec.name_item_id,
            "embedder": rec.embedder,
            "dim": int(rec.vector_sum.shape[-1]),
            "vector_sum": _blob(rec.vector_sum),
            "size": rec.size,
            "status": rec.status,
            "dimension": rec.dimension,
            "horizon": rec.horizon,
            "documents": rec.documents,
            "sources": rec.sources,
            "popularity": rec.popularity,
            "first_seen": rec.first_seen,
            "last_seen": rec.last_seen,
            "updated_at": utcnow(),
        }

    def apply(self, changes: TrendChanges, *, replace: bool = False) -> None:
        """Write an update atomically; `replace` first drops every trend and membership."""
        with self.engine.begin() as conn:
            if replace:
                conn.execute(delete(TrendMemberRow))
                conn.execute(delete(TrendRow))
            if changes.removed_members:
                for i in range(0, len(changes.removed_members), CHUNK):
                    part = changes.removed_members[i : i + CHUNK]
                    conn.execute(delete(TrendMemberRow).where(TrendMemberRow.item_id.in_(part)))
            if changes.trends:
                values = [self._trend_values(r) for r in changes.trends]
                stmt = dialect.insert(conn, TrendRow).values(created_at=utcnow())
                keep = {"id", "created_at"}
                upsert = stmt.on_conflict_do_update(
                    index_elements=[TrendRow.id],
                    set_={k: stmt.excluded[k] for k in values[0] if k not in keep},
                )
                for i in range(0, len(values), CHUNK):
                    conn.execute(upsert, values[i : i + CHUNK])
            if changes.members:
                now = utcnow()
                stmt = dialect.insert(conn, TrendMemberRow)
                upsert = stmt.on_conflict_do_update(
                    index_elements=[TrendMemberRow.item_id], set_={"trend_id": stmt.excluded.trend_id}
                )
                rows = [{"item_id": i, "trend_id": t, "added_at": now} for i, t in changes.members.items()]
                for i in range(0, len(rows), CHUNK):
                    conn.execute(upsert, rows[i : i + CHUNK])
            if changes.removed_trends:
                for i in range(0, len(changes.removed_trends), CHUNK):
                    part = changes.removed_trends[i : i + CHUNK]
                    conn.execute(delete(TrendMemberRow).where(TrendMemberRow.trend_id.in_(part)))
                    conn.execute(delete(TrendRow).where(TrendRow.id.in_(part)))

    def save_summaries(self, rows: Sequence[dict[str, Any]]) -> None:
        """Refresh the summary columns; each row has `id` and every name of SUMMARY_COLUMNS."""
        if not rows:
            return
        stmt = (
            update(TrendRow)
            .where(TrendRow.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in SUMMARY_COLUMNS})
        )
        params = [{f"b_{k}": v for k, v in r.items()} for r in rows]
        with self.engine.begin() as conn:
            for i in range(0, len(params), CHUNK):
                conn.execute(stmt, params[i : i + CHUNK])

    # ----- item embeddings ------------------------------------------------------------------
    def vectors(self, keys: Iterable[str], *, embedder: str | None = None) -> dict[str, np.ndarray]:
        """Stored item vectors by key; many keys of one embedder are read in one scan."""
        wanted = set(keys)
        out: dict[str, np.ndarray] = {}
        if embedder is not None and len(wanted) > 5000:
            for k, v in self._rows("SELECT key, vector FROM item_vectors WHERE embedder = ?", (embedder,)):
                if k in wanted:
                    out[k] = np.frombuffer(v, dtype=np.float16).astype(np.float32)
            return out
        ordered = list(wanted)
        for i in range(0, len(ordered), CHUNK):
            part = ordered[i : i + CHUNK]
            marks = ",".join("?" * len(part))
            for k, v in self._rows(f"SELECT key, vector FROM item_vectors WHERE key IN ({marks})", part):
                out[k] = np.frombuffer(v, dtype=np.float16).astype(np.float32)
        return out

    def add_vectors(self, embedder: str, vectors: dict[str, np.ndarray]) -> None:
        rows = [
            {
                "key": k,
                "embedder": embedder,
                "dim": int(v.shape[-1]),
                "vector": v.astype(np.float16).tobytes(),
            }
            for k, v in vectors.items()
        ]
        with self.engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                conn.execute(dialect.insert_ignore(conn, ItemVectorRow), rows[i : i + CHUNK])

    # ----- state and reports ----------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(MetaRow.value).where(MetaRow.key == f"trends.{key}")).scalar()

    def set_meta(self, values: dict[str, str]) -> None:
        with self.engine.begin() as conn:
            for key, value in values.items():
                conn.execute(
                    dialect.upsert(
                        conn, MetaRow, keys=["key"], update={"value": value},
                        values={"key": f"trends.{key}", "value": value},
                    )
                )  # fmt: skip

    def reports(self, kind: str) -> dict[str, TrendReportRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(TrendReportRow).where(TrendReportRow.kind == kind)).all()
        return {r.key: TrendReportRow(**r._mapping) for r in rows}

    def trends_of_article(self, article_id: int) -> list[tuple[int, str, str, str | None]]:
        """(id, name, status, dimension) of the trends holding items of the article's current analysis."""
        a, an, it, tm, t = ArticleRow, AnalysisRow, ItemRow, TrendMemberRow, TrendRow
        newest = (
            select(func.max(an.id))
            .where(an.text_hash == select(a.text_hash).where(a.id == article_id).scalar_subquery())
            .scalar_subquery()
        )
        q = (
            select(t.id, t.name, t.status, t.dimension)
            .join(tm, tm.trend_id == t.id)
            .join(it, it.id == tm.item_id)
            .where(it.analysis_id == newest)
            .distinct()
            .order_by(t.id)
        )
        with self.engine.connect() as conn:
            return [(int(r[0]), r[1], r[2], r[3]) for r in conn.execute(q)]

    def report(self, kind: str, key: str) -> TrendReportRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(TrendReportRow).where(TrendReportRow.kind == kind, TrendReportRow.key == key)
            ).first()
        if row is None:
            return None
        return TrendReportRow(**row._mapping)

    def save_report(
        self,
        kind: str,
        key: str,
        input_hash: str,
        output: dict[str, Any],
        *,
        model: str | None = None,
        prompt_version: str | None = None,
        note: str | None = None,
    ) -> None:
        values = {
            "kind": kind,
            "key": key,
            "input_hash": input_hash,
            "output": output,
            "model": model,
            "prompt_version": prompt_version,
            "note": note,
            "created_at": utcnow(),
        }
        with self.engine.begin() as conn:
            conn.execute(delete(TrendReportRow).where(TrendReportRow.kind == kind, TrendReportRow.key == key))
            conn.execute(insert(TrendReportRow).values(**values))
