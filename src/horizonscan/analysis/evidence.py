"""Grounding: is each item's evidence really a quote from the article?

A quote is compared with the article word by word, after folding what copying may change without
changing the words: Unicode forms, case, accents, quote marks, punctuation, whitespace,
hyphenation and digit grouping ("18 000" = "18000"). A contiguous run of the article's words
equal to the quote's is found. Anything else must survive a strict alignment: the quote is matched
against its best window of the article, and only typo-level differences inside words are
forgiven. A changed, added or dropped word, any differing number, and any differing negation
("not", "ne … pas", "nicht", "kein", "no", "sin", "non", …) make the quote "not found", and so
does a translated or invented sentence. Quotes shorter than MIN_WORDS words prove nothing and are
not found either. Every verdict carries a short note saying why.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

from rapidfuzz import fuzz

from horizonscan.extract.language import detect_language, language_name

MIN_WORDS = 5
# A word differing from its counterpart by a typo or a dropped accent (not a different word).
TYPO_RATIO = 0.8
# At most one such typo per this many words of the quote.
WORDS_PER_TYPO = 8
# Score (0-1) above which an unfound quote is described as "altered" rather than "not in the article".
ALTERED_SCORE = 0.75

# Negation words of the languages seen most (accents folded, as the check compares words).
_NEGATION_WORDS = """
    not no never none nobody nothing neither nor without cannot nt
    ne n pas jamais aucun aucune aucuns aucunes rien nul nulle sans ni non guere
    nicht kein keine keinen keinem keiner keines nie niemals nichts ohne weder niemand
    nunca ningun ninguna ninguno nada sin jamas tampoco nadie
    mai nessun nessuna nessuno niente nulla senza
    nao nenhum nenhuma sem
    niet geen nooit
"""
NEGATIONS = frozenset(_NEGATION_WORDS.split())

_QUOTES = str.maketrans(
    {
        "«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "‟": '"',
        "‹": "'", "›": "'", "‘": "'", "’": "'", "‚": "'", "‛": "'", "`": "'", "´": "'",
        "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-",
        "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u00ad": "",
    }
)  # fmt: skip
_ELLIPSIS = re.compile(r"\.{3,}|…|\[\s*(?:\.\.\.|…)\s*\]|\(\s*(?:\.\.\.|…)\s*\)")
_LINE_HYPHEN = re.compile(r"(\w)-[ \t]*\n[ \t]*(\w)")
_DIGIT_GROUPS = re.compile(r"(?<=\d)[ .,'](?=\d{3}(?!\d))")
_WORD = re.compile(r"\w+")


def _fold(text: str) -> str:
    """Lower case, no accents, unified quotes and dashes, soft hyphens and line-end hyphens gone."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _LINE_HYPHEN.sub(r"\1\2", text)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.lower()


def words(text: str) -> list[str]:
    """The words of a text as the check compares them (digit groups joined: '18 000' → '18000')."""
    return _WORD.findall(_DIGIT_GROUPS.sub("", _fold(text)))


def normalise(text: str) -> str:
    """The text's words joined by single spaces: what quotes are searched in."""
    return " ".join(words(text))


def _is_number(word: str) -> bool:
    return any(c.isdigit() for c in word)


@dataclass(frozen=True)
class EvidenceCheck:
    found: bool
    score: float  # similarity of the quote to its best window of the article, 0-1
    note: str | None = None  # why it was not found (or what was forgiven)


def _segments(quote: str) -> list[list[str]]:
    """A quote with an ellipsis ('A … B') is checked as its parts; parts under 3 words are ignored."""
    parts = [words(p) for p in _ELLIPSIS.split(quote)]
    kept = [p for p in parts if len(p) >= 3]
    return kept or [words(quote)]


