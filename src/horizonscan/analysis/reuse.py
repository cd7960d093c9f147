"""May a near-duplicate reuse another text's analysis? Only when it brings no new facts.

Near-duplicates (shingle Jaccard ≥ 0.7) are usually the same story with other boilerplate, but an
updated story is a near-duplicate too, and its older analysis would silently miss what changed.
So the new text must be covered by the old one: every number in it must appear in the old text,
and its sentences must be found there too, except a little boilerplate at the head or the tail
(a newsletter footer, a share line). Otherwise it is analyzed afresh.
"""

from __future__ import annotations

import re

from horizonscan.analysis.evidence import words

# A sentence is covered when this share of its word trigrams is in the old text.
COVERED = 0.5
# Uncovered sentences may make up at most this share of the new text's words...
MAX_NEW_SHARE = 0.08
# ...and none of this many words or more may sit between covered sentences (new body text).
MIDDLE_SENTENCE_WORDS = 8

_SENTENCE = re.compile(r"(?<=[.!?…»”\"])\s+|\n+")


def _trigrams(ws: list[str]) -> set[tuple[str, ...]]:
    if len(ws) < 3:
        return {tuple(ws)} if ws else set()
    return {tuple(ws[i : i + 3]) for i in range(len(ws) - 2)}


def new_facts(old: str, new: str) -> list[str]:
    """What `new` says that `old` does not (empty: the old analysis serves `new` too)."""
    old_words = words(old)
    facts: list[str] = []
    numbers = sorted({w for w in words(new) if any(c.isdigit() for c in w)} - set(old_words))
    if numbers:
        facts.append(f"new numbers: {', '.join(numbers[:5])}")
    old_grams = _trigrams(old_words)
    sentences = [words(s) for s in _SENTENCE.split(new)]
    sentences = [s for s in sentences if s]
    covered = [len(_trigrams(s) & old_grams) / max(1, len(_trigrams(s))) >= COVERED for s in sentences]
    total = sum(len(s) for s in sentences) or 1
    uncovered = sum(len(s) for s, c in zip(sentences, covered, strict=True) if not c)
    if uncovered / total > MAX_NEW_SHARE:
        facts.append(f"{uncovered} words in new sentences ({uncovered / total:.0%} of the text)")
    if any(covered):
        first = covered.index(True)
        last = len(covered) - 1 - covered[::-1].index(True)
        middle = [
            s for s, c in zip(sentences[first:last], covered[first:last], strict=True)
            if not c and len(s) >= MIDDLE_SENTENCE_WORDS
        ]  # fmt: skip
        if middle:
            facts.append(f"{len(middle)} new sentence(s) inside the text: “{' '.join(middle[0][:8])} …”")
    return facts
