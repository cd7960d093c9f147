"""Grounding: is each item's evidence quote really in the article?

Quotes are compared after normalising Unicode, case, quotes/apostrophes/dashes and whitespace;
an exact hit scores 1.0, otherwise the best fuzzy window match (rapidfuzz partial ratio) is used,
which tolerates a dropped word or an OCR-ish typo but not an invented or translated sentence.
"""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

FOUND_THRESHOLD = 0.90
MIN_QUOTE_CHARS = 8

_QUOTES = str.maketrans({
    "«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "‟": '"', "‹": "'", "›": "'",
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "`": "'", "´": "'",
    "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-", "\u00a0": " ", "\u202f": " ",
})


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    text = re.sub(r"\.{3}|…", " ", text)
    text = re.sub(r"[\"'()\[\]]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def evidence_score(quote: str, text: str, *, normalised_text: str | None = None) -> float:
    """1.0 for an exact (normalised) hit, else the fuzzy window score in [0, 1]."""
    q = normalise(quote).strip(" .,;:")
    if len(q) < MIN_QUOTE_CHARS:
        return 0.0
    hay = normalised_text if normalised_text is not None else normalise(text)
    if q in hay:
        return 1.0
    return float(fuzz.partial_ratio(q, hay, score_cutoff=50)) / 100.0


def check(quote: str, text: str, *, normalised_text: str | None = None) -> tuple[bool, float]:
    score = evidence_score(quote, text, normalised_text=normalised_text)
    return score >= FOUND_THRESHOLD, round(score, 3)
