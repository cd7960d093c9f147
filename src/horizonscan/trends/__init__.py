"""Trends stage: items clustered by meaning across articles, with a life cycle per period.

    store/ → trends/ → publish/ (publish/trends.py, publish/charts.py), web/

What the CLI and the web app call (all take the open `Store`):
* `refresh_trends`  — incremental assignment after a batch (jobs/corpus.py calls it);
* `load_overview`   — every trend as of a date (`TrendsOverview` of `TrendView`s), optionally
                      with members; `filter_trends`, `rank`, `radar` work on it;
* `trend_detail`    — one trend with its members and its cached interpretation, if any;
* `list_trends`, `trends_of_article`, `cached_review`, `cached_explore` — stored results, no
  computation;
* `interpret`, `review`, `explore` — the three one-call LLM reports (async).

Charts are drawn by `publish.charts` (`timeline_bytes`, `radar_bytes`) from these views.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select

from horizonscan.config import Settings
from horizonscan.models import (
    ExploreReport,
    ReviewReport,
    TrendBrief,
    TrendInterpretation,
    TrendsOverview,
    TrendView,
)
from horizonscan.similarity.embed import get_embedder
from horizonscan.store import Store
from horizonscan.store.schema import AnalysisRow, ArticleRow, ItemRow
from horizonscan.store.schema_trends import TrendMemberRow
from horizonscan.store.trends import TrendRepository
from horizonscan.trends.config import TrendConfigError, TrendSettings, load_trend_settings
from horizonscan.trends.engine import TrendUpdate, filter_trends, overview, radar, rank, update_trends
from horizonscan.trends.explore import explore
from horizonscan.trends.interpret import TrendNotFound, interpret
from horizonscan.trends.review import review


def _signature(repo: TrendRepository) -> str:
    """Changes when items, analyses, analyzed articles or memberships change (cheap aggregates)."""
    with repo.engine.connect() as conn:
        parts = [
            conn.execute(select(func.count(ItemRow.id), func.max(ItemRow.id))).one(),
            conn.execute(select(func.max(AnalysisRow.id))).one(),
            conn.execute(
                select(func.count(ArticleRow.id), func.max(ArticleRow.updated_at)).where(
                    ArticleRow.status == "analyzed"
                )
            ).one(),
            conn.execute(select(func.count(TrendMemberRow.item_id))).one(),
        ]
    return repr([tuple(p) for p in parts])


def refresh_trends(
    store: Store,
    settings: Settings,
    *,
    trend_settings: TrendSettings | None = None,
    recluster: bool = False,
    log: Callable[[str], None] | None = None,
) -> TrendUpdate | None:
    """Place new items in trends; None when nothing changed since the last update."""
    repo = TrendRepository(store.engine)
    ts = trend_settings or load_trend_settings(settings)
    embedder = get_embedder(settings.embedder)
    key = f"{_signature(repo)}|{embedder.name}|{ts.model_dump_json()}"
    if not recluster and repo.meta("signature") == key:
        return None
    update = update_trends(repo, embedder, ts, recluster=recluster, log=log)
    repo.set_meta({"signature": f"{_signature(repo)}|{embedder.name}|{ts.model_dump_json()}"})
    return update


def load_overview(
    store: Store,
    trend_settings: TrendSettings,
    *,
    as_of: datetime | None = None,
    with_members: bool | set[int] = False,
    embedder_spec: str | None = None,
) -> TrendsOverview:
    """Every trend as of `as_of` (default: the newest article); members when asked, with their
    cosine to the centroid when an embedder is named."""
    repo = TrendRepository(store.engine)
    emb = get_embedder(embedder_spec) if embedder_spec else None
    return overview(repo, trend_settings, as_of=as_of, with_members=with_members, embedder=emb)


def trend_detail(
    store: Store, trend_id: int, trend_settings: TrendSettings, *, embedder_spec: str | None = None
) -> tuple[TrendView, TrendInterpretation | None] | None:
    """One trend with its members, and its cached interpretation (None if none was made)."""
    ov = load_overview(store, trend_settings, with_members={trend_id}, embedder_spec=embedder_spec)
    view = next((t for t in ov.trends if t.id == trend_id), None)
    if view is None:
        return None
    return view, cached_interpretation(store, trend_id)


def cached_interpretation(store: Store, trend_id: int) -> TrendInterpretation | None:
    """The last interpretation made (it may predate the trend's newest members; see created_at)."""
    row = TrendRepository(store.engine).report("interpret", str(trend_id))
    return TrendInterpretation.model_validate(row.output) if row is not None else None


def cached_review(store: Store, period: str) -> ReviewReport | None:
    """The last review written for a period label (`2024-Q1`, …), without any call."""
    from horizonscan.trends.dates import parse_review_period

    label = parse_review_period(period)[2]
    row = TrendRepository(store.engine).report("review", label)
    return ReviewReport.model_validate(row.output) if row is not None else None


def cached_explore(store: Store, topic: str) -> ExploreReport | None:
    """The last exploration of a topic, without any call."""
    row = TrendRepository(store.engine).report("explore", " ".join(topic.split()).lower())
    return ExploreReport.model_validate(row.output) if row is not None else None


def list_trends(
    store: Store, *, status: set[str] | None = None, dimension: set[str] | None = None
) -> list[TrendBrief]:
    """The stored summaries (as of the last update), strongest first: a fast listing that
    computes nothing (`load_overview` has the timelines and members)."""
    order = {s: i for i, s in enumerate(("strong", "emerging", "weak", "fading", "noise"))}
    rows = TrendRepository(store.engine).trends()
    out = [
        TrendBrief(
            id=r.id,
            name=r.name,
            status=r.status,
            dimension=r.dimension,
            horizon=r.horizon,
            documents=r.documents,
            sources=r.sources,
        )
        for r in rows
        if (not status or r.status in status)
        and (not dimension or (r.dimension or "unclassified") in dimension)
    ]
    pop = {r.id: r.popularity for r in rows}
    out.sort(key=lambda t: (order.get(t.status, 9), -pop.get(t.id, 0.0), t.id))
    return out


def trends_of_article(store: Store, article_id: int) -> list[TrendBrief]:
    """The trends that hold items of an article (as of the last update)."""
    return [
        TrendBrief(id=i, name=name, status=status, dimension=dim)
        for i, name, status, dim in TrendRepository(store.engine).trends_of_article(article_id)
    ]


__all__ = [
    "TrendConfigError",
    "TrendNotFound",
    "TrendSettings",
    "TrendUpdate",
    "cached_explore",
    "cached_interpretation",
    "cached_review",
    "explore",
    "filter_trends",
    "interpret",
    "list_trends",
    "load_overview",
    "load_trend_settings",
    "radar",
    "rank",
    "refresh_trends",
    "review",
    "trend_detail",
    "trends_of_article",
]
