"""The corpus as the trends stage counts it: items of current analyses, and documents.

A *document* is what a trend counts: the articles that carry one text (same text hash), a
near-duplicate's copied analysis (`analyses.reused_from`), or an identical analysis (same English
title and summary: a copy whose link was not recorded) are one document, dated by its earliest
article and credited to the site of its first article only: ten copies of one press release,
wherever they were posted, are one document from one source.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import numpy as np

from horizonscan.similarity.neardup import DEFAULT_JACCARD, jaccard
from horizonscan.similarity.text import word_shingles
from horizonscan.store.trends import AnalysisRecord, ArticleRecord, ItemRecord, TrendRepository
from horizonscan.trends.dates import article_date

LOCAL_SITE = "(local files)"


def site_of(url: str | None, origin: str | None) -> str:
    """The site an article counts for: its domain (without www.), else its origin, else local."""
    if url:
        rest = url.strip().split("//", 1)[-1] if "//" in url else ""
        host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
        if host.startswith("["):  # IPv6 literal
            host = host[1:].split("]", 1)[0]
        elif ":" in host:  # a port
            host = host.rsplit(":", 1)[0]
        host = host.lower().rstrip(".")
        if host:
            return host[4:] if host.startswith("www.") else host
    if origin:
        return f"origin: {origin.strip()}"
    return LOCAL_SITE


@dataclass
class ItemArrays:
    ids: np.ndarray  # sorted item ids
    doc: np.ndarray  # position of each item's document
    dimension: np.ndarray  # index in STEEP+V order, -1 for none
    horizon: np.ndarray  # 0 H1, 1 H2, 2 H3, -1 for none


@dataclass
class Document:
    id: int  # its first article's id
    date: datetime
    site: str
    articles: list[int] = field(default_factory=list)
    origins: set[str] = field(default_factory=set)
    analysis_id: int = 0


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.setdefault(root, root) != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class TrendCorpus:
    analyses: dict[int, AnalysisRecord]  # by analysis id
    items: list[ItemRecord]  # items of each document's analysis, by id
    articles: dict[int, ArticleRecord]
    documents: dict[int, Document]
    doc_of_analysis: dict[int, int]  # a document's analysis id → document id
    now: datetime

    @cached_property
    def item_by_id(self) -> dict[int, ItemRecord]:
        return {i.id: i for i in self.items}

    def document_of(self, item: ItemRecord) -> Document:
        return self.documents[self.doc_of_analysis[item.analysis_id]]

    def item_arrays(self, doc_pos: dict[int, int]) -> ItemArrays:
        """Items as sorted id, document position, dimension and horizon codes (for numpy)."""
        dims = {
            "social": 0,
            "technological": 1,
            "economic": 2,
            "environmental": 3,
            "political": 4,
            "values": 5,
        }
        hors = {"H1": 0, "H2": 1, "H3": 2}
        n = len(self.items)
        return ItemArrays(
            ids=np.fromiter((i.id for i in self.items), dtype=np.int64, count=n),
            doc=np.fromiter((doc_pos[self.doc_of_analysis[i.analysis_id]] for i in self.items), np.int64, n),
            dimension=np.fromiter((dims.get(i.dimension or "", -1) for i in self.items), np.int64, n),
            horizon=np.fromiter((hors.get(i.horizon or "", -1) for i in self.items), np.int64, n),
        )

    @property
    def latest(self) -> datetime | None:
        """The newest document date: the default reference date of the life cycle."""
        return max((d.date for d in self.documents.values()), default=None)

    @classmethod
    def load(cls, repo: TrendRepository, *, now: datetime | None = None) -> TrendCorpus:
        now = now or datetime.now(UTC).replace(tzinfo=None)
        analyses = {a.id: a for a in repo.current_analyses()}
        all_items = repo.current_items()
        by_hash = {a.text_hash: a for a in analyses.values()}
        articles = {a.id: a for a in repo.articles() if a.text_hash in by_hash}
        uf = _UnionFind()
        hash_of_article = {a.id: a.text_hash for a in articles.values()}
        # Identical analyses of different texts are copies whose link was not recorded: same title
        # and summary first (cheap), then the same items (only for those that share both).
        same_text: dict[tuple[str, str], list[AnalysisRecord]] = {}
        for a in analyses.values():
            uf.find(a.text_hash)
            same_text.setdefault((a.title.strip().lower(), a.summary.strip().lower()), []).append(a)
            if a.reused_from is not None and a.reused_from in hash_of_article:
                uf.union(a.text_hash, hash_of_article[a.reused_from])
        suspects = {a.id for group in same_text.values() if len(group) > 1 for a in group}
        if suspects:
            parts: dict[int, list[str]] = {}
            for it in all_items:  # by id: the items' order in their analysis
                if it.analysis_id in suspects:
                    parts.setdefault(it.analysis_id, []).append(
                        f"{it.kind}\0{it.name}\0{it.description}\0{it.evidence}"
                    )
            for group in same_text.values():
                first_of: dict[str, str] = {}
                for a in group if len(group) > 1 else ():
                    key = hashlib.sha256("\n".join(parts.get(a.id, [])).encode()).hexdigest()
                    uf.union(a.text_hash, first_of.setdefault(key, a.text_hash))
        # Near-duplicate texts analyzed apart (in one batch, neither knew the other yet).
        pairs = [(x, y) for x, y in repo.near_duplicate_candidates() if x in by_hash and y in by_hash]
        pairs = [(x, y) for x, y in pairs if uf.find(x) != uf.find(y)]
        if pairs:
            texts = repo.texts({h for pair in pairs for h in pair})
            shingles = {h: word_shingles(t) for h, t in texts.items()}
            for x, y in pairs:
                if x in shingles and y in shingles and jaccard(shingles[x], shingles[y]) >= DEFAULT_JACCARD:
                    uf.union(x, y)
        groups: dict[str, list[ArticleRecord]] = {}
        for art in articles.values():
            groups.setdefault(uf.find(art.text_hash), []).append(art)
        documents: dict[int, Document] = {}
        doc_of_hash: dict[str, int] = {}
        for members in groups.values():
            dated = sorted(
                ((article_date(m.published, m.first_seen), m.id, m) for m in members), key=lambda t: t[:2]
            )
            first: ArticleRecord = dated[0][2]
            doc = Document(
                id=first.id,
                date=min(dated[0][0], now),
                site=site_of(first.url, first.origin_label),
                articles=sorted(m.id for m in members),
                origins={m.origin_label for m in members if m.origin_label},
                analysis_id=by_hash[first.text_hash].id,
            )
            documents[doc.id] = doc
            for art in members:
                doc_of_hash[art.text_hash] = doc.id
        # A document's items are those of its first article's analysis: its copies' analyses
        # repeat them.
        doc_of_analysis = {d.analysis_id: d.id for d in documents.values()}
        items = [i for i in all_items if i.analysis_id in doc_of_analysis]
        return cls(analyses, items, articles, documents, doc_of_analysis, now)
