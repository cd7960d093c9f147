"""Language-independent text helpers for the similarity stage.

Why: the pair scorer and the near-duplicate detector must work on articles in any
language without an LLM, so the evidence they use beyond embeddings is what
survives translation: names written in Latin script, acronyms, numbers, years,
URLs. Everything here is pure Python (``regex`` for Unicode classes when present).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

_ftfy: Any
try:  # ftfy repairs mojibake ("Ã©" -> "é"); optional, the scorer works without it.
    import ftfy as _ftfy
except ImportError:  # pragma: no cover - depends on the environment
    _ftfy = None

_MOJIBAKE_HINT = re.compile("[ÃÂâ][\u0080-\u00bf\u2018-\u203a]|Ã.|â€")
_WS = re.compile(r"\s+")
# Sentence ends for Latin, CJK and Arabic scripts; kept simple on purpose.
_SENT_END = re.compile(r"(?<=[.!?。！？؟])\s+|(?<=[。！？])|\n+")
_URL = re.compile(r"https?://[^\s)>\]\"']+|www\.[^\s)>\]\"']+", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,\u00a0 ]\d{3})*(?:[.,]\d+)?(?![\w])")
_YEAR = re.compile(r"(?<!\d)(?:19[5-9]\d|20[0-4]\d)(?!\d)")
# A "name-like" token: a capitalised word or an acronym in any cased script.
_CAP_WORD = re.compile(r"\b[A-ZÀ-ÖØ-ÞĀ-ſА-ЯЁΑ-Ω][\w'’\-]*\w|\b[A-ZÀ-ÖØ-ÞА-ЯЁ]{2,}\b")
_WORD = re.compile(r"\w+")


def repair_text(text: str) -> str:
    """Fix mojibake and normalise Unicode so hashes and tokens are stable.

    Why: scraped news often arrives double-encoded; ftfy is applied only when a
    mojibake pattern is seen because it is slow on long clean texts.
    """
    if _ftfy is not None and _MOJIBAKE_HINT.search(text):
        text = _ftfy.fix_text(text)
    return unicodedata.normalize("NFC", text)


def normalise_for_hash(text: str) -> str:
    """Casefold, strip accents/punctuation and collapse spaces (for duplicate keys)."""
    text = unicodedata.normalize("NFKD", repair_text(text).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_WORD.findall(text))


def split_sentences(text: str) -> list[str]:
    """Split into sentences/lines; good enough for chunking, not linguistics."""
    parts = (_WS.sub(" ", p).strip() for p in _SENT_END.split(text))
    return [p for p in parts if p]


def chunk_text(text: str, max_chars: int = 400, max_chunks: int = 8) -> list[str]:
    """Pack sentences into chunks of about ``max_chars`` (USE is a sentence encoder).

    Why: USE averages token features, so a long article embedded whole drifts
    towards a generic "news" vector; a few sentence-sized chunks keep detail.
    """
    chunks: list[str] = []
    cur = ""
    for sent in split_sentences(text):
        while len(sent) > max_chars:  # very long "sentence" (no punctuation): hard cut
            head, sent = sent[:max_chars], sent[max_chars:]
            if cur:
                chunks.append(cur)
                cur = ""
            chunks.append(head)
        if cur and len(cur) + 1 + len(sent) > max_chars:
            chunks.append(cur)
            cur = sent
        else:
            cur = f"{cur} {sent}" if cur else sent
        if len(chunks) >= max_chunks:
            break
    if cur and len(chunks) < max_chunks:
        chunks.append(cur)
    return chunks[:max_chunks] or [text.strip()[:max_chars] or " "]


def title_of(text: str, max_chars: int = 200) -> str:
    """First non-empty line (or sentence) of an article: usually its headline."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            sents = split_sentences(line)
            first = sents[0] if sents and len(line) > max_chars else line
            return first[:max_chars]
    return ""


def _fold(token: str) -> str:
    token = unicodedata.normalize("NFKD", token.casefold())
    return "".join(ch for ch in token if not unicodedata.combining(ch)).strip("'’-")


@lru_cache(maxsize=4096)
def _fold_cached(token: str) -> str:
    return _fold(token)


