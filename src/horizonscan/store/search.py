"""Full-text search and filtered listing of the analyzed corpus (SQLite FTS5, PostgreSQL tsvector).

Why a separate index: the articles, analyses and items tables are shaped for the pipeline, and
filtering 10 000 articles by theme, STEEP+V dimension or horizon through them means joins over
100 000 items on every request. `search_docs` holds one flat row per analyzed article and
`search_fts` its English text (title, summary, keywords, themes, items). Triggers (migration
0006) queue every article whose analysis or metadata changes in `search_dirty`; `sync()` rebuilds
only those rows, and costs one indexed read when nothing changed, so readers call it before
every query.

On PostgreSQL `search_fts` is a plain table with a `tsvector` column (GIN index) and the same
queue is filled by PL/pgSQL triggers (migration 0006); `fts_query` / `ts_query` and `_Fts`
below are the only places that know which full-text engine answers.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date as date_type
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection, Engine, bindparam, text

from horizonscan.store import dialect

# Same DDL as migration 0006: a later migration that rebuilds one of these tables (Alembic batch
# mode copies tables) drops its triggers, so `ensure_triggers` puts them back.
TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS search_dirty_analysis_insert AFTER INSERT ON analyses BEGIN
        INSERT INTO search_dirty (article_id) SELECT id FROM articles
        WHERE text_hash = NEW.text_hash AND id NOT IN (SELECT article_id FROM search_dirty); END""",
    """CREATE TRIGGER IF NOT EXISTS search_dirty_analysis_delete AFTER DELETE ON analyses BEGIN
        INSERT INTO search_dirty (article_id) SELECT id FROM articles
        WHERE text_hash = OLD.text_hash AND id NOT IN (SELECT article_id FROM search_dirty); END""",
    """CREATE TRIGGER IF NOT EXISTS search_dirty_item_update AFTER UPDATE ON items BEGIN
        INSERT INTO search_dirty (article_id)
        SELECT ar.id FROM articles ar JOIN analyses an ON an.text_hash = ar.text_hash
        WHERE an.id = NEW.analysis_id AND ar.id NOT IN (SELECT article_id FROM search_dirty); END""",
    """CREATE TRIGGER IF NOT EXISTS search_dirty_article_update
        AFTER UPDATE OF status, text_hash, title, url, published, language, origin_label
        ON articles BEGIN
        INSERT INTO search_dirty (article_id) SELECT NEW.id
        WHERE NOT EXISTS (SELECT 1 FROM search_dirty WHERE article_id = NEW.id); END""",
    """CREATE TRIGGER IF NOT EXISTS search_dirty_article_delete AFTER DELETE ON articles BEGIN
        INSERT INTO search_dirty (article_id) SELECT OLD.id
        WHERE NOT EXISTS (SELECT 1 FROM search_dirty WHERE article_id = OLD.id); END""",
)

# Snippet markers: control characters that `_index_text` strips from indexed text, so only FTS5
# can produce them; the page escapes the snippet, then turns them into <mark>.
MARK_START, MARK_END = "\x02", "\x03"
_MARKS = re.compile("[\x02\x03]")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
# Words that carry no meaning for retrieval ("what are cities doing about heat?").
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "may",
        "might",
        "more",
        "most",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "about",
        "any",
        "corpus",
        "article",
        "articles",
        "tell",
        "me",
        "please",
    ]
)

# bm25 weights of the columns: title, summary, keywords, themes, items.
BM25_WEIGHTS = "10.0, 3.0, 6.0, 4.0, 1.0"

Evidence = Literal["found", "missing"]
CurationFilter = Literal["starred", "noted", "hidden", "all"]
Sort = Literal["relevance", "newest", "oldest"]


def fts_query(q: str, *, any_term: bool = False, drop_stopwords: bool = False) -> str | None:
    """A safe FTS5 query from what a person typed: `"quoted phrases"` kept, other words matched
    as prefixes, all required (or any, for questions). Never an FTS5 syntax error: every token
    is quoted, so `NEAR(`, `*`, `"` or `-` typed by anyone are plain text."""
    parts: list[str] = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', q):
        tokens = _TOKEN.findall(phrase or word)
        if drop_stopwords:
            tokens = [t for t in tokens if t.casefold() not in STOPWORDS]
        if not tokens:
            continue
        if phrase or len(tokens) > 1:
            parts.append('"' + " ".join(tokens) + '"' + ("" if phrase else "*"))
        else:
            parts.append(f'"{tokens[0]}"*')
    if not parts:
        return None
    return (" OR " if any_term else " AND ").join(parts)


