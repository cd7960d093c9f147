"""Similarity stage: multilingual embeddings, calibrated same-story pair scores,
near-duplicate detection, cosine kNN and incremental story grouping.

Pure numpy at run time; the pair model's fitted weights ship in
``compare_weights.json`` (regenerate with ``bench/calibrate_compare.py``).
"""

from .embed import Embedder, embed_articles, get_embedder
from .index import VectorIndex
from .neardup import exact_key, minhash_signature, near_duplicate_key
from .pairs import (
    ArticleSignature,
    PairScorer,
    build_signatures,
    compare_jsonl,
    get_scorer,
    pair_features,
    score_pair,
    score_pairs,
    score_signature_pairs,
)
from .stories import StoryGrouper

__all__ = [
    "ArticleSignature",
    "Embedder",
    "PairScorer",
    "StoryGrouper",
    "VectorIndex",
    "build_signatures",
    "compare_jsonl",
    "embed_articles",
    "exact_key",
    "get_embedder",
    "get_scorer",
    "minhash_signature",
    "near_duplicate_key",
    "pair_features",
    "score_pair",
    "score_pairs",
    "score_signature_pairs",
]
