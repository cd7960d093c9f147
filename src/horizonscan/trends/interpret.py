"""`trends interpret ID`: one LLM call over a trend's recent members.

The call is made only when the evidence can carry it: at least `interpret_min_documents`
distinct documents from `interpret_min_sources` distinct sites (defaults 3 and 2); below that
the answer says so and nothing is sent. The most recent `interpret_max_members` documents are
numbered and sent with the items that placed them in the trend; the nearest other trends (by
centroid) are offered for connections. The checked answer is cached until the trend's members
change (or the prompt or model does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from horizonscan.config import Settings
from horizonscan.models import (
    CitedSource,
    TrendBrief,
    TrendInterpretation,
    TrendInterpretationOutput,
    TrendMember,
    TrendView,
)
from horizonscan.similarity.embed import l2_normalise
from horizonscan.store import Store
from horizonscan.store.trends import TrendRepository
from horizonscan.trends import llm
from horizonscan.trends.config import TrendSettings
from horizonscan.trends.corpus import TrendCorpus
from horizonscan.trends.engine import overview

SECTIONS = ("what_is_new", "short_term", "long_term", "optimistic", "pessimistic", "drivers", "inhibitors")
RELATED = 8


class TrendNotFound(LookupError):
    pass


def brief(t: TrendView, period_documents: int = 0) -> TrendBrief:
    return TrendBrief(
        id=t.id,
        name=t.name,
        status=t.status,
        previous_status=t.previous_status,
        dimension=t.dimension,
        horizon=t.horizon,
        documents=t.documents,
        sources=t.sources,
        period_documents=period_documents,
    )


def thin_evidence(t: TrendView, settings: TrendSettings) -> str | None:
    """Why the evidence is too thin for an interpretation, or None."""
    if t.documents < settings.interpret_min_documents or t.sources < settings.interpret_min_sources:
        return (
            f"Too thin to interpret: {t.documents} article(s) from {t.sources} source(s); an "
            f"interpretation needs at least {settings.interpret_min_documents} articles from "
            f"{settings.interpret_min_sources} sources. No LLM call was made."
        )
    return None


def member_sources(
    members: list[TrendMember], limit: int, summaries: dict[int, str]
) -> tuple[list[CitedSource], str]:
    """Number the most recent documents (members come newest first) and write the MEMBERS block."""
    by_doc: dict[int, list[TrendMember]] = defaultdict(list)
    order: list[int] = []
    for m in members:
        if m.document_id not in by_doc:
            order.append(m.document_id)
        by_doc[m.document_id].append(m)
    sources: list[CitedSource] = []
    blocks: list[str] = []
    for n, doc in enumerate(order[:limit], 1):
        first = by_doc[doc][0]
        src = CitedSource(
            number=n,
            article_id=doc,
            title=first.title or first.name,
            url=first.url,
            site=first.site,
            date=first.date,
            language=first.language,
        )
        sources.append(src)
        items = [f"{m.kind}: {m.name}: {m.description} Quote: \u201c{m.evidence}\u201d" for m in by_doc[doc]]
        blocks.append(llm.source_lines(src, summaries.get(doc, ""), items))
    return sources, "\n\n".join(blocks)


def _related(repo: TrendRepository, trend_id: int, views: dict[int, TrendView]) -> list[TrendView]:
    """The nearest other trends that are not noise, by centroid cosine."""
    rows = [r for r in repo.trends() if r.id in views]
    if not rows:
        return []
    ids = [r.id for r in rows]
    cent = l2_normalise(np.stack([r.vector_sum for r in rows]))
    me = cent[ids.index(trend_id)]
    ranked = sorted(zip(ids, cent @ me, strict=True), key=lambda t: -float(t[1]))
    out = [views[i] for i, _ in ranked if i != trend_id and views[i].status != "noise"]
    return out[:RELATED]


async def interpret(
    store: Store,
    settings: Settings,
    trend_id: int,
    *,
    trend_settings: TrendSettings,
    refresh: bool = False,
    log: Callable[[str], None] | None = None,
) -> TrendInterpretation:
    """The interpretation of one trend (cached, thin-evidence refusal; see module docstring)."""
    repo = TrendRepository(store.engine)
    corpus = TrendCorpus.load(repo)
    ov = overview(repo, trend_settings, corpus=corpus, with_members={trend_id})
    views = {t.id: t for t in ov.trends}
    trend = views.get(trend_id)
    if trend is None:
        raise TrendNotFound(f"no trend {trend_id}; see: horizonscan trends")
    result = TrendInterpretation(trend=brief(trend))
    thin = thin_evidence(trend, trend_settings)
    if thin:
        return result.model_copy(update={"thin": thin})
    summaries = {d: corpus.analyses[doc.analysis_id].summary for d, doc in corpus.documents.items()}
    sources, members_block = member_sources(trend.members, trend_settings.interpret_max_members, summaries)
    related = _related(repo, trend_id, views)
    facts = (
        f"Trend {trend.id}: {trend.name}\nStatus: {trend.status}; {trend.documents} articles from "
        f"{trend.sources} sources; first seen {trend.first_seen.date()}, last seen {trend.last_seen.date()}; "
        f"dimension {trend.dimension or 'unknown'}, horizon {trend.horizon or 'unknown'}."
    )
    others = "\n".join(f"T{t.id}: {t.name} ({t.status})" for t in related) or "(none)"
    req, repair, version = llm.request(
        "trend_interpret",
        TrendInterpretationOutput,
        blocks={"trend": facts, "members": members_block, "trends": others},
        count=len(sources),
    )
    member_ids = sorted(m.item_id for m in trend.members)
    key = llm.input_hash(version, settings.llm, member_ids, [t.id for t in related])
    cached = repo.report("interpret", str(trend_id))
    if cached is not None and cached.input_hash == key and not refresh:
        stored = TrendInterpretation.model_validate(cached.output)
        return stored.model_copy(update={"trend": brief(trend), "cached": True})

    def parse(text: str) -> TrendInterpretationOutput:
        return llm.parse_json(text, TrendInterpretationOutput)

    from horizonscan.llm.client import LLMFailure
    from horizonscan.llm.limits import BudgetExceeded

    try:
        out, model = await llm.call(store, settings, req, parse, repair, purpose="trend-interpret", log=log)
    except (LLMFailure, BudgetExceeded) as exc:
        return result.model_copy(update={"sources": sources, "error": str(exc)})
    n = len(sources)
    sections = {
        "what_is_new": llm.check_points(out.what_is_new, n),
        "short_term": llm.check_points(out.short_term, n),
        "long_term": llm.check_points(out.long_term, n),
        "optimistic": llm.check_points([out.optimistic], n),
        "pessimistic": llm.check_points([out.pessimistic], n),
        "drivers": llm.check_points(out.drivers, n),
        "inhibitors": llm.check_points(out.inhibitors, n),
        "connections": llm.check_connections(out.connections, n, {t.id for t in related}),
    }
    from horizonscan.store.schema import utcnow

    done = result.model_copy(
        update={
            "sources": sources,
            "sections": sections,
            "caveat": out.caveat,
            "model": model,
            "created_at": utcnow(),
        }
    )
    repo.save_report(
        "interpret", str(trend_id), key, done.model_dump(mode="json"), model=model, prompt_version=version
    )
    return done


__all__ = ["TrendNotFound", "interpret", "thin_evidence"]