def ts_query(q: str, *, any_term: bool = False, drop_stopwords: bool = False) -> str | None:
    """`fts_query` for PostgreSQL's `to_tsquery('simple', …)`: the same phrases and prefixes,
    folded as the index is. Tokens are `\\w+` runs, quoted, so nothing typed is syntax."""
    parts: list[str] = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', q):
        tokens = [_fold(t) for t in _TOKEN.findall(phrase or word)]
        if drop_stopwords:
            tokens = [t for t in tokens if t not in STOPWORDS]
        tokens = [t.replace("'", "") for t in tokens if t]
        if not tokens:
            continue
        quoted = [f"'{t}'" for t in tokens]
        if not phrase:
            quoted[-1] += ":*"
        parts.append("(" + " <-> ".join(quoted) + ")" if len(quoted) > 1 else quoted[0])
    if not parts:
        return None
    return (" | " if any_term else " & ").join(parts)


# ts_rank weights {D, C, B, A}: items D, summary and themes C, keywords B, title A (bm25's order).
TS_WEIGHTS = "{0.1, 0.3, 0.6, 1.0}"


class _Fts:
    """The full-text engine of one database: SQL fragments for matching, ranking and the
    index rows, so `SearchIndex` reads the same on SQLite (FTS5) and PostgreSQL (tsvector)."""

    def __init__(self, engine: Engine) -> None:
        self.pg = dialect.is_postgres(engine)
        self.key = "article_id" if self.pg else "rowid"  # search_fts's article id column

    def query(self, q: str, *, any_term: bool = False, drop_stopwords: bool = False) -> str | None:
        make = ts_query if self.pg else fts_query
        return make(q, any_term=any_term, drop_stopwords=drop_stopwords)

    def match(self) -> str:
        if self.pg:
            return "search_fts.tsv @@ to_tsquery('simple', :match)"
        return "search_fts MATCH :match"

    def score(self) -> str:
        """Lower is better on both (bm25 is negative; ts_rank is negated)."""
        if self.pg:
            return f"-ts_rank('{TS_WEIGHTS}', search_fts.tsv, to_tsquery('simple', :match))"
        return f"bm25(search_fts, {BM25_WEIGHTS})"

    def joined(self, join: str) -> str:
        if self.pg:
            return f"FROM search_fts JOIN search_docs d ON d.article_id = search_fts.article_id {join}"
        # CROSS JOIN keeps the full-text query as the outer loop, run once: with an indexed
        # filter (language, origin, stars) SQLite would otherwise run MATCH once per row.
        return f"FROM search_fts CROSS JOIN search_docs d ON d.article_id = search_fts.rowid {join}"

    def insert(self) -> str:
        if self.pg:
            return (
                "INSERT INTO search_fts (article_id, title, summary, keywords, themes, items, tsv) "
                "VALUES (:id, :title, :summary, :keywords, :themes, :items, "
                "setweight(to_tsvector('simple', :f_title), 'A') || "
                "setweight(to_tsvector('simple', :f_keywords), 'B') || "
                "setweight(to_tsvector('simple', :f_summary || ' ' || :f_themes), 'C') || "
                "setweight(to_tsvector('simple', :f_items), 'D'))"
            )
        return (
            "INSERT INTO search_fts (rowid, title, summary, keywords, themes, items) "
            "VALUES (:id, :title, :summary, :keywords, :themes, :items)"
        )

    def row(self, article_id: int, cols: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": article_id, **cols}
        if self.pg:
            # Folded like the query terms: PostgreSQL's 'simple' configuration keeps diacritics.
            out.update({f"f_{k}": " ".join(_fold(w) for w in _TOKEN.findall(v)) for k, v in cols.items()})
        return out


def _ids(sql: str) -> Any:
    """A statement whose `:ids` is a list (an IN over any number of ids, on either engine)."""
    return text(sql).bindparams(bindparam("ids", expanding=True))


def _fold(word: str) -> str:
    """Case and diacritics dropped, as the FTS5 tokenizer (unicode61, remove_diacritics 2) does."""
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(ch)
    )


