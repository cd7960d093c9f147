"""Merge the signals, behaviors, technologies and issues of one story's articles.

Items from different articles about the same event often say the same thing in other words.
Two items of the same kind merge when their names nearly match (fuzzy token-set ratio) or when
their "name: description" texts are close in the multilingual embedding space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz

from horizonscan.models import CheckedItem
from horizonscan.similarity.embed import Embedder, get_embedder

NAME_RATIO = 85.0
EMBED_COSINE = 0.80


@dataclass
class MergedItem:
    item: CheckedItem  # the representative: the highest-relevancy member
    sources: list[int] = field(default_factory=list)  # article ids that reported it
    count: int = 1


def merge_items(
    items: Sequence[tuple[int, CheckedItem]],
    *,
    embedder: Embedder | None = None,
    cosine: float = EMBED_COSINE,
) -> list[MergedItem]:
    """Greedy merge in order of relevancy; returns merged items, most reported and relevant first."""
    if not items:
        return []
    order = sorted(range(len(items)), key=lambda i: -items[i][1].relevancy)
    emb = embedder or get_embedder()
    vectors = emb.embed([f"{it.name}: {it.description}" for _, it in items])
    merged: list[MergedItem] = []
    reps: list[int] = []
    for i in order:
        article, item = items[i]
        target = None
        for m, r in zip(merged, reps, strict=True):
            other = items[r][1]
            if other.kind != item.kind:
                continue
            if (
                fuzz.token_set_ratio(other.name.lower(), item.name.lower()) >= NAME_RATIO
                or float(np.dot(vectors[r], vectors[i])) >= cosine
            ):
                target = m
                break
        if target is None:
            merged.append(MergedItem(item=item, sources=[article]))
            reps.append(i)
        else:
            target.count += 1
            if article not in target.sources:
                target.sources.append(article)
    merged.sort(key=lambda m: (-len(m.sources), -m.item.relevancy))
    return merged
