"""Incremental story grouping: the same news event across articles and languages.

Rule: articles arrive in order (one at a time or in batches). For a new article
we take its ``k`` nearest *earlier* articles by cosine (``VectorIndex``), score
each candidate pair with the calibrated pair model (``PairScorer``; full features
when both articles carry an ``ArticleSignature``, the cosine-only model
otherwise), and the article joins the story of the best-scoring candidate if that
score is >= ``threshold``; otherwise it starts a new story. A story's id is the
id of its first article. Because candidates are restricted to earlier articles
and assignment is sequential, ``add_batch`` gives exactly the result of calling
``add`` once per article while the index is in exact mode (<= 20 000 items;
above that the IVF candidate sets may differ slightly between batchings).

Default threshold (``DEFAULT_STORY_THRESHOLD``): chosen on the SemEval-2022 task 8
training pairs as the score that best separates "same story" (overall <= 2: the
annotators' "very" or "somewhat similar") from the rest - maximum balanced
accuracy over cross-validated scores, see ``bench/calibrate_compare.py``. It is
stored with the model weights (``compare_weights.json``, key ``threshold``).
Current value 0.41 (balanced accuracy 0.834 on 1 283 pairs); with vectors only
(cosine model) it corresponds to an article-vector cosine of about 0.47.
Raise it for tighter, purer stories; lower it to merge more aggressively.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from .index import VectorIndex
from .pairs import ArticleSignature, PairScorer, get_scorer, score_signature_pairs


class StoryGrouper:
    """Assigns articles to stories incrementally (plain ids and vectors, no database)."""

    def __init__(
        self,
        threshold: float | None = None,
        *,
        k: int = 10,
        dim: int = 512,
        scorer: PairScorer | None = None,
        index: VectorIndex | None = None,
    ) -> None:
        self.scorer = scorer or get_scorer()
        self.threshold = self.scorer.threshold if threshold is None else threshold
        self.k = k
        self.index = index or VectorIndex(dim)
        self._sigs: list[ArticleSignature | None] = []
        self._story_pos: list[int] = []  # story (as position of its first member) per position
        self.story_of: dict[Hashable, Hashable] = {}
        self.stories: dict[Hashable, list[Hashable]] = {}

    def __len__(self) -> int:
        return len(self._story_pos)

    def seed(
        self,
        ids: Sequence[Hashable],
        vectors: np.ndarray,
        signatures: Sequence[ArticleSignature | None],
        story_ids: Sequence[Hashable],
    ) -> None:
        """Load articles whose stories were decided before, without deciding again.

        A story id must be the id of an article given earlier in `ids` (its first member).
        """
        pos = self.index.add(list(ids), np.asarray(vectors, dtype=np.float32))
        self._sigs.extend(signatures)
        first: dict[Hashable, int] = {self.index.ids[p]: p for p in range(len(self._story_pos))}
        for p, item_id, sid in zip(pos, ids, story_ids, strict=True):
            first.setdefault(item_id, int(p))
            story_pos = first.get(sid, int(p))
            self._story_pos.append(story_pos)
            real = self.index.ids[story_pos]
            self.story_of[item_id] = real
            self.stories.setdefault(real, []).append(item_id)

    def add(
        self, item_id: Hashable, vector: np.ndarray, signature: ArticleSignature | None = None
    ) -> Hashable:
        """Add one article; return its story id."""
        return self.add_batch([item_id], np.asarray(vector)[None, :], [signature])[0]

    def add_batch(
        self,
        ids: Sequence[Hashable],
        vectors: np.ndarray,
        signatures: Sequence[ArticleSignature | None] | None = None,
        *,
        block: int = 4096,
    ) -> list[Hashable]:
        """Add articles in order; same result as calling ``add`` for each."""
        if signatures is None:
            signatures = [None] * len(ids)
        if len(signatures) != len(ids):
            raise ValueError("signatures and ids differ in length")
        out: list[Hashable] = []
        vectors = np.asarray(vectors, dtype=np.float32)
        for s in range(0, len(ids), block):
            out.extend(self._add_block(ids[s : s + block], vectors[s : s + block], signatures[s : s + block]))
        return out

    def _add_block(
        self, ids: Sequence[Hashable], vectors: np.ndarray, sigs: Sequence[ArticleSignature | None]
    ) -> list[Hashable]:
        pos = self.index.add(list(ids), vectors)
        self._sigs.extend(sigs)
        cand, cos = self.index.search(self.index.vectors[pos], self.k, before=pos)
        scores = self._score_candidates(pos, cand, cos)
        out: list[Hashable] = []
        for row, p in enumerate(pos):
            best_story, best = -1, -np.inf
            for j, sc in zip(cand[row], scores[row], strict=True):
                if j < 0:
                    continue
                if sc > best:
                    best, best_story = sc, self._story_pos[j]
            story = best_story if best >= self.threshold else int(p)
            self._story_pos.append(story)
            sid = self.index.ids[story]
            self.story_of[self.index.ids[p]] = sid
            self.stories.setdefault(sid, []).append(self.index.ids[p])
            out.append(sid)
        return out

    def _score_candidates(self, pos: np.ndarray, cand: np.ndarray, cos: np.ndarray) -> np.ndarray:
        """Pair scores for candidates: cosine-only model, upgraded where both signatures exist.

        The full model is applied to all pairs of a block in one batched call: per pair it
        would cost milliseconds of Python overhead.
        """
        scores = self.scorer.score_cosine(np.where(cand >= 0, cos, 0.0))
        scores[cand < 0] = -np.inf
        where: list[tuple[int, int]] = []
        left: list[ArticleSignature] = []
        right: list[ArticleSignature] = []
        for row, p in enumerate(pos):
            sa = self._sigs[p]
            if sa is None:
                continue
            for c, j in enumerate(cand[row]):
                if j >= 0:
                    sb = self._sigs[j]
                    if sb is not None:
                        where.append((row, c))
                        left.append(sa)
                        right.append(sb)
        if where:
            full = score_signature_pairs(left, right, self.scorer)
            for (row, c), value in zip(where, full, strict=True):
                scores[row, c] = value
        return scores