def query_words(q: str) -> list[str]:
    """The words of a query, folded: what a snippet highlights (as prefixes, like the search)."""
    return [_fold(w) for w in _TOKEN.findall(q)]


def make_snippet(texts: Sequence[str | None], words: Sequence[str], size: int = 26) -> str | None:
    """About `size` words around the first match in the first text that has one, matched words
    between MARK_START and MARK_END (the page escapes the text, then marks them)."""
    if not words:
        return None
    for text_ in texts:
        if not text_:
            continue
        parts = re.findall(r"\w+|\W+", text_)
        is_word = [bool(_TOKEN.fullmatch(p)) for p in parts]
        hit = [w and any(_fold(p).startswith(q) for q in words) for p, w in zip(parts, is_word, strict=True)]
        if not any(hit):
            continue
        positions = [i for i, w in enumerate(is_word) if w]
        first = positions.index(hit.index(True))
        lo = max(0, first - size // 3)
        hi = min(len(positions), lo + size)
        start, end = positions[lo], positions[hi - 1]
        body = "".join(
            f"{MARK_START}{parts[i]}{MARK_END}" if hit[i] else parts[i] for i in range(start, end + 1)
        )
        return ("…" if lo > 0 else "") + body + ("…" if hi < len(positions) else "")
    return None


def _bars(values: Iterable[str | None], *, lower: bool = True) -> str:
    """`|a|b|`: a set a filter can test with one instr()."""
    seen: list[str] = []
    for v in values:
        if not v:
            continue
        v = v.strip().replace("|", "/")
        v = v.casefold() if lower else v
        if v and v not in seen:
            seen.append(v)
    return "|" + "|".join(seen) + ("|" if seen else "")


def _index_text(*parts: str | None) -> str:
    return _MARKS.sub(" ", " ".join(p for p in parts if p))


def _doc_date(published: str | None, first_seen: Any) -> str:
    if published:
        m = _ISO_DATE.match(published.strip())
        if m:
            try:
                return date_type(int(m[1]), int(m[2]), int(m[3])).isoformat()
            except ValueError:
                pass
    if first_seen is None:
        return "0000-00-00"
    return str(first_seen)[:10]


@dataclass(frozen=True)
class ArticleFilter:
    """Everything the articles list can be narrowed by; empty fields filter nothing."""

    q: str = ""
    category: str | None = None
    theme: str | None = None
    dimension: str | None = None
    horizon: str | None = None
    language: str | None = None
    origin: str | None = None
    min_relevancy: int | None = None
    date_from: str | None = None  # YYYY-MM-DD, inclusive
    date_to: str | None = None
    evidence: Evidence | None = None  # "found": every item's evidence found; "missing": some not
    curation: CurationFilter | None = None  # None: hidden articles left out
    sort: Sort | None = None  # default: relevance with a query, newest without

    def active(self) -> dict[str, str]:
        """The filters in use, as query parameters (for links and "clear" buttons)."""
        out: dict[str, str] = {}
        for name in (
            "q", "category", "theme", "dimension", "horizon", "language", "origin", "min_relevancy",
            "date_from", "date_to", "evidence", "curation", "sort",
        ):  # fmt: skip
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = str(value)
        return out


@dataclass
class DocHit:
    article_id: int
    title: str
    summary: str
    date: str
    category: str
    type: str
    language: str | None
    origin: str | None
    url: str | None
    themes: list[str]
    dimensions: list[str]
    horizons: list[str]
    relevancy: int
    items: int
    unverified: int
    starred: bool = False
    hidden: bool = False
    note: str | None = None
    snippet: str | None = None  # with MARK_START / MARK_END around matched words
    score: float = 0.0


@dataclass
class ResultPage:
    hits: list[DocHit]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.hits) < self.total


@dataclass
class Facets:
    categories: list[tuple[str, int]] = field(default_factory=list)
    languages: list[tuple[str, int]] = field(default_factory=list)
    origins: list[tuple[str, int]] = field(default_factory=list)
    themes: list[tuple[str, int]] = field(default_factory=list)
    dimensions: list[tuple[str, int]] = field(default_factory=list)
    horizons: list[tuple[str, int]] = field(default_factory=list)
    total: int = 0
    first_date: str | None = None
    last_date: str | None = None


