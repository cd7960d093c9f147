"""Trend pages: the trends index, one page per trend, the radar, period reviews and explorations.

Markdown like the rest of publish/: every string from an article or a model goes through
`inline` (markup escaped, one line) and only http(s) URLs become links. Charts are files beside
the pages (see `charts.py`); their names carry a hash of what they show, so an unchanged chart is
neither redrawn nor re-downloaded, and stale ones are removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from horizonscan.models import (
    CheckedPoint,
    CitedSource,
    ExploreReport,
    RadarView,
    ReviewReport,
    TrendBrief,
    TrendInterpretation,
    TrendMember,
    TrendsOverview,
    TrendView,
)
from horizonscan.publish.charts import ChartFormat, overview_chart, radar_chart, timeline_chart
from horizonscan.publish.markdown import inline, safe_url, slugify
from horizonscan.publish.site import write_if_changed

TRENDS_DIR = "trends"
STATUS_ORDER = ("strong", "emerging", "weak", "fading", "noise")
MOVED = {2: "★ new", 1: "▲ moved in", -1: "▼ moved out", 0: ""}
MAX_NOISE_LISTED = 50
SECTION_TITLES = {
    "what_is_new": "What is new",
    "short_term": "Short-term implications (1-3 years)",
    "long_term": "Long-term implications (5-10 years)",
    "optimistic": "Optimistic scenario",
    "pessimistic": "Pessimistic scenario",
    "drivers": "Drivers",
    "inhibitors": "Inhibitors",
    "connections": "Connections to other trends",
}


def cells_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table of cells that are already safe Markdown (built with `inline`, `link`)."""
    head = "| " + " | ".join(columns) + " |"
    sep = "|" + "|".join(":---" for _ in columns) + "|"
    return "\n".join([head, sep, *("| " + " | ".join(r) + " |" for r in rows)])


def link(text: str, target: str | None) -> str:
    """`[text](target)` with the text escaped; plain escaped text without a target."""
    return f"[{inline(text)}]({target})" if target else inline(text)


