"""The similarity stage over the stored corpus: signatures, near-duplicates, neighbours, stories.

Signatures are computed once per text hash and stored. Stories are grouped incrementally in
first-seen order: articles already placed keep their story, and each new article joins the
best-scoring story among its nearest earlier articles when the score reaches the threshold
(see `stories.py`). Changing the threshold regroups everything, since earlier choices depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from horizonscan.similarity.embed import Embedder, get_embedder
from horizonscan.similarity.index import VectorIndex
from horizonscan.similarity.neardup import DEFAULT_JACCARD, jaccard, near_duplicate_key
from horizonscan.similarity.pairs import (
    ArticleSignature,
    PairScorer,
    build_signatures,
    get_scorer,
    score_signature_pairs,
)
from horizonscan.similarity.stories import StoryGrouper
from horizonscan.similarity.text import entity_tokens, word_shingles
from horizonscan.store import Store
from horizonscan.store.schema import SignatureRow

EMBED_BATCH = 256


def _blob(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float32).tobytes()


def _vec(b: bytes, dim: int) -> np.ndarray:
    return np.frombuffer(b, dtype=np.float32).reshape(-1, dim)


def to_row(text_hash: str, sig: ArticleSignature, embedder: str) -> SignatureRow:
    return SignatureRow(
        text_hash=text_hash,
        embedder=embedder,
        dim=int(sig.vector.shape[-1]),
        vector=_blob(sig.vector),
        chunk_vectors=_blob(sig.chunk_vectors),
        title_vector=_blob(sig.title_vector),
        entities=sorted(sig.entities),
        numbers=sorted(sig.numbers),
        urls=sorted(sig.urls),
        lang=sig.lang,
        length=sig.length,
    )


def from_row(row: SignatureRow, english: str | None = None) -> ArticleSignature:
    return ArticleSignature(
        vector=_vec(row.vector, row.dim)[0],
        chunk_vectors=_vec(row.chunk_vectors, row.dim),
        title_vector=_vec(row.title_vector, row.dim)[0],
        entities=frozenset(row.entities),
        numbers=frozenset(row.numbers),
        urls=frozenset(row.urls),
        lang=row.lang,
        length=row.length,
        english_entities=entity_tokens(english) if english else frozenset(),
    )


def ensure_signatures(
    store: Store, *, embedder: Embedder | None = None, log: Callable[[str], None] | None = None
) -> int:
    """Compute and store the signatures of texts that have none (or another embedder's)."""
    articles = store.articles.articles_with_text()
    emb = embedder or get_embedder()
    rows = store.signatures.signature_rows([h for _, h, _ in articles])
    have = {h for h, row in rows.items() if row.embedder == emb.name}
    langs: dict[str, str | None] = {}
    for _, h, lang in articles:
        if h not in have:
            langs.setdefault(h, lang)
    if not langs:
        return 0
    if log and len(langs) > 50:
        log(f"Embedding {len(langs)} articles for similarity and stories …")
    hashes = list(langs)
    for i in range(0, len(hashes), EMBED_BATCH):
        part = hashes[i : i + EMBED_BATCH]
        texts = store.articles.texts(part)
        part = [h for h in part if h in texts]
        sigs = build_signatures([texts[h] for h in part], [langs[h] for h in part], embedder=emb)
        store.signatures.add_signature_rows(to_row(h, s, emb.name) for h, s in zip(part, sigs, strict=True))
    return len(hashes)


def add_signatures(store: Store, docs: Sequence[tuple[str, str, str | None]], *, embedder: Embedder) -> int:
    """Store the signatures of these (text hash, text, language) that have none for `embedder`.

    The batch calls this as documents arrive, while it waits on the provider, so that
    `ensure_signatures` after the last answer finds them done."""
    rows = store.signatures.signature_rows([h for h, _, _ in docs])
    todo: dict[str, tuple[str, str | None]] = {}
    for h, text, lang in docs:
        row = rows.get(h)
        if row is None or row.embedder != embedder.name:
            todo.setdefault(h, (text, lang))
    if not todo:
        return 0
    texts, langs = [t for t, _ in todo.values()], [lang for _, lang in todo.values()]
    sigs = build_signatures(texts, langs, embedder=embedder)
    store.signatures.add_signature_rows(to_row(h, s, embedder.name) for h, s in zip(todo, sigs, strict=True))
    return len(todo)


def find_near_duplicate(
    store: Store,
    text_hash: str,
    text: str,
    candidates_with: set[str],
    *,
    min_bands: int = 2,
    max_checks: int = 3,
) -> str | None:
    """The text hash of an earlier near-duplicate among `candidates_with` (e.g. analyzed texts).

    Candidates must share `min_bands` LSH bands (expected 16·J⁴ for Jaccard J: about 4 at the
    0.7 duplicate threshold, 1 at 0.5), and only the best `max_checks` are verified exactly,
    so boilerplate-heavy corpora do not turn this into a scan.
    """
    keys = near_duplicate_key(text)
    store.signatures.add_neardup_keys(text_hash, keys)
    if not candidates_with:
        return None
    counts = store.signatures.neardup_candidates(keys)
    found = sorted(
        (h for h, n in counts.items() if n >= min_bands and h in candidates_with and h != text_hash),
        key=lambda h: (-counts[h], h),
    )[:max_checks]
    if not found:
        return None
    texts = store.articles.texts(found)
    mine = word_shingles(text)
    for other in found:
        if other in texts and jaccard(mine, word_shingles(texts[other])) >= DEFAULT_JACCARD:
            return other
    return None


@dataclass
class Corpus:
    """Stored vectors in first-seen order, ready for neighbour search."""

    article_ids: list[int]
    text_hashes: list[str]
    index: VectorIndex
    signatures: dict[str, ArticleSignature]

    @classmethod
    def load(cls, store: Store) -> Corpus:
        articles = store.articles.articles_with_text()
        rows = store.signatures.signature_rows([h for _, h, _ in articles])
        english = store.analyses.english_of(rows)
        articles = [a for a in articles if a[1] in rows]
        dim = next(iter(rows.values())).dim if rows else 512
        sigs = {h: from_row(r, english.get(h)) for h, r in rows.items()}
        index = VectorIndex(dim)
        if articles:
            index.add([a for a, _, _ in articles], np.stack([sigs[h].vector for _, h, _ in articles]))
        return cls([a for a, _, _ in articles], [h for _, h, _ in articles], index, sigs)

    def signature_of(self, article_id: int) -> ArticleSignature | None:
        try:
            return self.signatures[self.text_hashes[self.article_ids.index(article_id)]]
        except ValueError:
            return None

    def neighbours(
        self,
        sig: ArticleSignature,
        k: int,
        *,
        exclude_id: int | None = None,
        scorer: PairScorer | None = None,
    ) -> list[tuple[int, float]]:
        """The k most similar stored articles, by calibrated same-story score (cosine shortlist)."""
        if not self.article_ids:
            return []
        pool = min(len(self.article_ids), max(k * 4, 20))
        exclude = None
        if exclude_id is not None and exclude_id in self.article_ids:
            exclude = np.array([self.article_ids.index(exclude_id)])
        pos, _cos = self.index.search(sig.vector[None, :], pool, exclude=exclude)
        cands = [int(p) for p in pos[0] if p >= 0]
        if not cands:
            return []
        others = [self.signatures[self.text_hashes[p]] for p in cands]
        scores = score_signature_pairs([sig] * len(others), others, scorer)
        ranked = sorted(zip(cands, scores, strict=True), key=lambda t: -t[1])[:k]
        return [(self.article_ids[p], float(s)) for p, s in ranked]

    def closest_all(self, k: int = 5, *, min_score: float = 0.2) -> dict[int, list[tuple[int, float]]]:
        """Every article's k nearest others (one batched scoring call for the whole corpus)."""
        n = len(self.article_ids)
        if n < 2:
            return {}
        pos, _cos = self.index.search(self.index.vectors, min(k + 1, n), exclude=np.arange(n))
        pairs = [(i, int(j)) for i in range(n) for j in pos[i] if j >= 0]
        sigs = [self.signatures[h] for h in self.text_hashes]
        scores = score_signature_pairs([sigs[i] for i, _ in pairs], [sigs[j] for _, j in pairs])
        out: dict[int, list[tuple[int, float]]] = {}
        for (i, j), s in zip(pairs, scores, strict=True):
            if s >= min_score:
                out.setdefault(self.article_ids[i], []).append((self.article_ids[j], float(s)))
        for lst in out.values():
            lst.sort(key=lambda t: -t[1])
            del lst[k:]
        return out


@dataclass
class StoryUpdate:
    stories: dict[int, list[int]]  # story id → article ids, first-seen order
    added: int
    regrouped: bool
    threshold: float
    corpus: Corpus


def update_stories(
    store: Store,
    *,
    threshold: float | None = None,
    k: int = 10,
    embedder: Embedder | None = None,
    log: Callable[[str], None] | None = None,
) -> StoryUpdate:
    """Place every article that has no story yet; regroup all when the threshold changed."""
    ensure_signatures(store, embedder=embedder, log=log)
    corpus = Corpus.load(store)
    scorer = get_scorer()
    thr = scorer.threshold if threshold is None else threshold
    members = store.stories.story_members()
    regroup = store.meta.get("story_threshold") != f"{thr:.6f}"
    grouper = StoryGrouper(thr, k=k, dim=corpus.index.dim, scorer=scorer)
    ids = corpus.article_ids
    vectors = corpus.index.vectors
    sigs: Sequence[ArticleSignature] = [corpus.signatures[h] for h in corpus.text_hashes]
    start = 0
    if not regroup:
        # Articles already placed keep their story: replay them as they were decided.
        while start < len(ids) and ids[start] in members:
            start += 1
        if start:
            grouper.seed(ids[:start], vectors[:start], sigs[:start], [members[i] for i in ids[:start]])
    placed = grouper.add_batch(ids[start:], vectors[start:], sigs[start:]) if start < len(ids) else []
    new_members = {a: cast(int, s) for a, s in zip(ids[start:], placed, strict=True)}
    if regroup:
        store.stories.set_story_members(new_members, replace=True)
        store.meta.set("story_threshold", f"{thr:.6f}")
    elif new_members:
        store.stories.set_story_members(new_members)
    stories: dict[int, list[int]] = {}
    for a, s in store.stories.story_members().items():
        stories.setdefault(s, []).append(a)
    order = {a: i for i, a in enumerate(ids)}
    for members_list in stories.values():
        members_list.sort(key=lambda a: order.get(a, a))
    return StoryUpdate(
        stories=stories, added=len(new_members), regrouped=regroup, threshold=thr, corpus=corpus
    )
