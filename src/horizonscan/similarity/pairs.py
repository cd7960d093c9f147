"""Calibrated "same story?" score for two news articles in any languages, no LLM.

Score in [0, 1]: the predicted SemEval-2022 task 8 "overall" similarity (1 = very
similar ... 4 = unrelated) mapped linearly so that 1.0 = same story and 0.0 =
unrelated, then clipped. It combines:

* multilingual USE cosines: article vector (mean of the first 2 sentence chunks,
  i.e. headline + lead), first chunk, all chunks (up to 5 x 400 chars), headline,
  and chunk alignment (mean best match / best match between chunk sets);
* language-independent evidence: overlap of name-like tokens (capitalised words,
  acronyms) and numbers; optional English analysis text (title/summary/keywords)
  adds its names to both sides so non-Latin scripts can match too;
* context: same language?, both Latin script?, shorter text length.

A tiny boosted-tree model (``gbm.py``) fitted by ``bench/calibrate_compare.py``
on the SemEval training pairs with 10-fold cross-validation combines them; its
weights ship in ``compare_weights.json`` so nothing is trained at run time.

``compare_jsonl`` errors: a line that is not a JSON object with string "text1"
and "text2" raises ``ValueError("line N: ...")`` (N is 1-based); blank lines are
skipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .embed import Embedder, embed_chunks, get_embedder, l2_normalise, pool_chunks
from .gbm import TinyGBM
from .text import (
    LATIN_LANGS,
    entity_tokens,
    guess_lang,
    number_tokens,
    repair_text,
    title_of,
    url_tokens,
)

FEATURE_NAMES = [
    "cos1", "cos2", "cos5", "al3", "mx3", "al5", "mx5", "title",
    "entj", "ento", "numj", "numo", "same", "latin_both", "minlen",
]  # fmt: skip
COSINE_FEATURES = ["cos2"]
IDENTICAL_COS = 0.95


@dataclass
class ArticleSignature:
    """Everything the pair scorer needs about one article (plain data, picklable).

    ``vector`` is the article vector used by the kNN index and story grouping.
    """

    vector: np.ndarray
    chunk_vectors: np.ndarray
    title_vector: np.ndarray
    entities: frozenset[str]
    numbers: frozenset[str]
    urls: frozenset[str] = frozenset()
    lang: str | None = None
    length: int = 0
    english_entities: frozenset[str] = field(default_factory=frozenset)


def build_signatures(
    texts: Sequence[str],
    langs: Sequence[str | None] | None = None,
    *,
    embedder: Embedder | None = None,
    english: Sequence[str | None] | None = None,
) -> list[ArticleSignature]:
    """Signatures for many articles with one batched embedding call (the costly part).

    ``english``: optional English analysis text per article (title + summary +
    keywords) whose name-like tokens help match non-Latin-script articles.
    """
    emb = embedder or get_embedder()
    fixed = [repair_text(t) for t in texts]
    chunks = embed_chunks(emb, fixed)
    titles = emb.embed([title_of(t) or t[:200] for t in fixed])
    out = []
    for i, text in enumerate(fixed):
        lang = langs[i] if langs is not None and langs[i] else guess_lang(text)
        en = english[i] if english is not None else None
        cv = chunks[i]
        out.append(
            ArticleSignature(
                vector=pool_chunks(cv),
                chunk_vectors=cv,
                title_vector=titles[i],
                entities=entity_tokens(text),
                numbers=number_tokens(text),
                urls=url_tokens(text),
                lang=(lang or "").lower()[:2] or None,
                length=len(text),
                english_entities=entity_tokens(en) if en else frozenset(),
            )
        )
    return out


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if (a or b) else 0.0


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if (a and b) else 0.0


def _mean_vec(m: np.ndarray) -> np.ndarray:
    out: np.ndarray = l2_normalise(m.mean(axis=0))[0]
    return out


def pair_features(a: ArticleSignature, b: ArticleSignature) -> np.ndarray:
    """Feature vector (order: ``FEATURE_NAMES``) for one pair of signatures."""
    ca, cb = a.chunk_vectors, b.chunk_vectors
    sims = ca @ cb.T
    s3 = sims[:3, :3]
    ents_a, ents_b = a.entities, b.entities
    if a.english_entities and b.english_entities:
        ents_a, ents_b = ents_a | a.english_entities, ents_b | b.english_entities
    nums_a, nums_b = a.numbers | a.urls, b.numbers | b.urls
    same = float(a.lang is not None and a.lang == b.lang)
    latin = float(a.lang in LATIN_LANGS and b.lang in LATIN_LANGS)
    return np.array(
        [
            float(ca[0] @ cb[0]),
            float(a.vector @ b.vector),
            float(_mean_vec(ca) @ _mean_vec(cb)),
            float((s3.max(axis=1).mean() + s3.max(axis=0).mean()) / 2),
            float(s3.max()),
            float((sims.max(axis=1).mean() + sims.max(axis=0).mean()) / 2),
            float(sims.max()),
            float(a.title_vector @ b.title_vector),
            _jaccard(ents_a, ents_b),
            _overlap(ents_a, ents_b),
            _jaccard(nums_a, nums_b),
            _overlap(nums_a, nums_b),
            same,
            latin,
            math.log1p(min(a.length, b.length)),
        ]
    )


@dataclass
class PairScorer:
    """Fitted pair model: full-feature GBM plus a cosine-only fallback, same scale."""

    full: TinyGBM
    cosine: TinyGBM
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)
    _cos_table: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @staticmethod
    def to_score(pred: np.ndarray) -> np.ndarray:
        """Map predicted -overall (-4 unrelated .. -1 same story) to [0, 1]."""
        return np.asarray(np.clip((np.asarray(pred, dtype=np.float64) + 4.0) / 3.0, 0.0, 1.0))

    @classmethod
    def finalize(cls, pred: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Model output -> score, lifting near-identical texts towards 1.

        Why: the regression never predicts a perfect 1 (annotators rarely agree
        on it), but two copies of one article are certainly the same story; when
        the mean-of-chunks cosine exceeds ``IDENTICAL_COS`` the score is at
        least that cosine. This affects < 1% of SemEval pairs.
        """
        score = cls.to_score(pred)
        cos5 = np.asarray(x, dtype=np.float64)[:, FEATURE_NAMES.index("cos5")]
        return np.where(cos5 >= IDENTICAL_COS, np.maximum(score, np.clip(cos5, 0.0, 1.0)), score)

    def score_features(self, x: np.ndarray) -> np.ndarray:
        """Scores for a (n, len(FEATURE_NAMES)) feature matrix."""
        return self.finalize(self.full.predict(x), x)

    def score_cosine(self, cos: np.ndarray) -> np.ndarray:
        """Scores from article-vector cosines alone (any shape), for vector-only callers.

        The 1-feature GBM is a step function, so it is tabulated once at its split
        points and evaluated with ``searchsorted`` (fast for 100k x k candidates).
        """
        if self._cos_table is None:
            cuts = np.unique([n[1] for t in self.cosine.trees for n in t if n[0] >= 0])
            mids = np.concatenate([[cuts[0] - 1.0], (cuts[:-1] + cuts[1:]) / 2, [cuts[-1] + 1.0]])
            self._cos_table = (cuts, self.to_score(self.cosine.predict(mids[:, None])))
        cuts, vals = self._cos_table
        c = np.asarray(cos, dtype=np.float64)
        out: np.ndarray = vals[np.searchsorted(cuts, c, side="left")]
        return out

    def score_signatures(self, a: ArticleSignature, b: ArticleSignature) -> float:
        """Score of one pair of signatures."""
        return float(self.score_features(pair_features(a, b)[None, :])[0])

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``compare_weights.json``."""
        return {
            "version": 1,
            "features": FEATURE_NAMES,
            "cosine_features": COSINE_FEATURES,
            "threshold": self.threshold,
            "meta": self.meta,
            "full": self.full.to_json(),
            "cosine": self.cosine.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairScorer:
        """Load, checking the feature list matches this code."""
        if data.get("features") != FEATURE_NAMES:
            raise ValueError("compare_weights.json was fitted on other features; rerun calibrate_compare")
        return cls(
            full=TinyGBM.from_json(data["full"]),
            cosine=TinyGBM.from_json(data["cosine"]),
            threshold=float(data["threshold"]),
            meta=dict(data.get("meta", {})),
        )


WEIGHTS_FILE = "compare_weights.json"


@lru_cache(maxsize=1)
def get_scorer() -> PairScorer:
    """The packaged, fitted scorer (loaded once)."""
    raw = resources.files(__package__).joinpath(WEIGHTS_FILE).read_text(encoding="utf-8")
    return PairScorer.from_json(json.loads(raw))


def score_signature_pairs(
    sigs_a: Sequence[ArticleSignature], sigs_b: Sequence[ArticleSignature], scorer: PairScorer | None = None
) -> np.ndarray:
    """Scores for aligned lists of signatures."""
    sc = scorer or get_scorer()
    if not sigs_a:
        return np.zeros(0)
    x = np.stack([pair_features(a, b) for a, b in zip(sigs_a, sigs_b, strict=True)])
    return sc.score_features(x)


def score_pairs(
    pairs: Sequence[tuple[str, str]],
    langs: Sequence[tuple[str | None, str | None]] | None = None,
    *,
    embedder: Embedder | None = None,
    scorer: PairScorer | None = None,
) -> np.ndarray:
    """Batch scoring: each distinct text is embedded once."""
    uniq: dict[tuple[str, str | None], int] = {}
    for i, (t1, t2) in enumerate(pairs):
        l1, l2 = langs[i] if langs is not None else (None, None)
        uniq.setdefault((t1, l1), len(uniq))
        uniq.setdefault((t2, l2), len(uniq))
    keys = list(uniq)
    sigs = build_signatures([k[0] for k in keys], [k[1] for k in keys], embedder=embedder)
    a, b = [], []
    for i, (t1, t2) in enumerate(pairs):
        l1, l2 = langs[i] if langs is not None else (None, None)
        a.append(sigs[uniq[(t1, l1)]])
        b.append(sigs[uniq[(t2, l2)]])
    return score_signature_pairs(a, b, scorer)


def score_pair(
    text1: str,
    text2: str,
    lang1: str | None = None,
    lang2: str | None = None,
    *,
    embedder: Embedder | None = None,
) -> float:
    """Probability-like score in [0, 1] that two articles report the same story."""
    return float(score_pairs([(text1, text2)], [(lang1, lang2)], embedder=embedder)[0])


def parse_pair_line(line: str, lineno: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"line {lineno}: expected a JSON object")
    for key in ("text1", "text2"):
        if not isinstance(obj.get(key), str):
            raise ValueError(f"line {lineno}: missing or non-string {key!r}")
    for key in ("lang1", "lang2"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ValueError(f"line {lineno}: {key!r} must be a string")
    return obj


def compare_jsonl(
    lines: Iterable[str], *, batch_size: int = 32, embedder: Embedder | None = None
) -> Iterator[str]:
    """Score JSON lines {"text1","text2"[, "lang1","lang2", ...]} and yield them with "score".

    Other keys are kept. Raises ``ValueError("line N: ...")`` on a bad line;
    blank lines are skipped. Lines are scored in batches for embedding speed.
    """
    batch: list[dict[str, Any]] = []

    def flush() -> Iterator[str]:
        scores = score_pairs(
            [(o["text1"], o["text2"]) for o in batch],
            [(o.get("lang1"), o.get("lang2")) for o in batch],
            embedder=embedder,
        )
        for obj, s in zip(batch, scores, strict=True):
            obj["score"] = round(float(s), 4)
            yield json.dumps(obj, ensure_ascii=False)
        batch.clear()

    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        batch.append(parse_pair_line(line, lineno))
        if len(batch) >= batch_size:
            yield from flush()
    if batch:
        yield from flush()