class ArticleLinks:
    """Where an article's page is, seen from a sub-folder of the pages folder: our page when it
    has been published there (`publish` names pages `<slug of title>-<id>.md`), else its URL."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._pages = {p.name for p in out.glob("*.md")} if out.is_dir() else set()

    def __call__(self, article_id: int, title: str | None, url: str | None) -> str | None:
        name = f"{slugify(title or 'article')}-{article_id}.md"
        if name in self._pages:
            return f"../{quote(name)}"
        return safe_url(url)


def _date(when: datetime | None) -> str:
    return when.date().isoformat() if when else ""


def trend_file(trend_id: int) -> str:
    return f"trend-{trend_id}.md"


CHART_STYLE = "3"  # bump when the drawing changes, so existing charts are redrawn


def _chart_name(kind: str, payload: str, fmt: ChartFormat) -> str:
    digest = hashlib.sha256(f"{CHART_STYLE}|{payload}".encode()).hexdigest()[:10]
    return f"{kind}-{digest}.{fmt}"


def _facts(t: TrendView) -> str:
    was = f" (was {t.previous_status})" if t.previous_status and t.previous_status != t.status else ""
    parts = [
        f"Status: **{t.status}**{was}",
        f"Dimension: {inline(t.dimension) or 'unclassified'}",
        f"Horizon: {inline(t.horizon) or 'unknown'}",
    ]
    return " · ".join(parts)


def _points(points: Sequence[CheckedPoint], sources: Sequence[CitedSource], links: ArticleLinks) -> list[str]:
    by_number = {s.number: s for s in sources}
    out = []
    for p in points:
        refs = []
        for n in p.cites:
            src = by_number[n]
            target = links(src.article_id, src.title, src.url)
            refs.append(f"[{n}]({target})" if target else f"[{n}]")
        line = f"* {inline(p.text)}"
        if p.trend_id is not None:
            line = f"* [Trend {p.trend_id}]({trend_file(p.trend_id)}): {inline(p.text)}"
        if refs:
            line += " (" + ", ".join(refs) + ")"
        else:
            line += " *(no valid source cited)*"
        if p.dropped:
            line += f" *(removed citation{'s' if len(p.dropped) > 1 else ''} "
            line += ", ".join(str(n) for n in p.dropped) + ": not among the sources)*"
        out.append(line)
    return out


def _sources(sources: Sequence[CitedSource], links: ArticleLinks) -> list[str]:
    lines = []
    for s in sources:
        meta = ", ".join(x for x in (_date(s.date), inline(s.site)) if x)
        lines.append(
            f"{s.number}. {link(s.title, links(s.article_id, s.title, s.url))}"
            + (f" — {meta}" if meta else "")
        )
    return lines


def render_interpretation(
    interp: TrendInterpretation, links: ArticleLinks, *, heading: str = "##"
) -> list[str]:
    out = [f"{heading} Interpretation", ""]
    if interp.thin:
        return [*out, inline(interp.thin), ""]
    if interp.error:
        return [*out, f"No interpretation: {inline(interp.error)}", ""]
    sub = heading + "#"
    for key, title in SECTION_TITLES.items():
        points = interp.sections.get(key, [])
        if points:
            out += [f"{sub} {title}", "", *_points(points, interp.sources, links), ""]
    if interp.caveat:
        out += [f"*Caveat:* {inline(interp.caveat)}", ""]
    out += [f"{sub} Sources", "", *_sources(interp.sources, links), ""]
    stamp = f"By {inline(interp.model)}" if interp.model else ""
    if interp.created_at:
        stamp += f", {_date(interp.created_at)}"
    if stamp:
        out += [f"*{stamp.strip(', ')}.*", ""]
    return out


def _member_rows(members: Sequence[TrendMember], links: ArticleLinks) -> list[list[str]]:
    rows = []
    for m in members:
        article = link(m.title or m.name, links(m.article_id, m.title, m.url))
        if m.copies:
            article += f" (+{len(m.copies)} cop{'ies' if len(m.copies) > 1 else 'y'})"
        found = "" if m.evidence_found else " *(not found in the text)*"
        evidence = f"“{inline(m.evidence)}”{found}" if m.evidence else ""
        rows.append(
            [
                _date(m.date),
                article,
                inline(m.site),
                m.kind,
                f"{inline(m.name)}: {inline(m.description)}",
                evidence,
            ]
        )
    return rows


def render_trend(
    t: TrendView, *, chart: str | None, links: ArticleLinks, interpretation: TrendInterpretation | None = None
) -> str:
    out = [f"# __{inline(t.name)}__", "", _facts(t), ""]
    out += [
        f"{t.documents} article{'s' if t.documents != 1 else ''} from {t.sources} source"
        f"{'s' if t.sources != 1 else ''} ({t.origins} origin{'s' if t.origins != 1 else ''}; "
        f"{', '.join(inline(x) for x in t.languages) or 'language unknown'}); "
        f"first seen {_date(t.first_seen)}, last seen {_date(t.last_seen)}; popularity {t.popularity:.2f}.",
        "",
        "[All trends](index.md) · [Radar](radar.md)",
        "",
    ]
    if chart:
        out += [f"![Timeline of {inline(t.name)}](charts/{quote(chart)})", ""]
    if interpretation is not None:
        out += render_interpretation(interpretation, links)
    active = [p for p in t.periods if p.documents]
    if active:
        out += [
            "## Articles per period",
            "",
            cells_table(
                ("period", "new articles", "sources so far", "popularity", "status"),
                [
                    [p.period, str(p.documents), str(p.sources), f"{p.popularity:.2f}", p.status or ""]
                    for p in active
                ],
            ),
            "",
        ]
    if t.dimensions or t.kinds:
        dims = ", ".join(f"{inline(k)} {v}" for k, v in t.dimensions.items()) or "none given"
        kinds = ", ".join(f"{k} {v}" for k, v in t.kinds.items())
        out += [f"Items: {kinds}. Dimensions: {dims}.", ""]
    if t.members:
        out += [
            "## Members",
            "",
            cells_table(
                ("date", "article", "site", "kind", "item", "evidence"), _member_rows(t.members, links)
            ),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


def _trend_rows(trends: Sequence[TrendView]) -> list[list[str]]:
    return [
        [
            str(t.id),
            link(t.name, trend_file(t.id)),
            inline(t.dimension) or "—",
            inline(t.horizon) or "—",
            str(t.documents),
            str(t.sources),
            _date(t.first_seen),
            _date(t.last_seen),
            MOVED[t.moved],
        ]
        for t in trends
    ]


def render_index(
    ov: TrendsOverview, trends: Sequence[TrendView], *, chart: str | None, filters: str = ""
) -> str:
    counts = {s: sum(1 for t in trends if t.status == s) for s in STATUS_ORDER}
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER)
    out = [
        "# Trends",
        "",
        f"As of {_date(ov.as_of)} (period {ov.period}, {ov.period_days}-day periods): "
        f"{len(trends)} trends — {summary}." + (f" Filters: {inline(filters)}." if filters else ""),
        "",
        "[Radar](radar.md) · strong above the 75th percentile of popularity "
        f"({ov.high_threshold:.2f}), noise below the 10th ({ov.low_threshold:.2f}); rules in the README.",
        "",
    ]
    if chart:
        out += [f"![The most notable trends](charts/{quote(chart)})", ""]
    cols = ("id", "trend", "dimension", "horizon", "articles", "sources", "first seen", "last seen", "moved")
    for status in STATUS_ORDER:
        group = [t for t in trends if t.status == status]
        if not group:
            continue
        out += [f"## {status.capitalize()} ({len(group)})", ""]
        shown = group if status != "noise" else group[:MAX_NOISE_LISTED]
        out += [cells_table(cols, _trend_rows(shown)), ""]
        if len(shown) < len(group):
            out += [f"… and {len(group) - len(shown)} more noise trends, each with its own page here.", ""]
    return "\n".join(out).rstrip() + "\n"


def render_radar(view: RadarView, *, chart: str | None) -> str:
    out = [
        f"# Trend radar — {view.period}",
        "",
        f"Sectors: STEEP+V dimensions. Rings by {view.ring_by}, inner first: {', '.join(view.rings)}. "
        "Markers: ★ new since the previous period, ▲ moved in, ▼ moved out, ● unchanged.",
        "",
        "[All trends](index.md)",
        "",
    ]
    if chart:
        out += [f"![Trend radar](charts/{quote(chart)})", ""]
    for sector in view.sectors:
        entries = [e for e in view.entries if e.sector == sector]
        if not entries:
            continue
        out += [f"## {sector.capitalize()}", ""]
        out += [
            f"{e.number}. {link(e.name, trend_file(e.trend_id))} — {e.ring}"
            + (f" ({e.status})" if view.ring_by == "horizon" else "")
            + (f" {MOVED[e.moved]}" if e.moved else "")
            for e in entries
        ]
        out.append("")
    if not view.entries:
        out += ["No trend is above noise yet.", ""]
    return "\n".join(out).rstrip() + "\n"


def write_trend_pages(
    out: Path,
    ov: TrendsOverview,
    trends: Sequence[TrendView],
    radar: RadarView,
    *,
    ranked: Sequence[TrendView] = (),
    interpretations: dict[int, TrendInterpretation] | None = None,
    chart_format: ChartFormat = "svg",
    filters: str = "",
) -> Path:
    """Write `<out>/trends/`: index.md, radar.md, one trend-<id>.md per trend, and charts/.

    A trend with a single article gets a page without a chart. Pages and charts of trends that
    no longer exist are removed. Returns the index path."""
    folder = out / TRENDS_DIR
    charts = folder / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    links = ArticleLinks(out)
    pdays = ov.period_days
    wanted_charts: set[str] = set()
    wanted_pages = {"index.md", "radar.md"}
    for t in trends:
        chart = None
        if t.documents >= 2 and t.periods:
            payload = f"{t.name}|{t.status}|" + ";".join(
                f"{p.start}:{p.documents}:{p.popularity}:{p.status}" for p in t.periods
            )
            chart = _chart_name(f"trend-{t.id}", payload, chart_format)
            if not (charts / chart).is_file():
                timeline_chart(t, charts / chart, period_days=pdays, fmt=chart_format)
            wanted_charts.add(chart)
        page = trend_file(t.id)
        wanted_pages.add(page)
        interp = (interpretations or {}).get(t.id)
        write_if_changed(folder / page, render_trend(t, chart=chart, links=links, interpretation=interp))
    top = [t for t in ranked if t.status != "noise"][:12]
    overview_name = None
    if top:
        payload = "|".join(
            f"{t.id}:{t.name}:{t.status}:" + ",".join(f"{p.documents}" for p in t.periods) for t in top
        )
        overview_name = _chart_name("overview", payload, chart_format)
        if not (charts / overview_name).is_file():
            overview_chart(top, charts / overview_name, period_days=pdays, fmt=chart_format)
        wanted_charts.add(overview_name)
    radar_name = _chart_name("radar", radar.model_dump_json(), chart_format)
    if not (charts / radar_name).is_file():
        radar_chart(radar, charts / radar_name, fmt=chart_format)
    wanted_charts.add(radar_name)
    write_if_changed(folder / "radar.md", render_radar(radar, chart=radar_name))
    index = folder / "index.md"
    write_if_changed(index, render_index(ov, trends, chart=overview_name, filters=filters))
    for stale in folder.glob("trend-*.md"):
        if stale.name not in wanted_pages:
            stale.unlink()
    for stale in charts.iterdir():
        if stale.name not in wanted_charts:
            stale.unlink()
    return index


def _brief_rows(trends: Sequence[TrendBrief], prefix: str) -> list[list[str]]:
    return [
        [
            link(t.name, f"{prefix}{trend_file(t.id)}"),
            t.status,
            f"{t.previous_status} → {t.status}" if t.previous_status else "new",
            inline(t.dimension) or "—",
            str(t.period_documents),
            str(t.documents),
            str(t.sources),
        ]
        for t in trends
    ]


BRIEF_COLUMNS = ("trend", "status", "change", "dimension", "in period", "articles", "sources")


def render_review(report: ReviewReport, links: ArticleLinks) -> str:
    c = report.counts
    out = [
        f"# Review of {report.period}",
        "",
        f"{_date(report.start)} to {_date(report.end)} (exclusive). "
        + (
            f"{c.get('documents', 0)} articles ({c.get('articles', 0)} with copies) from "
            f"{c.get('sources', 0)} sources, {c.get('items', 0)} items; {c.get('active_trends', 0)} "
            f"active trends, {c.get('new_trends', 0)} new, {c.get('rising_trends', 0)} rising, "
            f"{c.get('fading_trends', 0)} fading."
        ),
        "",
    ]
    if report.headline:
        out += [f"## {inline(report.headline)}", ""]
    if report.narrative:
        out += [*_points(report.narrative, report.sources, links), ""]
    if report.note:
        out += [f"*{inline(report.note)}*", ""]
    prefix = f"../{TRENDS_DIR}/"
    for title, group in (
        ("New trends", report.new_trends),
        ("Rising trends", report.rising),
        ("Fading trends", report.fading),
    ):
        if group:
            out += [f"## {title}", "", cells_table(BRIEF_COLUMNS, _brief_rows(group, prefix)), ""]
    if report.new_stories:
        out += ["## New stories", ""]
        for s in report.new_stories:
            langs = ", ".join(inline(x) for x in s.languages)
            out.append(
                f"* [{inline(s.title)}](../stories/story-{s.id}.md) — {s.articles} articles"
                + (f" ({langs})" if langs else "")
                + (f", from {_date(s.first_seen)}" if s.first_seen else "")
            )
        out.append("")
    if report.watch:
        out += ["## To watch", "", *_points(report.watch, report.sources, links), ""]
    if report.sources:
        out += ["## Sources", "", *_sources(report.sources, links), ""]
    if report.model:
        out += [f"*Narrative by {inline(report.model)}{' (cached)' if report.cached else ''}.*", ""]
    return "\n".join(out).rstrip() + "\n"


def write_review(out: Path, report: ReviewReport) -> Path:
    folder = out / "reviews"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"review-{report.period}.md"
    write_if_changed(path, render_review(report, ArticleLinks(out)))
    return path


def render_explore(report: ExploreReport, links: ArticleLinks) -> str:
    out = [f"# Exploring “{inline(report.topic)}”", ""]
    if report.note:
        out += [f"*{inline(report.note)}*", ""]
    for title, points in (
        ("Digest", report.summary),
        ("Changes", report.signals),
        ("Open questions", report.questions),
    ):
        if points:
            out += [f"## {title}", "", *_points(points, report.sources, links), ""]
    if report.trends:
        out += [
            "## Trends",
            "",
            cells_table(
                ("trend", "status", "change", "dimension", "matching items", "articles", "sources"),
                _brief_rows(report.trends, f"../{TRENDS_DIR}/"),
            ),
            "",
        ]
    if report.items:
        rows = [
            [
                f"{h.score:.4f}",
                f"{h.cosine:.2f}",
                f"{h.keyword:.1f}",
                h.member.kind,
                f"{inline(h.member.name)}: {inline(h.member.description)}",
                link(
                    h.member.title or h.member.name, links(h.member.article_id, h.member.title, h.member.url)
                ),
                _date(h.member.date),
            ]
            for h in report.items
        ]
        out += [
            "## Items",
            "",
            cells_table(("score", "cosine", "keywords", "kind", "item", "article", "date"), rows),
            "",
        ]
    if report.sources:
        out += ["## Sources", "", *_sources(report.sources, links), ""]
    if report.model:
        out += [f"*Digest by {inline(report.model)}{' (cached)' if report.cached else ''}.*", ""]
    return "\n".join(out).rstrip() + "\n"


def write_explore(out: Path, report: ExploreReport) -> Path:
    folder = out / "explore"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(report.topic.lower().encode()).hexdigest()[:6]
    path = folder / f"{slugify(report.topic, 50)}-{digest}.md"
    write_if_changed(path, render_explore(report, ArticleLinks(out)))
    return path


__all__ = [
    "ArticleLinks",
    "render_explore",
    "render_index",
    "render_radar",
    "render_review",
    "render_trend",
    "write_explore",
    "write_review",
    "write_trend_pages",
]
