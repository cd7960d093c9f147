"""Every read and write the pipeline makes, as plain methods over domain types.

Each write commits on its own, so a crash loses at most the article in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from horizonscan.models import Analysis, CallRecord, CheckedItem, Document, Origin
from horizonscan.store.db import check_database, make_engine, migrate
from horizonscan.store.schema import (
    AnalysisPartRow,
    AnalysisRow,
    ArticleRow,
    CallRow,
    ItemRow,
    MetaRow,
    NearDupKeyRow,
    SignatureRow,
    SourceRow,
    StoryMemberRow,
    StoryRow,
    utcnow,
)


@dataclass
class ArticleView:
    """An article with its newest analysis, as publishers and exporters need it."""

    id: int
    source: str
    url: str | None
    origin: Origin | None
    title: str | None
    language: str | None
    status: str
    error: str | None
    text_hash: str | None
    analysis: Analysis | None


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True) -> Store:
        """Open (and migrate) a horizonscan database; another application's file is refused
        untouched, and with `create=False` (read-only commands) so is a missing one."""
        check_database(path, must_exist=not create)
        engine = make_engine(path)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    # ----- articles -------------------------------------------------------------------------
    def article_by_source(self, source: str) -> ArticleRow | None:
        with self.session() as s:
            return s.scalar(select(ArticleRow).where(ArticleRow.source == source))

    def sources_index(self, sources: Iterable[str]) -> dict[str, ArticleRow]:
        """Known articles for many sources in one query (re-runs touch thousands)."""
        wanted = list(sources)
        out: dict[str, ArticleRow] = {}
        with self.session() as s:
            for i in range(0, len(wanted), 500):
                rows = s.scalars(select(ArticleRow).where(ArticleRow.source.in_(wanted[i : i + 500])))
                out.update({r.source: r for r in rows})
        return out

    def upsert_article(self, doc: Document) -> int:
        """Insert or refresh an article by source; a changed text makes it "new" again.

        One statement (SQLite upsert): this runs once per article on the batch's hot path. The
        first origin seen is kept, like the first-seen time.
        """
        now = utcnow()
        fields = {
            "url": doc.url, "title": doc.title, "author": doc.author, "published": doc.date,
            "language": doc.language, "content_type": doc.content_type, "raw_hash": doc.raw_hash,
            "text": doc.text, "meta": {"flags": doc.flags}, "updated_at": now,
        }  # fmt: skip
        origin = doc.origin
        stmt = sqlite_insert(ArticleRow).values(
            source=doc.source, text_hash=doc.text_hash, status="new", attempts=0, first_seen=now,
            origin_label=origin.label if origin else None, origin_url=origin.url if origin else None,
            **fields,
        )  # fmt: skip
        new = stmt.excluded
        upsert = stmt.on_conflict_do_update(
            index_elements=[ArticleRow.source],
            set_={
                **fields,
                "text_hash": new.text_hash,
                "status": case(
                    (ArticleRow.text_hash.is_distinct_from(new.text_hash), "new"), else_=ArticleRow.status
                ),
                "origin_label": func.coalesce(ArticleRow.origin_label, new.origin_label),
                "origin_url": case(
                    (ArticleRow.origin_label.is_(None), new.origin_url), else_=ArticleRow.origin_url
                ),
            },
        ).returning(ArticleRow.id)
        with self.engine.begin() as conn:
            return int(conn.execute(upsert).scalar_one())

    def set_status(
        self, article_id: int, status: str, error: str | None = None, *, count_attempt: bool = False
    ) -> None:
        with self.session() as s:
            row = s.get(ArticleRow, article_id)
            if row is None:
                return
            row.status = status
            row.error = error
            if count_attempt:
                row.attempts += 1

    def set_origin(self, article_id: int, origin: Origin) -> None:
        with self.session() as s:
            row = s.get(ArticleRow, article_id)
            if row is not None:
                row.origin_label, row.origin_url = origin.label, origin.url

    def failed_sources(self) -> list[str]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(ArticleRow.source).where(ArticleRow.status == "failed").order_by(ArticleRow.id)
                )
            )

    def document(self, article_id: int) -> Document | None:
        with self.session() as s:
            row = s.get(ArticleRow, article_id)
            if row is None or row.text is None or row.text_hash is None:
                return None
            origin = Origin(label=row.origin_label, url=row.origin_url) if row.origin_label else None
            return Document(
                source=row.source,
                url=row.url,
                title=row.title,
                author=row.author,
                date=row.published,
                language=row.language,
                text=row.text,
                text_hash=row.text_hash,
                raw_hash=row.raw_hash,
                content_type=row.content_type or "text",
                origin=origin,
                flags=list((row.meta or {}).get("flags", [])),
            )

    def known_sources(self, sources: Iterable[str]) -> set[str]:
        """Which of these URLs are already articles that need no new fetch (failed ones are retried)."""
        wanted = list(sources)
        known: set[str] = set()
        with self.session() as s:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                rows = s.execute(
                    select(ArticleRow.source, ArticleRow.url).where(
                        (ArticleRow.source.in_(chunk) | ArticleRow.url.in_(chunk))
                        & (ArticleRow.status != "failed")
                    )
                )
                for src, url in rows:
                    known.add(src)
                    if url:
                        known.add(url)
        return known & set(wanted)

    def record_fetch_failure(self, source: str, origin: Origin | None, reason: str) -> None:
        """A link that could not be fetched stays known, with its reason, and is retried later."""
        with self.session() as s:
            row = s.scalar(select(ArticleRow).where(ArticleRow.source == source))
            if row is None:
                row = ArticleRow(source=source, url=source, status="failed", meta={}, attempts=0)
                s.add(row)
                if origin is not None:
                    row.origin_label, row.origin_url = origin.label, origin.url
            row.status, row.error = "failed", reason
            row.attempts += 1

    # ----- sources --------------------------------------------------------------------------
    def add_source(self, spec: str, *, label: str | None = None, kind: str | None = None) -> SourceRow:
        with self.session() as s:
            row = s.scalar(select(SourceRow).where(SourceRow.spec == spec))
            if row is None:
                row = SourceRow(spec=spec, links_seen=0)
                s.add(row)
            if label is not None:
                row.label = label
            if kind is not None:
                row.kind = kind
            s.flush()
            return row

    def list_sources(self) -> list[SourceRow]:
        with self.session() as s:
            return list(s.scalars(select(SourceRow).order_by(SourceRow.id)))

    def source_by_spec(self, spec: str) -> SourceRow | None:
        with self.session() as s:
            return s.scalar(select(SourceRow).where(SourceRow.spec == spec))

    def remove_source(self, key: str) -> bool:
        with self.session() as s:
            cond = SourceRow.spec == key
            if key.isdigit():
                cond = cond | (SourceRow.id == int(key))
            row = s.scalar(select(SourceRow).where(cond))
            if row is None:
                return False
            s.delete(row)
            return True

    def update_source(self, source_id: int, **values: Any) -> None:
        with self.session() as s:
            row = s.get(SourceRow, source_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)
                row.last_checked = utcnow()

    # ----- analyses -------------------------------------------------------------------------
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

    # ----- ledger ---------------------------------------------------------------------------
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

    def articles_with_text(self) -> list[tuple[int, str, str | None]]:
        """(article id, text hash, language) of every article with text, oldest first."""
        with self.session() as s:
            rows = s.execute(
                select(ArticleRow.id, ArticleRow.text_hash, ArticleRow.language)
                .where(ArticleRow.text_hash.is_not(None), ArticleRow.status != "failed")
                .order_by(ArticleRow.first_seen, ArticleRow.id)
            ).all()
        return [(int(i), str(h), lang) for i, h, lang in rows]

    def texts(self, text_hashes: Iterable[str]) -> dict[str, str]:
        wanted = list(set(text_hashes))
        out: dict[str, str] = {}
        with self.session() as s:
            for i in range(0, len(wanted), 500):
                rows = s.execute(
                    select(ArticleRow.text_hash, ArticleRow.text).where(
                        ArticleRow.text_hash.in_(wanted[i : i + 500])
                    )
                )
                out.update({h: t for h, t in rows if h is not None and t is not None})
        return out

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

    def signature_rows(self, text_hashes: Iterable[str] | None = None) -> dict[str, SignatureRow]:
        with self.session() as s:
            if text_hashes is None:
                return {r.text_hash: r for r in s.scalars(select(SignatureRow))}
            wanted = list(set(text_hashes))
            out: dict[str, SignatureRow] = {}
            for i in range(0, len(wanted), 500):
                rows = s.scalars(select(SignatureRow).where(SignatureRow.text_hash.in_(wanted[i : i + 500])))
                out.update({r.text_hash: r for r in rows})
            return out

    def add_signature_rows(self, rows: Iterable[SignatureRow]) -> None:
        with self.session() as s:
            for row in rows:
                s.merge(row)

    def neardup_candidates(self, keys: Iterable[str]) -> dict[str, int]:
        """Texts sharing LSH band keys with these, and how many keys each shares."""
        wanted = list(keys)
        if not wanted:
            return {}
        with self.session() as s:
            rows = s.execute(
                select(NearDupKeyRow.text_hash, func.count())
                .where(NearDupKeyRow.key.in_(wanted))
                .group_by(NearDupKeyRow.text_hash)
            )
            return {h: int(n) for h, n in rows}

    def add_neardup_keys(self, text_hash: str, keys: Iterable[str]) -> None:
        rows = [{"key": k, "text_hash": text_hash} for k in set(keys)]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(sqlite_insert(NearDupKeyRow).on_conflict_do_nothing(), rows)

    def story_members(self) -> dict[int, int]:
        with self.session() as s:
            return {
                int(a): int(b)
                for a, b in s.execute(select(StoryMemberRow.article_id, StoryMemberRow.story_id))
            }

    def set_story_members(self, members: dict[int, int], *, replace: bool = False) -> None:
        with self.session() as s:
            if replace:
                s.execute(delete(StoryMemberRow))
            for article_id, story_id in members.items():
                s.merge(StoryMemberRow(article_id=article_id, story_id=story_id))

    def story_row(self, story_id: int) -> StoryRow | None:
        with self.session() as s:
            return s.get(StoryRow, story_id)

    def save_story_row(self, row: StoryRow) -> None:
        with self.session() as s:
            s.merge(row)

    def meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MetaRow, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(MetaRow(key=key, value=value))

    # ----- publishing -----------------------------------------------------------------------
    def views(
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
                    items.setdefault(r["analysis_id"], []).append(_item_from(r))
        analyses = {row["text_hash"]: _analysis_from(row, items.get(row["id"], [])) for row in chosen}
        return [
            ArticleView(
                id=r.id, source=r.source, url=r.url,
                origin=Origin(label=r.origin_label, url=r.origin_url) if r.origin_label else None,
                title=r.title, language=r.language, status=r.status, error=r.error, text_hash=r.text_hash,
                analysis=analyses.get(r.text_hash) if r.text_hash else None,
            )
            for r in arts
        ]  # fmt: skip

    # ----- leases: two runs (or workers) never pay for the same article twice ---------------
    # A claim is one atomic UPDATE … WHERE (lease free or expired): SQLite runs it under the
    # write lock, so of two processes claiming at once exactly one gets the row.
    def _free(self, owner: str, now: datetime) -> Any:
        return or_(
            ArticleRow.lease_owner.is_(None), ArticleRow.lease_owner == owner, ArticleRow.lease_until < now
        )

    def claim_article(
        self, article_id: int, owner: str, *, seconds: float, text_hash: str | None = None
    ) -> bool:
        """Hold the article for `owner` for `seconds`, unless someone else holds it (or, given
        `text_hash`, any other article with the same text, whose analysis would serve both)."""
        now = utcnow()
        params = {
            "id": article_id, "owner": owner, "now": now, "until": now + timedelta(seconds=seconds),
            "hash": text_hash,
        }  # fmt: skip
        with self.engine.begin() as conn:
            return bool(conn.execute(_CLAIM, params).rowcount == 1)

    def claim_next(self, owner: str, *, seconds: float, statuses: Iterable[str] = ("new",)) -> int | None:
        """The next article waiting for analysis that nobody holds (not even `owner`: it wants a
        new one), claimed for `owner`: what a `worker` process loops on."""
        now = utcnow()
        unheld = or_(ArticleRow.lease_owner.is_(None), ArticleRow.lease_until < now)
        nxt = (
            select(ArticleRow.id)
            .where(ArticleRow.status.in_(list(statuses)), ArticleRow.text.is_not(None), unheld)
            .order_by(ArticleRow.id)
            .limit(1)
            .scalar_subquery()
        )
        stmt = (
            update(ArticleRow)
            .where(ArticleRow.id == nxt, unheld)
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
            .returning(ArticleRow.id)
        )
        with self.engine.begin() as conn:
            got = conn.execute(stmt).scalar_one_or_none()
        return int(got) if got is not None else None

    def lease_holders(self, article_id: int, *, text_hash: str | None = None) -> set[str]:
        """Who holds the article (or, given `text_hash`, its text) now: unexpired leases."""
        now = utcnow()
        which = ArticleRow.id == article_id
        if text_hash is not None:
            which = or_(which, ArticleRow.text_hash == text_hash)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ArticleRow.lease_owner).where(
                    which, ArticleRow.lease_owner.is_not(None), ArticleRow.lease_until >= now
                )
            )
            return {str(r[0]) for r in rows}

    def renew_leases(self, owner: str, *, seconds: float) -> int:
        stmt = (
            update(ArticleRow)
            .where(ArticleRow.lease_owner == owner)
            .values(lease_until=utcnow() + timedelta(seconds=seconds))
        )
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def release_article(self, article_id: int, owner: str) -> None:
        stmt = (
            update(ArticleRow)
            .where(ArticleRow.id == article_id, ArticleRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def release_leases(self, owner: str) -> int:
        """Everything `owner` still holds (end of a run, Ctrl-C)."""
        stmt = (
            update(ArticleRow)
            .where(ArticleRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    # ----- audit log ------------------------------------------------------------------------
    def find_articles(self, key: str) -> list[ArticleRow]:
        """Articles by id, source (path or URL, as stored) or text hash (8+ hex characters)."""
        key = key.strip()
        with self.session() as s:
            if key.isdigit():
                row = s.get(ArticleRow, int(key))
                if row is not None:
                    return [row]
            rows = list(s.scalars(select(ArticleRow).where(ArticleRow.source == key)))
            if not rows and len(key) >= 8 and all(c in "0123456789abcdef" for c in key.lower()):
                rows = list(
                    s.scalars(
                        select(ArticleRow)
                        .where(ArticleRow.text_hash.startswith(key.lower(), autoescape=True))
                        .order_by(ArticleRow.id)
                    )
                )
            return rows

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

    def has_analyses(self) -> bool:
        with self.session() as s:
            return s.scalar(select(AnalysisRow.id).limit(1)) is not None

    # ----- analysis parts: long articles' partial answers, kept as they arrive ----------------
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
        stmt = sqlite_insert(AnalysisPartRow).values(
            text_hash=text_hash, prompt_version=prompt_version, model=model, part_hash=part_hash,
            position=position, output=output, created_at=utcnow(),
        )  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["text_hash", "prompt_version", "model", "part_hash"],
                    set_={"output": stmt.excluded.output, "position": stmt.excluded.position},
                )
            )

    def article_id_of_text(self, text_hash: str) -> int | None:
        """The first article with this text (e.g. the one a near-duplicate's analysis comes from)."""
        with self.session() as s:
            found = s.scalar(
                select(ArticleRow.id)
                .where(ArticleRow.text_hash == text_hash)
                .order_by(ArticleRow.id)
                .limit(1)
            )
            return int(found) if found is not None else None


# One statement, so SQLite runs the check and the write under its write lock: of two processes
# claiming at once, exactly one gets the row. Plain SQL: it runs before every paid call.
_CLAIM = text(
    """UPDATE articles SET lease_owner = :owner, lease_until = :until
    WHERE id = :id
      AND (lease_owner IS NULL OR lease_owner = :owner OR lease_until < :now)
      AND (:hash IS NULL OR NOT EXISTS (
          SELECT 1 FROM articles o
          WHERE o.text_hash = :hash AND o.id != :id AND o.lease_owner IS NOT NULL
            AND o.lease_owner != :owner AND o.lease_until >= :now))"""
).bindparams(bindparam("now", type_=DateTime()), bindparam("until", type_=DateTime()))


def _item_from(r: Any) -> CheckedItem:
    """Rows from our own database were validated when written: build them without re-validating."""
    return CheckedItem.model_construct(
        kind=r["kind"], name=r["name"], description=r["description"], relevancy=r["relevancy"],
        evidence=r["evidence"], evidence_found=r["evidence_found"], evidence_score=r["evidence_score"],
        change=r["change"], ten_year=r["ten_year"], driving_force=r["driving_force"],
        dimension=r["dimension"], horizon=r["horizon"], evidence_mode=r["evidence_mode"] or "quote",
        evidence_note=r["evidence_note"], problems=list(r["problems"] or []),
    )  # fmt: skip


def _analysis_from(row: Any, items: list[CheckedItem]) -> Analysis:
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