def _window(q: list[str], hay_words: list[str], hay: str) -> list[str]:
    """The article's words best aligned with the quote (same length, give or take a few words)."""
    joined = " ".join(q)
    align = fuzz.partial_ratio_alignment(joined, hay, score_cutoff=0)
    if align is None:
        return []
    # Convert the character window back to word positions, widened to whole words.
    start = hay.count(" ", 0, align.dest_start)
    end = hay.count(" ", 0, align.dest_end) + 1
    pad = max(2, len(q) // 5)
    return hay_words[max(0, start - pad) : min(len(hay_words), end + pad)]


def _compare(q: list[str], window: list[str]) -> tuple[float, str | None, bool]:
    """(score, note, acceptable) for a quote against the article window it was aligned with."""
    blocks = [b for b in SequenceMatcher(a=window, b=q, autojunk=False).get_matching_blocks() if b.size]
    if not blocks:
        return 0.0, None, False
    # The article span from the first to the last word shared with the quote.
    span = window[blocks[0].a : blocks[-1].a + blocks[-1].size]
    score = fuzz.ratio(" ".join(span), " ".join(q)) / 100.0
    typos = 0
    for tag, a0, a1, b0, b1 in SequenceMatcher(a=span, b=q, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        src, dst = span[a0:a1], q[b0:b1]
        note = _difference(src, dst)
        if note is not None:
            return score, note, False
        if tag != "replace" or len(src) != len(dst):
            return score, _word_change(src, dst), False
        for s, d in zip(src, dst, strict=True):
            if fuzz.ratio(s, d) / 100.0 < TYPO_RATIO or min(len(s), len(d)) < 4:
                return score, f"a word differs: “{s}” in the article, “{d}” in the quote", False
            typos += 1
    if typos > max(1, len(q) // WORDS_PER_TYPO):
        return score, f"{typos} words differ from the article", False
    return score, (f"typo-level differences ({typos})" if typos else None), True


def _difference(src: list[str], dst: list[str]) -> str | None:
    """A differing number or negation between an article span and the quote's, if any."""
    src_num = [w for w in src if _is_number(w)]
    dst_num = [w for w in dst if _is_number(w)]
    if src_num != dst_num:
        a = " ".join(src_num) or "none"
        b = " ".join(dst_num) or "none"
        return f"a number differs: {a} in the article, {b} in the quote"
    src_neg = [w for w in src if w in NEGATIONS]
    dst_neg = [w for w in dst if w in NEGATIONS]
    if src_neg != dst_neg:
        shown = {"n": "n’ (ne)", "nt": "n’t"}
        if dst_neg and not src_neg:
            return f"a negation was added: “{' '.join(shown.get(w, w) for w in dst_neg)}”"
        if src_neg and not dst_neg:
            return f"a negation was dropped: “{' '.join(shown.get(w, w) for w in src_neg)}”"
        return "a negation differs"
    return None


def _word_change(src: list[str], dst: list[str]) -> str:
    if src and dst:
        return f"words differ: “{' '.join(src[:6])}” in the article, “{' '.join(dst[:6])}” in the quote"
    if dst:
        return f"words not in the article: “{' '.join(dst[:6])}”"
    return f"words left out: “{' '.join(src[:6])}”"


def verify(
    quote: str,
    text: str,
    *,
    normalised_text: str | None = None,
    text_language: str | None = None,
) -> EvidenceCheck:
    """Is `quote` a verbatim quote of `text`? See the module docstring for what is forgiven."""
    q_all = words(quote)
    if len(q_all) < MIN_WORDS:
        return EvidenceCheck(False, 0.0, f"too short ({len(q_all)} words; at least {MIN_WORDS})")
    hay = normalised_text if normalised_text is not None else normalise(text)
    padded = f" {hay} "
    hay_words: list[str] | None = None
    scores: list[float] = []
    notes: list[str] = []
    for q in _segments(quote):
        if f" {' '.join(q)} " in padded:
            scores.append(1.0)
            continue
        if hay_words is None:
            hay_words = hay.split()
        score, note, ok = _compare(q, _window(q, hay_words, hay))
        scores.append(score)
        if not ok:
            return EvidenceCheck(False, round(score, 3), _explain(quote, score, note, text_language))
        if note:
            notes.append(note)
    score = min(scores)
    return EvidenceCheck(True, round(score, 3), "; ".join(notes) or None)


def _explain(quote: str, score: float, note: str | None, text_language: str | None) -> str:
    """The reason to show, and to give the model when it is asked again."""
    if score < ALTERED_SCORE:
        lang = detect_language(quote, sample=300) if len(quote) >= 20 else None
        if lang and text_language and lang != text_language:
            return (
                f"not in the article: the quote is in {language_name(lang)}, the article in "
                f"{language_name(text_language)} (translated?)"
            )
        return "not in the article (invented or reworded?)"
    return note or "altered: not verbatim"


def check(quote: str, text: str, *, normalised_text: str | None = None) -> tuple[bool, float]:
    """(found, score): the short form of `verify`."""
    result = verify(quote, text, normalised_text=normalised_text)
    return result.found, result.score


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
        words_ = s.split()
        if len(words_) < MIN_WORDS or len(words(s)) < MIN_WORDS:
            continue
        if len(words_) > max_words:
            s = " ".join(words_[:max_words])
        if s in seen:
            continue
        seen.add(s)
        quotes.append(s)
    if len(quotes) > max_quotes:
        step = len(quotes) / max_quotes
        quotes = [quotes[int(i * step)] for i in range(max_quotes)]
    return quotes
