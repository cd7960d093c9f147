"""Articles: what was read (source, text, origin), its status, and who holds it (leases)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, String, bindparam, case, func, or_, select, text, update

from horizonscan.models import Document, Origin
from horizonscan.store import dialect
from horizonscan.store.base import Repository
from horizonscan.store.schema import ArticleRow, utcnow


class ArticleRepo(Repository):
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

        One statement (an upsert): this runs once per article on the batch's hot path. The
        first origin seen is kept, like the first-seen time.
        """
        now = utcnow()
        fields = {
            "url": doc.url, "title": doc.title, "author": doc.author, "published": doc.date,
            "language": doc.language, "content_type": doc.content_type, "raw_hash": doc.raw_hash,
            "text": doc.text, "meta": {"flags": doc.flags}, "updated_at": now,
        }  # fmt: skip
        origin = doc.origin
        stmt = dialect.insert(self.engine, ArticleRow).values(
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
            # PostgreSQL: concurrent workers skip a row another one is claiming (SQLite ignores
            # this; its write lock already serialises claims).
            .with_for_update(skip_locked=True)
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
).bindparams(
    bindparam("now", type_=DateTime()),
    bindparam("until", type_=DateTime()),
    bindparam("hash", type_=String()),
    bindparam("owner", type_=String()),
)
