"""Text vectors kept in the database, so a text is embedded once per embedder.

Why: the same item texts ("name: description") are embedded for trends (every item) and for
merging a story's items; and the batch embeds them as each analysis lands, while it still waits
on the provider, so the corpus stage after the last answer only reads them back. Vectors are kept
as float16 (table `item_vectors`), the precision trend assignment already works at.
"""

from __future__ import annotations

import hashlib

import numpy as np

from horizonscan.similarity.embed import Embedder, l2_normalise
from horizonscan.store import Store


def text_key(embedder: str, text: str) -> str:
    """The row key of a text's vector for an embedder."""
    return hashlib.sha256(f"{embedder}\0{text}".encode()).hexdigest()[:40]


class CachedEmbedder:
    """An `Embedder` that reads stored vectors first and embeds (and stores) only the others."""

    def __init__(self, inner: Embedder, store: Store) -> None:
        self.inner = inner
        self.store = store

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def missing(self, texts: list[str]) -> list[str]:
        """The distinct texts that have no stored vector yet."""
        keys = {text_key(self.name, t): t for t in texts}
        have = self.store.trends.vectors(keys, embedder=self.name)
        return [t for k, t in keys.items() if k not in have]

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(self.name, t) for t in texts]
        repo = self.store.trends
        have = repo.vectors(keys, embedder=self.name)
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in have:
                todo.setdefault(key, text)
        if todo:
            vecs = self.inner.embed(list(todo.values()))
            new = dict(zip(todo, vecs, strict=True))
            repo.add_vectors(self.name, new)
            have.update({k: v.astype(np.float16).astype(np.float32) for k, v in new.items()})
        return l2_normalise(np.stack([have[k] for k in keys]))