def _split_bars(value: str | None) -> list[str]:
    return [v for v in (value or "").split("|") if v]


class SearchIndex:
    """Listing, filters and full-text search over `search_docs` / `search_fts`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fts = _Fts(engine)
        self.version = 0  # bumped whenever sync changed rows: callers key their caches on it
        self._facets: tuple[int, Facets] | None = None

    # ----- keeping the index in step -----------------------------------------------------------
    def ensure_triggers(self) -> None:
        if self.fts.pg:
            return  # PostgreSQL alters tables in place: the triggers of migration 0006 stay
        with self.engine.begin() as conn:
            for ddl in TRIGGERS:
                conn.exec_driver_sql(ddl)

    def reindex_all(self) -> int:
        """Queue every article, then sync (after a restore or a manual edit of the database)."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                dialect.insert_ignore_sql(conn, "search_dirty", "article_id", "SELECT id FROM articles")
            )
        return self.sync()

    def pending(self) -> bool:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT 1 FROM search_dirty LIMIT 1").first() is not None

    def sync(self, batch: int = 1000) -> int:
        """Rebuild the rows of queued articles; returns how many were processed."""
        if not self.pending():
            return 0
        done = 0
        while True:
            with self.engine.begin() as conn:
                ids = [
                    int(r[0])
                    for r in conn.execute(
                        text("SELECT article_id FROM search_dirty ORDER BY article_id LIMIT :n"), {"n": batch}
                    )
                ]
                if not ids:
                    break
                self._rebuild(conn, ids)
                conn.execute(_ids("DELETE FROM search_dirty WHERE article_id IN :ids"), {"ids": ids})
            done += len(ids)
        self.version += 1
        self._facets = None
        return done

    def _rebuild(self, conn: Connection, ids: Sequence[int]) -> None:
        params = {"ids": list(ids)}
        conn.execute(_ids(f"DELETE FROM search_fts WHERE {self.fts.key} IN :ids"), params)
        conn.execute(_ids("DELETE FROM search_docs WHERE article_id IN :ids"), params)
        arts = conn.execute(
            _ids(
                "SELECT id, text_hash, title, url, published, first_seen, language, origin_label "
                "FROM articles WHERE id IN :ids AND status = 'analyzed' AND text_hash IS NOT NULL"
            ),
            params,
        ).all()
        if not arts:
            return
        hashes = sorted({a.text_hash for a in arts})
        best: dict[str, Any] = {}
        for r in conn.execute(
            text(
                "SELECT id, text_hash, title, summary, keywords, themes, category, type, language "
                "FROM analyses WHERE text_hash IN :hashes ORDER BY id"
            ).bindparams(bindparam("hashes", expanding=True)),
            {"hashes": hashes},
        ):
            best[r.text_hash] = r  # the newest analysis per text, as Store.views picks
        analysis_ids = [r.id for r in best.values()]
        items: dict[int, list[Any]] = {}
        if analysis_ids:
            for it in conn.execute(
                _ids(
                    "SELECT analysis_id, name, description, change, ten_year, driving_force, evidence, "
                    "evidence_found, relevancy, dimension, horizon "
                    "FROM items WHERE analysis_id IN :ids ORDER BY analysis_id, position"
                ),
                {"ids": analysis_ids},
            ):
                items.setdefault(it.analysis_id, []).append(it)
        import json

        docs: list[dict[str, Any]] = []
        fts: list[dict[str, Any]] = []
        for a in arts:
            an = best.get(a.text_hash)
            if an is None:
                continue
            keywords = json.loads(an.keywords) if isinstance(an.keywords, str) else list(an.keywords)
            themes = json.loads(an.themes) if isinstance(an.themes, str) else list(an.themes)
            its = items.get(an.id, [])
            docs.append(
                {
                    "article_id": a.id,
                    "analysis_id": an.id,
                    "date": _doc_date(a.published, a.first_seen),
                    "title": an.title,
                    "summary": an.summary,
                    "category": an.category,
                    "type": an.type,
                    "language": an.language or a.language,
                    "origin": a.origin_label,
                    "url": a.url,
                    "themes": _bars(themes),
                    "dimensions": _bars(i.dimension for i in its),
                    "horizons": _bars((i.horizon for i in its), lower=False),
                    "relevancy": max((int(i.relevancy) for i in its), default=0),
                    "items": len(its),
                    "unverified": sum(1 for i in its if not i.evidence_found),
                }
            )
            items_text = " ".join(
                _index_text(i.name, i.description, i.change, i.ten_year, i.driving_force, i.evidence)
                for i in its
            )
            title = an.title if not a.title or a.title == an.title else f"{an.title} — {a.title}"
            fts.append(
                self.fts.row(
                    a.id,
                    {
                        "title": _index_text(title),
                        "summary": _index_text(an.summary),
                        "keywords": _index_text(*keywords),
                        "themes": _index_text(*themes),
                        "items": items_text,
                    },
                )
            )
        if docs:
            conn.execute(
                text(
                    "INSERT INTO search_docs (article_id, analysis_id, date, title, summary, category, type, "
                    "language, origin, url, themes, dimensions, horizons, relevancy, items, unverified) "
                    "VALUES (:article_id, :analysis_id, :date, :title, :summary, :category, :type, "
                    ":language, :origin, :url, :themes, :dimensions, :horizons, :relevancy, :items, "
                    ":unverified)"
                ),
                docs,
            )
            conn.execute(text(self.fts.insert()), fts)

    # ----- reading ----------------------------------------------------------------------------
    def _where(self, f: ArticleFilter) -> tuple[list[str], dict[str, Any]]:
        cond: list[str] = []
        p: dict[str, Any] = {}
        if f.category:
            cond.append("d.category = :category")
            p["category"] = f.category
        if f.language:
            cond.append("d.language = :language")
            p["language"] = f.language
        if f.origin:
            cond.append("d.origin = :origin")
            p["origin"] = f.origin
        if f.theme:
            cond.append(dialect.contains(self.engine, "d.themes", ":theme"))
            p["theme"] = "|" + f.theme.strip().casefold().replace("|", "/") + "|"
        if f.dimension:
            cond.append(dialect.contains(self.engine, "d.dimensions", ":dimension"))
            p["dimension"] = "|" + f.dimension.strip().casefold() + "|"
        if f.horizon:
            cond.append(dialect.contains(self.engine, "d.horizons", ":horizon"))
            p["horizon"] = "|" + f.horizon.strip().upper() + "|"
        if f.min_relevancy is not None:
            cond.append("d.relevancy >= :min_relevancy")
            p["min_relevancy"] = int(f.min_relevancy)
        if f.date_from:
            cond.append("d.date >= :date_from")
            p["date_from"] = f.date_from
        if f.date_to:
            cond.append("d.date <= :date_to")
            p["date_to"] = f.date_to
        if f.evidence == "found":
            cond.append("d.unverified = 0")
        elif f.evidence == "missing":
            cond.append("d.unverified > 0")
        if f.curation == "starred":
            cond.append("c.starred = true AND coalesce(c.hidden, false) = false")
        elif f.curation == "noted":
            cond.append("c.note IS NOT NULL")
        elif f.curation == "hidden":
            cond.append("c.hidden = true")
        elif f.curation != "all":
            cond.append("coalesce(c.hidden, false) = false")
        return cond, p

    def search(self, f: ArticleFilter, *, limit: int = 50, offset: int = 0) -> ResultPage:
        """One page of articles matching the filter, and how many match in all."""
        self.sync()
        cond, p = self._where(f)
        match = self.fts.query(f.q) if f.q.strip() else None
        cols = (
            "d.article_id, d.title, d.summary, d.date, d.category, d.type, d.language, d.origin, d.url, "
            "d.themes, d.dimensions, d.horizons, d.relevancy, d.items, d.unverified, "
            "coalesce(c.starred, false) AS starred, coalesce(c.hidden, false) AS hidden, c.note AS note"
        )
        join = "LEFT JOIN curation_articles c ON c.article_id = d.article_id"
        sort = f.sort or ("relevance" if match else "newest")
        order = {
            "newest": "d.date DESC, d.article_id DESC",
            "oldest": "d.date ASC, d.article_id ASC",
            "relevance": "score ASC, d.date DESC" if match else "d.date DESC, d.article_id DESC",
        }[sort]
        p.update(limit=max(1, min(limit, 500)), offset=max(0, offset))
        if match:
            p["match"] = match
            where = " AND ".join([self.fts.match(), *cond])
            base = f"{self.fts.joined(join)} WHERE {where}"
            sql = (
                f"SELECT d.article_id AS article_id, {self.fts.score()} AS score {base} "
                f"ORDER BY {order} LIMIT :limit OFFSET :offset"
            )
        else:
            where = " AND ".join(cond) or "1 = 1"
            base = f"FROM search_docs d {join} WHERE {where}"
            sql = (
                f"SELECT {cols}, NULL AS snip, 0.0 AS score {base} "
                f"ORDER BY {order} LIMIT :limit OFFSET :offset"
            )
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql), p).all()
            if len(rows) < p["limit"] and (rows or p["offset"] == 0):
                total = p["offset"] + len(rows)
            else:
                count_p = {k: v for k, v in p.items() if k not in ("limit", "offset")}
                total = int(conn.execute(text(f"SELECT count(*) {base}"), count_p).scalar_one())
            if match and rows:
                # Columns and snippets for the page's rows only. The snippets are cut here, not by
                # FTS5's snippet(), which re-tokenizes each document (2-3 ms a row).
                scores = {int(r.article_id): float(r.score) for r in rows}
                marks = ",".join(str(i) for i in scores)
                full = {
                    int(r.article_id): r
                    for r in conn.execute(
                        text(f"SELECT {cols}, NULL AS snip, 0.0 AS score FROM search_docs d {join} "
                             f"WHERE d.article_id IN ({marks})")
                    )
                }  # fmt: skip
                key = self.fts.key
                texts = {
                    int(r[0]): (r[1], r[2], r[3], r[4])
                    for r in conn.execute(
                        text(
                            f"SELECT {key}, summary, items, keywords, themes FROM search_fts "
                            f"WHERE {key} IN ({marks})"
                        )
                    )
                }
                words = query_words(f.q)
                hits = []
                for aid, score in scores.items():
                    if aid in full:
                        hit = self._hit(full[aid])
                        hit.snippet, hit.score = make_snippet(texts.get(aid, ()), words), score
                        hits.append(hit)
                return ResultPage(hits, total, p["offset"], p["limit"])
        return ResultPage([self._hit(r) for r in rows], total, p["offset"], p["limit"])

    @staticmethod
    def _hit(r: Any) -> DocHit:
        return DocHit(
            article_id=int(r.article_id), title=r.title, summary=r.summary, date=r.date,
            category=r.category, type=r.type, language=r.language, origin=r.origin, url=r.url,
            themes=_split_bars(r.themes), dimensions=_split_bars(r.dimensions),
            horizons=_split_bars(r.horizons), relevancy=int(r.relevancy), items=int(r.items),
            unverified=int(r.unverified), starred=bool(r.starred), hidden=bool(r.hidden), note=r.note,
            snippet=r.snip, score=float(r.score or 0.0),
        )  # fmt: skip

    def docs(self, article_ids: Iterable[int]) -> dict[int, DocHit]:
        """Index rows of these articles (hidden ones included): titles and facets for lists."""
        self.sync()
        wanted = list(dict.fromkeys(article_ids))
        out: dict[int, DocHit] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                rows = conn.execute(
                    _ids(
                        "SELECT d.*, coalesce(c.starred, false) AS starred, "
                        "coalesce(c.hidden, false) AS hidden, c.note AS note, NULL AS snip, 0.0 AS score "
                        "FROM search_docs d "
                        "LEFT JOIN curation_articles c ON c.article_id = d.article_id "
                        "WHERE d.article_id IN :ids"
                    ),
                    {"ids": chunk},
                ).all()
                out.update({int(r.article_id): self._hit(r) for r in rows})
        return out

    def facets(self) -> Facets:
        """Values (and counts) the filters offer; cached until the index changes."""
        self.sync()
        if self._facets is not None and self._facets[0] == self.version:
            return self._facets[1]
        cats: Counter[str] = Counter()
        langs: Counter[str] = Counter()
        origins: Counter[str] = Counter()
        themes: Counter[str] = Counter()
        dims: Counter[str] = Counter()
        hors: Counter[str] = Counter()
        first = last = None
        n = 0
        with self.engine.connect() as conn:
            for r in conn.exec_driver_sql(
                "SELECT category, language, origin, themes, dimensions, horizons, date FROM search_docs"
            ):
                n += 1
                cats[r.category] += 1
                if r.language:
                    langs[r.language] += 1
                if r.origin:
                    origins[r.origin] += 1
                themes.update(_split_bars(r.themes))
                dims.update(_split_bars(r.dimensions))
                hors.update(_split_bars(r.horizons))
                if r.date and r.date != "0000-00-00":
                    first = r.date if first is None or r.date < first else first
                    last = r.date if last is None or r.date > last else last
        facets = Facets(
            categories=sorted(cats.items()),
            languages=sorted(langs.items()),
            origins=sorted(origins.items(), key=lambda t: t[0].casefold()),
            themes=sorted(themes.most_common(300), key=lambda t: t[0]),
            dimensions=sorted(dims.items()),
            horizons=sorted(hors.items()),
            total=n,
            first_date=first,
            last_date=last,
        )
        self._facets = (self.version, facets)
        return facets

    # ----- retrieval for questions -------------------------------------------------------------
    def retrieve(
        self, question: str, *, limit: int = 20, include_hidden: bool = False
    ) -> list[tuple[int, float]]:
        """Articles whose text shares words with a question (any word, stopwords dropped), best
        first, as (article id, bm25 score; lower is better)."""
        self.sync()
        match = self.fts.query(question, any_term=True, drop_stopwords=True)
        if match is None:
            return []
        hidden = (
            ""
            if include_hidden
            else (
                "AND NOT EXISTS (SELECT 1 FROM curation_articles c "
                f"WHERE c.article_id = search_fts.{self.fts.key} AND c.hidden = true)"
            )
        )
        sql = (
            f"SELECT {self.fts.key}, {self.fts.score()} AS score FROM search_fts "
            f"WHERE {self.fts.match()} {hidden} ORDER BY score, {self.fts.key} LIMIT :limit"
        )
        with self.engine.connect() as conn:
            return [
                (int(r[0]), float(r[1])) for r in conn.execute(text(sql), {"match": match, "limit": limit})
            ]

    def nearest(
        self, vector: np.ndarray, limit: int, *, include_hidden: bool = False
    ) -> list[tuple[int, float]] | None:
        """Indexed articles closest to `vector` (cosine), best first, found by pgvector's HNSW
        index; None without pgvector (then `article_vectors` serves an in-process search)."""
        from horizonscan.store.signatures import SignatureRepo

        self.sync()
        near = SignatureRepo(self.engine).nearest(vector, max(limit * 4, 40))
        if near is None:
            return None
        if not near:
            return []
        cos = dict(near)
        hidden = (
            ""
            if include_hidden
            else "AND NOT EXISTS (SELECT 1 FROM curation_articles c WHERE c.article_id = d.article_id "
            "AND c.hidden = true)"
        )
        sql = text(
            "SELECT d.article_id, a.text_hash FROM search_docs d JOIN articles a ON a.id = d.article_id "
            f"WHERE a.text_hash IN :hashes {hidden} ORDER BY d.article_id"
        ).bindparams(bindparam("hashes", expanding=True))
        with self.engine.connect() as conn:
            rows = conn.execute(sql, {"hashes": list(cos)}).all()
        hits = sorted(((int(a), cos[h]) for a, h in rows), key=lambda t: (-t[1], t[0]))
        return hits[:limit]

    def article_vectors(self, *, include_hidden: bool = False) -> tuple[list[int], np.ndarray]:
        """(article ids, one L2-normalised row each) of indexed articles that have a signature."""
        self.sync()
        hidden = (
            ""
            if include_hidden
            else (
                "WHERE NOT EXISTS (SELECT 1 FROM curation_articles c WHERE c.article_id = d.article_id "
                "AND c.hidden = true)"
            )
        )
        ids: list[int] = []
        rows: list[np.ndarray] = []
        with self.engine.connect() as conn:
            for r in conn.exec_driver_sql(
                "SELECT d.article_id, s.vector, s.dim FROM search_docs d "
                "JOIN articles a ON a.id = d.article_id JOIN signatures s ON s.text_hash = a.text_hash "
                f"{hidden} ORDER BY d.article_id"
            ):
                vec = np.frombuffer(r.vector, dtype=np.float32)[: int(r.dim)]
                ids.append(int(r.article_id))
                rows.append(vec)
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.stack(rows)
