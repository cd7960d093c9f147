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

_QUOTES = str.maketrans(
    {
        "«": '"',
        "»": '"',
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "‹": "'",
        "›": "'",
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "`": "'",
        "´": "'",
        "–": "-",
        "—": "-",
        "‐": "-",
        "‑": "-",
        "−": "-",
        "\u00a0": " ",
        "\u202f": " ",
    }
)


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


# Characters a llama.cpp grammar literal cannot carry safely: its JSON-schema converter does not
# escape backslashes, so a quote or backslash in an enum value corrupts the grammar (and the
# native parser then crashes the process); astral characters become invalid surrogate escapes.
# Article text is untrusted, so candidates are cleaned of them; the evidence check ignores
# quote marks anyway, so a cleaned sentence still counts as found.
_GRAMMAR_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]|[^\x00-\uffff]')


def candidate_quotes(text: str, *, max_quotes: int = 60, max_words: int = 25) -> list[str]:
    """Verbatim snippets of the article a constrained model may pick as evidence.

    Sentences (cut to `max_words` words) of a useful length, in article order, sampled evenly
    when the article has more than `max_quotes` of them; grammar-unsafe characters removed.
    """
    sentences = re.split(r"(?<=[.!?…»”\"])\s+|\n+", text)
    quotes: list[str] = []
    seen: set[str] = set()
    for raw in sentences:
        s = re.sub(r"\s+", " ", _GRAMMAR_UNSAFE.sub(" ", raw.replace('"', ""))).strip()
        words = s.split()
        if len(words) < 5:
            continue
        if len(words) > max_words:
            s = " ".join(words[:max_words])
        if s in seen:
            continue
        seen.add(s)
        quotes.append(s)
    if len(quotes) > max_quotes:
        step = len(quotes) / max_quotes
        quotes = [quotes[int(i * step)] for i in range(max_quotes)]
    return quotes
