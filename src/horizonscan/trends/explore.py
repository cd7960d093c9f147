"""`explore "topic"`: the items, articles and trends most relevant to a topic, and a cited digest.

Retrieval fuses two rankings of every current item (reciprocal rank fusion, k = 60): the cosine
between the topic and the item's "name: description" vector (multilingual, so a topic in any
language finds English items), and BM25 over the item's words and its article's English title
and keywords. Items below `MIN_COSINE` with no keyword hit are not relevant. Articles are ranked
by their best item; the best `MAX_SOURCES` are numbered and sent, with their matching items, in
one LLM call whose answer cites them. Nothing relevant: no call, and the page says so.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable

import numpy as np

from horizonscan.config import Settings
from horizonscan.models import CitedSource, ExploreHit, ExploreOutput, ExploreReport, TrendMember
from horizonscan.similarity.embed import Embedder
from horizonscan.store import Store
from horizonscan.store.trends import ItemRecord, TrendRepository
from horizonscan.trends import llm
from horizonscan.trends.config import TrendSettings
from horizonscan.trends.corpus import TrendCorpus
from horizonscan.trends.engine import item_vectors, overview
from horizonscan.trends.interpret import brief

MIN_COSINE = 0.30
MAX_ITEMS = 25
MAX_SOURCES = 12
RRF_K = 60
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "new",
        "how",
        "what",
        "why",
        "who",
    ]
)


def tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def bm25(query: list[str], docs: list[list[str]], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 of every document for the query words."""
    n = len(docs)
    if not n or not query:
        return np.zeros(n)
    df: Counter[str] = Counter()
    for d in docs:
        df.update(set(d))
    avg = sum(len(d) for d in docs) / n or 1.0
    scores = np.zeros(n)
    wanted = set(query)
    for i, d in enumerate(docs):
        tf = Counter(w for w in d if w in wanted)
        for w, f in tf.items():
            idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
            scores[i] += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(d) / avg))
    return scores


