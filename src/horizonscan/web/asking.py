"""Ask the corpus, end to end: retrieve (full text and embeddings), then one LLM call.

Retrieval fuses two rankings with reciprocal-rank fusion: FTS5 over the English analyses (any
word of the question, stopwords dropped) and the cosine between the question's multilingual
embedding and each article's vector (kept only above MIN_COSINE, so an unrelated question finds
nothing and costs no call). Hidden articles are left out. Each source carries its summary and
the items that share most words with the question, with their evidence quotes.

Lives in web/ (the last stage) because it reads the store and the similarity stage and calls
the analysis stage; `horizonscan ask` uses it too.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi.concurrency import run_in_threadpool

from horizonscan.analysis.ask import answer
from horizonscan.config import Settings
from horizonscan.llm.base import ConfigurationError
from horizonscan.llm.client import LLMClient
from horizonscan.models import AskResult, AskSource, CheckedItem
from horizonscan.store import Store
from horizonscan.store.search import STOPWORDS, SearchIndex

TOP_K = 8
CANDIDATES = 30
RRF_K = 60
# USE cosine between a question and an article vector. On the examples, questions about an
# article scored 0.26-0.70 with it (English questions, French, German, Italian, Spanish texts);
# unrelated questions (a cake recipe, the 1998 world cup, nonsense) at most 0.08 with any.
# Below this an embedding hit alone is not evidence enough to send an article to the model.
MIN_COSINE = 0.20
ITEMS_PER_SOURCE = 6
_WORD = re.compile(r"\w+", re.UNICODE)

ClientFactory = Callable[[Settings], LLMClient]


class _VectorCache:
    """Article vectors, loaded once per change of the index or the signatures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[Any, list[int], np.ndarray]] = {}

    def get(self, store: Store, search: SearchIndex) -> tuple[list[int], np.ndarray]:
        with store.engine.connect() as conn:
            sig = conn.exec_driver_sql("SELECT count(*), max(created_at) FROM signatures").first()
            hidden = conn.exec_driver_sql(
                "SELECT count(*), max(updated_at) FROM curation_articles WHERE hidden = true"
            ).first()
        key = (search.version, tuple(sig or ()), tuple(hidden or ()))
        name = str(store.engine.url)
        with self._lock:
            hit = self._data.get(name)
            if hit is not None and hit[0] == key:
                return hit[1], hit[2]
        ids, mat = search.article_vectors()
        with self._lock:
            self._data[name] = (key, ids, mat)
        return ids, mat


_VECTORS = _VectorCache()


def _words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text) if w.casefold() not in STOPWORDS and len(w) > 2}


def vector_hits(
    store: Store, search: SearchIndex, settings: Settings, question: str, limit: int = CANDIDATES
) -> list[tuple[int, float]]:
    """Articles whose vector is close to the question's, best first, above MIN_COSINE."""
    from horizonscan.similarity.embed import get_embedder

    try:
        embedder = get_embedder(settings.embedder)
        q = embedder.embed([question])[0]
    except (RuntimeError, OSError, ValueError, ImportError):
        return []  # no embeddings (e.g. an unreachable embedding server): full text alone
    near = search.nearest(q.astype(np.float32), limit)  # PostgreSQL + pgvector: its HNSW index
    if near is not None:
        return [(a, s) for a, s in near if s >= MIN_COSINE]
    ids, mat = _VECTORS.get(store, search)
    if not ids:
        return []
    if q.shape[0] != mat.shape[1]:
        return []  # signatures made by another embedder
    sims = mat @ q.astype(np.float32)
    order = np.argsort(-sims)[:limit]
    return [(ids[i], float(sims[i])) for i in order if sims[i] >= MIN_COSINE]


def _item_line(item: CheckedItem) -> str:
    line = f"{item.kind}: {item.name}: {item.description}"
    if item.kind == "signal" and item.change:
        line += f" Change: {item.change}."
    if item.evidence:
        line += f' Quote: "{item.evidence}"'
    return line


def retrieve(
    store: Store, search: SearchIndex, settings: Settings, question: str, *, k: int = TOP_K
) -> list[AskSource]:
    """The k most relevant analyzed articles for a question, numbered 1..k."""
    scores: dict[int, float] = defaultdict(float)
    via: dict[int, list[str]] = defaultdict(list)
    for rank, (aid, _score) in enumerate(search.retrieve(question, limit=CANDIDATES)):
        scores[aid] += 1.0 / (RRF_K + rank)
        via[aid].append("words")
    for rank, (aid, _cos) in enumerate(vector_hits(store, search, settings, question)):
        scores[aid] += 1.0 / (RRF_K + rank)
        via[aid].append("meaning")
    top = sorted(scores, key=lambda a: (-scores[a], -a))[:k]
    if not top:
        return []
    views = {v.id: v for v in store.views.articles(article_ids=top)}
    docs = search.docs(top)
    wanted = _words(question)
    sources: list[AskSource] = []
    for aid in top:
        view = views.get(aid)
        if view is None or view.analysis is None:
            continue
        a = view.analysis
        ranked = sorted(
            a.items,
            key=lambda i: (-len(wanted & _words(f"{i.name} {i.description} {i.change or ''}")), -i.relevancy),
        )
        doc = docs.get(aid)
        sources.append(
            AskSource(
                number=len(sources) + 1,
                article_id=aid,
                title=a.title,
                url=view.url,
                language=a.language or view.language,
                date=doc.date if doc else None,
                summary=a.summary,
                items=[_item_line(i) for i in ranked[:ITEMS_PER_SOURCE]],
                via=via[aid],
            )
        )
    return sources


def _default_client(settings: Settings) -> LLMClient:
    from horizonscan.analysis.analyzer import make_analyzer

    return make_analyzer(settings).client


async def ask_corpus(
    store: Store,
    search: SearchIndex,
    settings: Settings,
    question: str,
    *,
    k: int = TOP_K,
    client_factory: ClientFactory | None = None,
) -> AskResult:
    """Retrieve, then answer with one LLM call (none when nothing relevant was found). The
    sources are returned even when the call fails, with the error."""
    sources = await run_in_threadpool(retrieve, store, search, settings, question, k=k)
    if not sources:
        return AskResult(question=question, sources=[], in_corpus=False)
    try:
        client = (client_factory or _default_client)(settings)
    except ConfigurationError as exc:
        return AskResult(question=question, sources=sources, error=str(exc))
    client.on_call = lambda rec: store.ledger.record_calls([rec])
    try:
        return await answer(client, question, sources)
    finally:
        await client.provider.aclose()
