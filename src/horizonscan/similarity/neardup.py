"""Exact and near-duplicate text detection (before any embedding or LLM call).

Why: feeds and scrapers deliver the same wire story many times (syndication,
re-crawls, small edits). Spotting those cheaply avoids paying an LLM twice.

* ``exact_key(text)`` - SHA-1 of the normalised text (casefolded, accents and
  punctuation stripped, whitespace collapsed): equal keys == same text.
* ``minhash_signature(text)`` - 64 MinHash values over word 3-shingles (char
  4-shingles for unspaced scripts); the share of equal values estimates the
  Jaccard similarity of the shingle sets.
* ``near_duplicate_key(text)`` / ``lsh_keys(signature)`` - 16 LSH band keys
  (4 rows each): two texts with Jaccard >= ~0.7 share at least one band key with
  probability > 0.99, so a store can index band keys and look candidates up.

All hashes are stable across processes (crc32, blake2b, fixed seeds), so keys can be
stored in a database.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np

from .text import normalise_for_hash, word_shingles

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
DEFAULT_JACCARD = 0.7
_PRIME = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20220408)
# 31-bit coefficients and 31-bit shingle hashes keep a*x+b below 2**63 (no overflow).
_A = _rng.integers(1, 1 << 31, NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, 1 << 31, NUM_PERM, dtype=np.uint64)
_EMPTY = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)


def exact_key(text: str) -> str:
    """Stable hash of the normalised text (same key == same text modulo formatting)."""
    return hashlib.sha1(normalise_for_hash(text).encode("utf-8")).hexdigest()


def _shingle_hashes(shingles: frozenset[str]) -> np.ndarray:
    # crc32 is stable across processes and several times faster than a cryptographic hash here;
    # the MinHash permutations below do the mixing.
    return np.fromiter(
        (zlib.crc32(s.encode("utf-8")) >> 1 for s in shingles), dtype=np.uint64, count=len(shingles)
    )


def minhash_signature(text: str) -> np.ndarray:
    """64 MinHash values (uint64) of the text's shingle set."""
    sh = word_shingles(text)
    if not sh:
        return _EMPTY.copy()
    x = _shingle_hashes(sh)
    vals = (np.outer(x, _A) + _B) % _PRIME
    return np.asarray(vals.min(axis=0), dtype=np.uint64)


def signature_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two MinHash signatures."""
    return float(np.mean(a == b))


def lsh_keys(signature: np.ndarray) -> list[str]:
    """Band keys ``"band:hash"`` for LSH lookup (store them, match any one)."""
    keys = []
    for band in range(BANDS):
        chunk = signature[band * ROWS : (band + 1) * ROWS].tobytes()
        keys.append(f"{band:02d}:{hashlib.blake2b(chunk, digest_size=8).hexdigest()}")
    return keys


def near_duplicate_key(text: str) -> list[str]:
    """LSH band keys of a text: texts sharing any key are near-duplicate candidates."""
    return lsh_keys(minhash_signature(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two sets (0 when both are empty)."""
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)
