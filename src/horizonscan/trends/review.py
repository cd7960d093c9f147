"""`review --period 2024-Q1|2024-03|2024-W07|2024`: what a period brought, with one LLM call.

Counts are of the period's documents (copies count once). Trends are compared as of the end of
the period with the moment before it started: *new* trends were first seen in the period (and
have at least `min_documents`); *rising* ones moved inward on the status rings (noise → weak →
emerging → strong) or kept strong with more documents than in the period before; *fading* ones
became fading, or fell from strong or emerging to weak or noise. New stories are stories (the
same event across articles) whose first article is in the period. The narrative cites the
period's most telling articles: those of new and rising trends first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from horizonscan.config import Settings
from horizonscan.models import CitedSource, ReviewOutput, ReviewReport, StoryBrief, TrendBrief, TrendView
from horizonscan.store import Store
from horizonscan.store.schema import utcnow
from horizonscan.store.trends import TrendRepository
from horizonscan.trends import llm
from horizonscan.trends.config import TrendSettings
from horizonscan.trends.corpus import TrendCorpus
from horizonscan.trends.dates import parse_review_period
from horizonscan.trends.engine import STATUS_RINGS, overview
from horizonscan.trends.interpret import brief

MAX_SOURCES = 24
INWARD = {"noise": 4, "fading": 3, "weak": 2, "emerging": 1, "strong": 0}


async def review(
    store: Store,
    settings: Settings,
    period: str,
    *,
    trend_settings: TrendSettings,
    refresh: bool = False,
    log: Callable[[str], None] | None = None,
) -> ReviewReport:
    """The review of one period (ValueError for a malformed period)."""
    start, end, label = parse_review_period(period)
    repo = TrendRepository(store.engine)
    corpus = TrendCorpus.load(repo)
    docs = [d for d in corpus.documents.values() if start <= d.date < end]
    report = ReviewReport(period=label, start=start, end=end)
    last_moment = min(end - timedelta(seconds=1), corpus.now)  # a period still under way: now
    after = overview(repo, trend_settings, corpus=corpus, as_of=last_moment, with_members=True)
    before = overview(repo, trend_settings, corpus=corpus, as_of=start - timedelta(seconds=1))
    was = {t.id: t for t in before.trends}
    in_period: dict[int, set[int]] = defaultdict(set)  # trend → its documents in the period
    prior: dict[int, set[int]] = defaultdict(set)  # ... in the period of the same length before
    span = end - start
    for t in after.trends:
        for m in t.members:
            if start <= m.date < end:
                in_period[t.id].add(m.document_id)
            elif start - span <= m.date < start:
                prior[t.id].add(m.document_id)
    active = [t for t in after.trends if in_period[t.id]]
    new = [t for t in active if t.first_seen >= start and t.documents >= trend_settings.min_documents]
    rising: list[TrendView] = []
    fading: list[TrendView] = []
    for t in active:
        old = was.get(t.id)
        if t in new or old is None:
            continue
        moved_in = INWARD[t.status] < INWARD[old.status] and t.status in STATUS_RINGS
        busier = t.status == old.status == "strong" and len(in_period[t.id]) > len(prior[t.id])
        if moved_in or busier:
            rising.append(t)
    for t in after.trends:
        old = was.get(t.id)
        if old is None:
            continue
        if (t.status == "fading" and old.status != "fading") or (
            old.status in ("strong", "emerging") and t.status in ("weak", "noise")
        ):
            fading.append(t)

    def briefs(trends: list[TrendView]) -> list[TrendBrief]:
        """Ranked by activity in the period; `previous_status` is the status before it began."""
        ranked = sorted(trends, key=lambda t: (-len(in_period[t.id]), -t.popularity, t.id))
        out = []
        for t in ranked:
            before_status = was[t.id].status if t.id in was else None
            out.append(brief(t, len(in_period[t.id])).model_copy(update={"previous_status": before_status}))
        return out

    sites = {d.site for d in docs}
    report = report.model_copy(
        update={
            "counts": {
                "articles": sum(len(d.articles) for d in docs),
                "documents": len(docs),
                "sources": len(sites),
                "items": sum(1 for i in corpus.items if start <= corpus.document_of(i).date < end),
                "active_trends": len(active),
                "new_trends": len(new),
                "rising_trends": len(rising),
                "fading_trends": len(fading),
            },
            "new_trends": briefs(new),
            "rising": briefs(rising),
            "fading": briefs(fading),
            "new_stories": _new_stories(repo, corpus, start, end),
        }
    )
    if not docs:
        return report.model_copy(update={"note": f"No article is dated in {label}: nothing to review."})
    # The most telling documents: of new and rising trends first, then of the most active trends.
    weight: dict[int, float] = defaultdict(float)
    for group, w in ((new, 3.0), (rising, 2.0), (active, 1.0)):
        for t in group:
            for doc_id in in_period[t.id]:
                weight[doc_id] += w
    chosen = sorted(docs, key=lambda d: (-weight[d.id], d.date, d.id))[:MAX_SOURCES]
    chosen.sort(key=lambda d: (d.date, d.id))
    sources: list[CitedSource] = []
    blocks: list[str] = []
    items_of: dict[int, list[str]] = defaultdict(list)
    for item in corpus.items:
        line = f"{item.kind}: {item.name}: {item.description}"
        items_of[corpus.doc_of_analysis[item.analysis_id]].append(line)
    for n, d in enumerate(chosen, 1):
        a = corpus.analyses[d.analysis_id]
        art = corpus.articles[d.id]
        src = CitedSource(
            number=n,
            article_id=d.id,
            title=a.title,
            url=art.url,
            site=d.site,
            date=d.date,
            language=art.language,
        )
        sources.append(src)
        blocks.append(llm.source_lines(src, a.summary, items_of[d.id][:6]))
    c = report.counts
    facts = [
        f"Period {label}: {c['documents']} articles ({c['articles']} with copies) from {c['sources']} "
        f"sources; {c['active_trends']} active trends.",
        "New trends: " + ("; ".join(f"{t.name} ({t.status})" for t in report.new_trends[:8]) or "none"),
        "Rising trends: " + ("; ".join(f"{t.name} ({t.status})" for t in report.rising[:8]) or "none"),
        "Fading trends: " + ("; ".join(f"{t.name} ({t.status})" for t in report.fading[:8]) or "none"),
        "New stories: " + ("; ".join(s.title for s in report.new_stories[:8]) or "none"),
    ]
    req, repair, version = llm.request(
        "review",
        ReviewOutput,
        blocks={"facts": "\n".join(facts), "sources": "\n\n".join(blocks)},
        period=label,
        count=len(sources),
    )
    key = llm.input_hash(version, settings.llm, [(d.id, d.analysis_id) for d in chosen], facts)
    report = report.model_copy(update={"sources": sources})
    cached = repo.report("review", label)
    if cached is not None and cached.input_hash == key and not refresh:
        stored = ReviewReport.model_validate(cached.output)
        return report.model_copy(
            update={
                "headline": stored.headline,
                "narrative": stored.narrative,
                "watch": stored.watch,
                "model": stored.model,
                "cached": True,
            }
        )

    def parse(text: str) -> ReviewOutput:
        return llm.parse_json(text, ReviewOutput)

    from horizonscan.llm.client import LLMFailure
    from horizonscan.llm.limits import BudgetExceeded

    try:
        out, model = await llm.call(store, settings, req, parse, repair, purpose="trend-review", log=log)
    except (LLMFailure, BudgetExceeded) as exc:
        return report.model_copy(update={"note": f"No narrative: {exc}"})
    n = len(sources)
    report = report.model_copy(
        update={
            "headline": out.headline,
            "narrative": llm.check_points(out.narrative, n),
            "watch": llm.check_points(out.watch, n),
            "model": model,
        }
    )
    repo.save_report(
        "review", label, key, report.model_dump(mode="json"), model=model, prompt_version=version
    )
    return report


def _new_stories(
    repo: TrendRepository, corpus: TrendCorpus, start: datetime, end: datetime
) -> list[StoryBrief]:
    """Stories of two documents or more whose first article is dated in the period."""
    story_of = repo.story_of()
    doc_of_article = {a: d.id for d in corpus.documents.values() for a in d.articles}
    members: dict[int, set[int]] = defaultdict(set)
    for article, story in story_of.items():
        if article in doc_of_article:
            members[story].add(doc_of_article[article])
    out: list[StoryBrief] = []
    for story, doc_ids in members.items():
        docs = sorted((corpus.documents[d] for d in doc_ids), key=lambda d: (d.date, d.id))
        if len(docs) < 2 or not start <= docs[0].date < end:
            continue
        langs = sorted({lang for d in docs if (lang := corpus.articles[d.id].language)})
        out.append(
            StoryBrief(
                id=story,
                title=corpus.analyses[docs[0].analysis_id].title,
                articles=len(docs),
                languages=langs,
                first_seen=docs[0].date,
            )
        )
    out.sort(key=lambda s: (-s.articles, s.first_seen or utcnow(), s.id))
    return out
