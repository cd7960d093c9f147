"""What each page shows, read from the store: one object per page, shared by the web app, its
JSON API and the static site, so the three never disagree."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from horizonscan.models import Analysis, ArticleView, CheckedItem, Curation, TrendBrief, item_key
from horizonscan.store import Store
from horizonscan.store.curation import CurationRepo
from horizonscan.store.search import DocHit, SearchIndex

KINDS: tuple[tuple[str, str], ...] = (
    ("signal", "Signals"),
    ("behavior", "Behaviors"),
    ("technology", "Technologies"),
    ("issue", "Issues"),
)


@dataclass
class ItemView:
    item: CheckedItem
    key: str
    curation: Curation

    @property
    def kind(self) -> str:
        return self.item.kind


@dataclass
class Section:
    kind: str
    label: str
    items: list[ItemView]


@dataclass
class Neighbour:
    article_id: int
    title: str
    score: float
    language: str | None
    url: str | None
    analyzed: bool  # has a page of its own
    starred: bool = False


@dataclass
class StoryRef:
    id: int
    title: str
    members: list[DocHit]


@dataclass
class ArticlePage:
    view: ArticleView
    analysis: Analysis
    doc: DocHit | None
    text: str | None
    curation: Curation
    sections: list[Section]
    closest: list[Neighbour]
    story: StoryRef | None
    trends: list[TrendBrief] = field(default_factory=list)

    @property
    def items(self) -> list[ItemView]:
        return [i for s in self.sections for i in s.items]

    def as_json(self) -> dict[str, Any]:
        v, a = self.view, self.analysis
        return {
            "id": v.id,
            "source": v.source,
            "url": v.url,
            "origin": v.origin.model_dump() if v.origin else None,
            "date": self.doc.date if self.doc else None,
            "language": a.language or v.language,
            "title": a.title,
            "summary": a.summary,
            "keywords": a.keywords,
            "themes": a.themes,
            "category": a.category,
            "type": a.type,
            "model": a.model,
            "prompt_version": a.prompt_version,
            "curation": self.curation.as_dict(),
            "items": [
                {**i.item.model_dump(), "key": i.key, "curation": i.curation.as_dict(item=True)}
                for i in self.items
            ],
            "closest": [
                {"article_id": n.article_id, "title": n.title, "score": round(n.score, 4)}
                for n in self.closest
            ],
            "story": {
                "id": self.story.id,
                "title": self.story.title,
                "articles": [m.article_id for m in self.story.members],
            }
            if self.story
            else None,
        }


@dataclass
class StorySummary:
    id: int
    title: str
    members: list[DocHit]
    languages: list[str]
    summary: str | None = None
    starred: int = 0


@dataclass
class MergedView:
    item: CheckedItem
    sources: list[int]  # member numbers (1-based) in the story's source list
    starred: bool


@dataclass
class StoryPage:
    id: int
    title: str
    summary: str | None
    members: list[ArticleView]
    docs: dict[int, DocHit]
    sections: list[tuple[str, str, list[MergedView]]]
    languages: list[str]


def hit_json(h: DocHit) -> dict[str, Any]:
    return {
        "id": h.article_id, "title": h.title, "date": h.date, "summary": h.summary, "category": h.category,
        "type": h.type, "language": h.language, "origin": h.origin, "url": h.url, "themes": h.themes,
        "dimensions": h.dimensions, "horizons": h.horizons, "relevancy": h.relevancy, "items": h.items,
        "unverified_items": h.unverified,
        "curation": {"starred": h.starred, "hidden": h.hidden, "note": h.note},
    }  # fmt: skip


class WebData:
    """Page contents over one Store; small caches keyed on what they depend on."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.search = SearchIndex(store.engine)
        self.curation = CurationRepo(store.engine)
        self._lock = threading.Lock()
        self._closest: tuple[Any, dict[int, list[tuple[int, float]]]] | None = None
        self._merged: OrderedDict[str, list[Any]] = OrderedDict()

    # ----- articles -------------------------------------------------------------------------
    def _closest_map(self) -> dict[int, list[tuple[int, float]]]:
        """Closest articles computed by the corpus stage (meta "closest"), parsed once per change."""
        with self.store.engine.connect() as conn:
            head = conn.execute(
                text("SELECT length(value), substr(value, 1, 120) FROM meta WHERE key = 'closest'")
            ).first()
        if head is None:
            return {}
        key = tuple(head)
        with self._lock:
            if self._closest is not None and self._closest[0] == key:
                return self._closest[1]
        raw = self.store.meta.get("closest")
        data = json.loads(raw) if raw else {}
        parsed = {int(k): [(int(a), float(s)) for a, s in v] for k, v in (data.get("closest") or {}).items()}
        with self._lock:
            self._closest = (key, parsed)
        return parsed

    def story_members_of(self, article_id: int) -> tuple[int, list[int]] | None:
        with self.store.engine.connect() as conn:
            sid = conn.execute(
                text("SELECT story_id FROM story_members WHERE article_id = :a"), {"a": article_id}
            ).scalar()
            if sid is None:
                return None
            members = [
                int(r[0])
                for r in conn.execute(
                    text("SELECT article_id FROM story_members WHERE story_id = :s ORDER BY article_id"),
                    {"s": sid},
                )
            ]
        return int(sid), members

    def article_page(self, article_id: int) -> ArticlePage | None:
        views = self.store.views.articles(article_ids=[article_id])
        if not views or views[0].analysis is None:
            return None
        view = views[0]
        analysis = view.analysis
        assert analysis is not None
        doc_row = self.store.articles.document(article_id)
        item_cur = self.curation.items([article_id])
        sections = []
        for kind, label in KINDS:
            rows = []
            for item in analysis.items:
                if item.kind != kind:
                    continue
                key = item_key(item.kind, item.name)
                rows.append(ItemView(item, key, item_cur.get((article_id, key), Curation())))
            if rows:
                sections.append(Section(kind, label, rows))
        closest_ids = self._closest_map().get(article_id, [])
        story = self.story_members_of(article_id)
        wanted = [a for a, _ in closest_ids] + (story[1] if story else []) + [article_id]
        docs = self.search.docs(wanted)
        closest: list[Neighbour] = []
        missing = [a for a, _ in closest_ids if a not in docs]
        others = (
            {v.id: v for v in self.store.views.articles(only_analyzed=False, article_ids=missing)}
            if missing
            else {}
        )
        for other, score in closest_ids:
            d = docs.get(other)
            if d is not None:
                if d.hidden:
                    continue
                closest.append(Neighbour(other, d.title, score, d.language, d.url, True, d.starred))
            elif other in others:
                o = others[other]
                closest.append(Neighbour(other, o.title or o.source, score, o.language, o.url, False))
        story_ref = None
        if story is not None and len(story[1]) >= 2:
            members = [docs[m] for m in story[1] if m in docs]
            title = self._story_titles({story[0]: story[1]}).get(story[0]) or (
                members[0].title if members else "Story"
            )
            story_ref = StoryRef(story[0], title, members)
        return ArticlePage(
            view=view,
            analysis=analysis,
            doc=docs.get(article_id),
            text=doc_row.text if doc_row else None,
            curation=self.curation.article(article_id),
            sections=sections,
            closest=closest,
            story=story_ref,
        )

    # ----- stories --------------------------------------------------------------------------
    def _story_titles(self, stories: dict[int, list[int]]) -> dict[int, str]:
        """Synthesized titles (`stories --synthesize`) still valid for the current members."""
        from horizonscan.jobs.corpus import members_hash

        if not stories:
            return {}
        out: dict[int, str] = {}
        for sid, r in self.store.stories.story_rows(stories).items():
            if r.title and r.members_hash == members_hash(stories[sid]):
                out[sid] = r.title
        return out

    def stories(self, min_size: int = 2) -> list[StorySummary]:
        """Stories of `min_size` articles or more, the biggest and newest first."""
        groups: dict[int, list[int]] = {}
        with self.store.engine.connect() as conn:
            for sid, aid in conn.execute(
                text(
                    "SELECT story_id, article_id FROM story_members WHERE story_id IN ("
                    "SELECT story_id FROM story_members GROUP BY story_id HAVING count(*) >= :n) "
                    "ORDER BY story_id, article_id"
                ),
                {"n": min_size},
            ):
                groups.setdefault(int(sid), []).append(int(aid))
        docs = self.search.docs(a for m in groups.values() for a in m)
        titles = self._story_titles(groups)
        out = []
        for sid, members in groups.items():
            shown = [docs[a] for a in members if a in docs and not docs[a].hidden]
            if len(shown) < min_size:
                continue
            langs: list[str] = []
            for d in shown:
                if d.language and d.language not in langs:
                    langs.append(d.language)
            out.append(
                StorySummary(
                    id=sid,
                    title=titles.get(sid) or shown[0].title,
                    members=shown,
                    languages=langs,
                    starred=sum(1 for d in shown if d.starred),
                )
            )
        out.sort(key=lambda s: s.title.casefold())
        out.sort(key=lambda s: max(d.date for d in s.members), reverse=True)
        out.sort(key=lambda s: len(s.members), reverse=True)
        return out

    def story_page(self, story_id: int) -> StoryPage | None:
        from horizonscan.jobs.corpus import build_story_views
        from horizonscan.similarity.items import merge_items

        with self.store.engine.connect() as conn:
            members = [
                int(r[0])
                for r in conn.execute(
                    text("SELECT article_id FROM story_members WHERE story_id = :s ORDER BY article_id"),
                    {"s": story_id},
                )
            ]
        if not members:
            return None
        views = {v.id: v for v in self.store.views.articles(only_analyzed=False, article_ids=members)}
        built = build_story_views(self.store, {story_id: members}, views, min_size=1)
        if not built:
            return None
        story = built[0]
        docs = self.search.docs(members)
        cur = self.curation.items(members)
        hidden_articles = {a for a, d in docs.items() if d.hidden}
        items = [
            (aid, item)
            for aid, item in story.items
            if aid not in hidden_articles
            and not cur.get((aid, item_key(item.kind, item.name)), Curation()).hidden
        ]
        key = story.fingerprint + "|" + ",".join(f"{a}:{item_key(i.kind, i.name)}" for a, i in items)
        with self._lock:
            merged = self._merged.get(key)
        if merged is None:
            merged = merge_items(items)
            with self._lock:
                self._merged[key] = merged
                while len(self._merged) > 256:
                    self._merged.popitem(last=False)
        number = {m.id: n for n, m in enumerate(story.members, 1)}
        starred_keys = {k for k, c in cur.items() if c.starred}
        sections: list[tuple[str, str, list[MergedView]]] = []
        for kind, label in KINDS:
            rows = []
            for m in merged:
                if m.item.kind != kind:
                    continue
                key_ = item_key(m.item.kind, m.item.name)
                rows.append(
                    MergedView(
                        m.item,
                        [number[a] for a in m.sources if a in number],
                        any((a, key_) in starred_keys for a in m.sources),
                    )
                )
            if rows:
                sections.append((kind, label, rows))
        return StoryPage(
            id=story_id,
            title=story.title,
            summary=story.summary,
            members=story.members,
            docs=docs,
            sections=sections,
            languages=story.languages,
        )

    # ----- usage ----------------------------------------------------------------------------
    def usage(self, recent: int = 50) -> dict[str, Any]:
        rows = self.store.ledger.usage()
        keys = ("calls", "ok", "failed", "input_tokens", "output_tokens", "cost_usd")
        total = {k: sum(r[k] for r in rows) for k in keys}
        calls = []
        with self.store.engine.connect() as conn:
            for r in conn.execute(
                text(
                    "SELECT created_at, provider, model, purpose, attempt, status, error, input_tokens, "
                    "output_tokens, latency_s, cost_usd FROM llm_calls ORDER BY id DESC LIMIT :n"
                ),
                {"n": recent},
            ):
                calls.append(dict(r._mapping))
            purposes = [
                dict(r._mapping)
                for r in conn.execute(
                    text(
                        "SELECT purpose, count(*) AS calls, sum(input_tokens) AS input_tokens, "
                        "sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd "
                        "FROM llm_calls GROUP BY purpose ORDER BY purpose"
                    )
                )
            ]
        return {"models": rows, "total": total, "recent": calls, "purposes": purposes}