def entity_tokens(text: str) -> frozenset[str]:
    """Name-like tokens (capitalised words, acronyms), accent-folded, lowercased.

    Sentence-initial words are kept too: precision is lower, but recall of names
    across languages matters more and the combiner learns how much to trust it.
    Tokens shorter than 3 characters are dropped (articles, initials).
    """
    out = set()
    for m in _CAP_WORD.finditer(text):
        tok = _fold_cached(m.group(0))
        if len(tok) >= 3:
            out.add(tok[:12])  # crude stemming: "Amazons"/"Amazon" share a prefix
    return frozenset(out)


def number_tokens(text: str) -> frozenset[str]:
    """Numbers normalised to digits only (``1,000`` == ``1.000`` == ``1000``); 1-digit ones dropped."""
    out = set()
    for m in _NUMBER.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if len(digits) >= 2:
            out.add(digits.lstrip("0") or "0")
    return frozenset(out)


def year_tokens(text: str) -> frozenset[str]:
    """Four-digit years 1950-2049 (dates in any language share them)."""
    return frozenset(_YEAR.findall(text))


def url_tokens(text: str) -> frozenset[str]:
    """URLs reduced to host + path without scheme/query, lowercased."""
    out = set()
    for m in _URL.finditer(text):
        u = re.sub(r"^(https?://)?(www\.)?", "", m.group(0).lower()).split("?")[0].rstrip("/.,;")
        if u:
            out.add(u)
    return frozenset(out)


def word_shingles(text: str, n: int = 3) -> frozenset[str]:
    """Word n-grams of the normalised text (or char n-grams for unspaced scripts)."""
    norm = normalise_for_hash(text)
    words = norm.split()
    if len(words) < max(3, len(norm) // 30):  # CJK/Thai: few spaces -> char shingles
        s = norm.replace(" ", "")
        k = max(n + 1, 4)
        return frozenset(s[i : i + k] for i in range(max(1, len(s) - k + 1)))
    if len(words) < n:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


_STOPWORD_TEXT = {
    "en": "the and of to in is that for with on was are by from this have has",
    "de": "der die das und ist nicht ein eine mit von den des sich auf für dem im",
    "fr": "le la les et des est une un du dans que pour qui pas sur au avec",
    "es": "el la los las y es en un una del que por para con se al como",
    "it": "il la le e di che è un una per del della con non gli sono",
    "pt": "o a os as e de do da em um uma que para com não no na",
    "nl": "de het een en van is dat op te zijn met voor niet",
    "pl": "i w na z się nie do że to jest o jak od po przez",
    "tr": "ve bir bu da de için ile olarak çok daha gibi olan",
}
_STOPWORDS = {lang: frozenset(words.split()) for lang, words in _STOPWORD_TEXT.items()}
LATIN_LANGS = frozenset({*_STOPWORDS, "sv", "da", "no", "fi", "cs", "ro", "hu", "id", "vi"})
_SCRIPTS = (
    ("ja", re.compile("[\u3040-\u30ff]")),
    ("zh", re.compile("[\u4e00-\u9fff]")),
    ("ko", re.compile("[\uac00-\ud7af]")),
    ("ar", re.compile("[\u0600-\u06ff]")),
    ("ru", re.compile("[\u0400-\u04ff]")),
    ("el", re.compile("[\u0370-\u03ff]")),
    ("he", re.compile("[\u0590-\u05ff]")),
    ("hi", re.compile("[\u0900-\u097f]")),
    ("th", re.compile("[\u0e00-\u0e7f]")),
)


def guess_lang(text: str) -> str | None:
    """Cheap language guess (script, then stopword vote) used when no lang is given.

    Why: the pair model needs only "same language?" and "both Latin script?",
    so a crude guess is enough and avoids loading a language detector.
    """
    sample = text[:2000]
    letters = sum(ch.isalpha() for ch in sample) or 1
    for lang, rx in _SCRIPTS:
        if len(rx.findall(sample)) > 0.3 * letters:
            return lang
    words = [w.casefold() for w in _WORD.findall(sample)]
    if not words:
        return None
    votes = {lang: sum(w in sw for w in words) for lang, sw in _STOPWORDS.items()}
    best = max(votes, key=lambda k: votes[k])
    return best if votes[best] >= 2 else None
