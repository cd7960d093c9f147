"""Trends, radar, review and explore pages, read through the trends stage's own functions.

The trends stage (`horizonscan.trends`, `store/trends.py`, `publish/charts.py`) owns clustering,
life cycles, reports and charts; this module only adapts them for the templates and caches the
overview until the trends change (the stage's own signature, kept in its meta table). Where the
stage has computed nothing yet, the pages say so and name the command that fills them. Reviews
and explorations cost an LLM call: the pages show the cached ones, and make a new one only on a
POST (CSRF-checked), never on a GET.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from horizonscan.config import Settings
from horizonscan.llm.base import ConfigurationError
from horizonscan.models import (
    CitedSource,
    Curation,
    ExploreReport,
    RadarView,
    ReviewReport,
    TrendBrief,
    TrendInterpretation,
    TrendsOverview,
    TrendView,
    item_key,
)
from horizonscan.store import Store
from horizonscan.store.curation import CurationRepo

EMPTY_TRENDS = "No trends yet: run `horizonscan trends` to group the corpus's items into trends."
STATUSES = ("strong", "emerging", "weak", "fading", "noise")
SPARK_LEVELS = 8


@dataclass
class TrendsListing:
    trends: list[TrendView]
    message: str | None = None
    statuses: list[tuple[str, int]] = field(default_factory=list)
    overview: TrendsOverview | None = None

    def spark(self, t: TrendView, last: int = 16) -> list[int]:
        """Documents per period, as 0..SPARK_LEVELS classes (the page draws them with CSS)."""
        counts = [p.documents for p in t.periods][-last:]
        top = max(counts, default=0)
        return [0 if top == 0 else max(1 if c else 0, round(SPARK_LEVELS * c / top)) for c in counts]


@dataclass
class TrendPage:
    view: TrendView
    interpretation: TrendInterpretation | None
    curation: dict[tuple[int, str], Curation]
    period_days: int

    @property
    def sources(self) -> dict[int, CitedSource]:
        return {s.number: s for s in self.interpretation.sources} if self.interpretation else {}

    def member_curation(self, article_id: int, kind: str, name: str) -> Curation:
        return self.curation.get((article_id, item_key(kind, name)), Curation())


@dataclass
class RadarPage:
    view: RadarView | None
    message: str | None = None
    ring: str = "status"


@dataclass
class ReportPage:
    """A review or an exploration: the cached report, or why there is none yet."""

    report: ReviewReport | ExploreReport | None = None
    message: str | None = None
    can_run: bool = False

    @property
    def sources(self) -> dict[int, CitedSource]:
        return {s.number: s for s in self.report.sources} if self.report else {}


class TrendsView:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._chart_lock = threading.Lock()  # pyplot is not thread-safe
        self._overview: tuple[str | None, TrendsOverview] | None = None
        self._charts: dict[tuple[str | None, str], bytes] = {}

    # ----- plumbing ---------------------------------------------------------------------------
    def _trend_settings(self) -> Any:
        from horizonscan.trends import load_trend_settings

        return load_trend_settings(self.settings)

    def _signature(self) -> str | None:
        from horizonscan.store.trends import TrendRepository

        return TrendRepository(self.store.engine).meta("signature")

    def overview(self) -> TrendsOverview | None:
        """Every trend, as of the newest article; None when there is none (or no trends stage)."""
        from horizonscan.trends import load_overview

        sig = self._signature()
        with self._lock:
            if self._overview is not None and self._overview[0] == sig:
                return self._overview[1]
        ov = load_overview(self.store, self._trend_settings())
        with self._lock:
            self._overview = (sig, ov)
            self._charts.clear()
        return ov if ov.trends else None

    # ----- pages ------------------------------------------------------------------------------
    def listing(self, *, status: str | None = None, dimension: str | None = None) -> TrendsListing:
        from horizonscan.trends import filter_trends, rank

        ov = self.overview()
        if ov is None:
            return TrendsListing(trends=[], message=EMPTY_TRENDS)
        counts: Counter[str] = Counter(t.status for t in ov.trends)
        chosen = filter_trends(
            ov.trends, status={status} if status else None, dimension={dimension} if dimension else None
        )
        return TrendsListing(
            trends=rank(chosen),
            statuses=[(s, counts[s]) for s in STATUSES if counts[s]],
            overview=ov,
            message=None if chosen else "No trend has this status and dimension.",
        )

    def listing_json(self, *, status: str | None = None, dimension: str | None = None) -> dict[str, Any]:
        data = self.listing(status=status, dimension=dimension)
        return {
            "message": data.message,
            "as_of": data.overview.as_of.isoformat() if data.overview else None,
            "period": data.overview.period if data.overview else None,
            "trends": [t.model_dump(mode="json", exclude={"members"}) for t in data.trends],
        }

    def trend(self, trend_id: int) -> TrendPage | None:
        from horizonscan.trends import trend_detail

        if self.overview() is None:
            return None
        ts = self._trend_settings()
        found = trend_detail(self.store, trend_id, ts)
        if found is None:
            return None
        view, interpretation = found
        cur = CurationRepo(self.store.engine).items({m.article_id for m in view.members})
        return TrendPage(view, interpretation, cur, ts.period_days)

    def trend_json(self, trend_id: int) -> dict[str, Any] | None:
        page = self.trend(trend_id)
        if page is None:
            return None
        out: dict[str, Any] = page.view.model_dump(mode="json")
        out["interpretation"] = page.interpretation.model_dump(mode="json") if page.interpretation else None
        return out

    def timeline_svg(self, trend_id: int) -> bytes | None:
        from horizonscan.publish.charts import timeline_bytes

        ov = self.overview()
        if ov is None:
            return None
        view = next((t for t in ov.trends if t.id == trend_id), None)
        if view is None:
            return None
        key = (self._signature(), f"timeline-{trend_id}")
        with self._chart_lock:
            if key not in self._charts:
                self._charts[key] = timeline_bytes(view, period_days=ov.period_days, fmt="svg")
            return self._charts[key]

    def radar(self, *, ring: str = "status") -> RadarPage:
        from horizonscan.trends import radar

        ov = self.overview()
        if ov is None:
            return RadarPage(view=None, message=EMPTY_TRENDS, ring=ring)
        view = radar(ov, ring_by="horizon" if ring == "horizon" else "status")
        if not view.entries:
            return RadarPage(
                view=view, ring=ring, message="Every trend is still noise: nothing to place on the radar yet."
            )
        return RadarPage(view=view, ring=ring)

    def radar_svg(self, *, ring: str = "status") -> bytes | None:
        from horizonscan.publish.charts import radar_bytes

        page = self.radar(ring=ring)
        if page.view is None or not page.view.entries:
            return None
        key = (self._signature(), f"radar-{ring}")
        with self._chart_lock:
            if key not in self._charts:
                self._charts[key] = radar_bytes(page.view, fmt="svg")
            return self._charts[key]

    def review(self, period: str | None) -> ReportPage:
        from horizonscan.trends import cached_review

        if not period:
            return ReportPage(message="Choose a period: a year (2026), a quarter (2026-Q4), a month "
                                      "(2026-11) or an ISO week (2026-W47).")  # fmt: skip
        try:
            report = cached_review(self.store, period)
        except ValueError as exc:
            return ReportPage(message=str(exc))
        if report is None:
            return ReportPage(
                message=f"No review of {period} yet. Writing one takes one LLM call "
                f"(or run `horizonscan review --period {period}`).",
                can_run=True,
            )
        return ReportPage(report=report)

    def explore(self, topic: str) -> ReportPage:
        from horizonscan.trends import cached_explore

        report = cached_explore(self.store, topic)
        if report is None:
            return ReportPage(
                message=f"“{topic}” has not been explored yet. Exploring takes one LLM call "
                f'(or run `horizonscan explore "{topic}"`).',
                can_run=True,
            )
        return ReportPage(report=report)

    async def run_review(self, period: str) -> ReportPage:
        from horizonscan.trends import review

        try:
            report = await review(self.store, self.settings, period, trend_settings=self._trend_settings())
        except (ValueError, ConfigurationError) as exc:
            return ReportPage(message=str(exc))
        return ReportPage(report=report)

    async def run_explore(self, topic: str) -> ReportPage:
        from fastapi.concurrency import run_in_threadpool

        from horizonscan.similarity.embed import get_embedder
        from horizonscan.trends import explore

        embedder = await run_in_threadpool(get_embedder, self.settings.embedder)
        try:
            report = await explore(
                self.store, self.settings, topic, trend_settings=self._trend_settings(), embedder=embedder
            )
        except (ValueError, ConfigurationError) as exc:
            return ReportPage(message=str(exc))
        return ReportPage(report=report)

    def trends_of_article(self, article_id: int) -> list[TrendBrief]:
        from horizonscan.trends import trends_of_article

        return trends_of_article(self.store, article_id)