def _ranks(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """1-based rank of each score among the valid ones (inf for the others)."""
    out = np.full(len(scores), np.inf)
    idx = np.nonzero(valid)[0]
    order = idx[np.argsort(-scores[idx], kind="stable")]
    out[order] = np.arange(1, len(order) + 1)
    return out


async def explore(
    store: Store,
    settings: Settings,
    topic: str,
    *,
    trend_settings: TrendSettings,
    embedder: Embedder,
    refresh: bool = False,
    log: Callable[[str], None] | None = None,
) -> ExploreReport:
    topic = " ".join(topic.split())
    if not topic:
        raise ValueError('give a topic, e.g. horizonscan explore "heat pumps"')
    repo = TrendRepository(store.engine)
    corpus = TrendCorpus.load(repo)
    report = ExploreReport(topic=topic)
    items = corpus.items
    if not items:
        return report.model_copy(update={"note": "The corpus has no analyzed items yet."})
    vecs = item_vectors(repo, embedder, items, log=log)
    cos = vecs @ embedder.embed([topic])[0]
    words = tokens(topic)
    keywords = repo.keywords(corpus.doc_of_analysis)
    item_docs = []
    for it in items:
        a = corpus.analyses[it.analysis_id]
        extra = " ".join(keywords.get(it.analysis_id, []))
        item_docs.append(tokens(f"{it.name} {it.description} {it.evidence} {a.title} {extra}"))
    kw = bm25(words, item_docs)
    relevant = (cos >= MIN_COSINE) | (kw > 0)
    if not relevant.any():
        return report.model_copy(
            update={
                "note": f"Nothing in the corpus is close to \u201c{topic}\u201d (best cosine "
                f"{float(cos.max()):.2f}, no keyword match). No LLM call was made."
            }
        )
    fused = np.where(
        relevant, 1 / (RRF_K + _ranks(cos, relevant)) + 1 / (RRF_K + _ranks(kw, relevant & (kw > 0))), 0.0
    )
    best = [int(i) for i in np.argsort(-fused, kind="stable") if relevant[i]][:MAX_ITEMS]
    members = repo.members()
    ov = overview(repo, trend_settings, corpus=corpus)
    views = {t.id: t for t in ov.trends}
    hits = [
        ExploreHit(
            member=_member(corpus, items[i]),
            trend_id=members.get(items[i].id),
            score=round(float(fused[i]), 5),
            cosine=round(float(cos[i]), 4),
            keyword=round(float(kw[i]), 3),
        )
        for i in best
    ]
    trend_hits = Counter(h.trend_id for h in hits if h.trend_id in views)
    trends = [brief(views[t], n) for t, n in trend_hits.most_common(8) if t is not None]
    doc_score: dict[int, float] = defaultdict(float)
    doc_items: dict[int, list[str]] = defaultdict(list)
    for h in hits:
        doc_score[h.member.document_id] = max(doc_score[h.member.document_id], h.score)
        doc_items[h.member.document_id].append(f"{h.member.kind}: {h.member.name}: {h.member.description}")
    chosen = sorted(doc_score, key=lambda d: (-doc_score[d], d))[:MAX_SOURCES]
    sources: list[CitedSource] = []
    blocks: list[str] = []
    for n, doc_id in enumerate(chosen, 1):
        doc = corpus.documents[doc_id]
        a = corpus.analyses[doc.analysis_id]
        art = corpus.articles[doc_id]
        src = CitedSource(
            number=n,
            article_id=doc_id,
            title=a.title,
            url=art.url,
            site=doc.site,
            date=doc.date,
            language=art.language,
        )
        sources.append(src)
        blocks.append(llm.source_lines(src, a.summary, doc_items[doc_id]))
    report = report.model_copy(update={"items": hits, "sources": sources, "trends": trends})
    req, repair, version = llm.request(
        "explore", ExploreOutput, blocks={"topic": topic, "sources": "\n\n".join(blocks)}, count=len(sources)
    )
    key = llm.input_hash(
        version, settings.llm, [(s.article_id, corpus.documents[s.article_id].analysis_id) for s in sources]
    )
    cache_key = topic.lower()
    cached = repo.report("explore", cache_key)
    if cached is not None and cached.input_hash == key and not refresh:
        stored = ExploreReport.model_validate(cached.output)
        return report.model_copy(
            update={
                "summary": stored.summary,
                "signals": stored.signals,
                "questions": stored.questions,
                "model": stored.model,
                "cached": True,
            }
        )

    def parse(text: str) -> ExploreOutput:
        return llm.parse_json(text, ExploreOutput)

    from horizonscan.llm.client import LLMFailure
    from horizonscan.llm.limits import BudgetExceeded

    try:
        out, model = await llm.call(store, settings, req, parse, repair, purpose="trend-explore", log=log)
    except (LLMFailure, BudgetExceeded) as exc:
        return report.model_copy(update={"note": f"No digest: {exc}"})
    n = len(sources)
    report = report.model_copy(
        update={
            "summary": llm.check_points(out.summary, n),
            "signals": llm.check_points(out.signals, n),
            "questions": llm.check_points(out.questions, n),
            "model": model,
        }
    )
    repo.save_report(
        "explore", cache_key, key, report.model_dump(mode="json"), model=model, prompt_version=version
    )
    return report


def _member(corpus: TrendCorpus, item: ItemRecord) -> TrendMember:
    doc = corpus.document_of(item)
    art = corpus.articles[doc.id]
    return TrendMember(
        item_id=item.id,
        article_id=doc.id,
        document_id=doc.id,
        copies=[a for a in doc.articles if a != doc.id],
        kind=item.kind,
        name=item.name,
        description=item.description,
        evidence=item.evidence,
        evidence_found=item.evidence_found,
        relevancy=item.relevancy,
        dimension=item.dimension,
        horizon=item.horizon,
        date=doc.date,
        title=corpus.analyses[item.analysis_id].title,
        url=art.url,
        site=doc.site,
        origin=art.origin_label,
        language=art.language,
    )
