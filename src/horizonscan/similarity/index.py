"""Cosine k-nearest-neighbour index over L2-normalised vectors, pure numpy.

Why numpy and not hnswlib/faiss: at the project's scale (up to ~100 000 articles,
512-dim USE vectors, 2 cores) a blocked matrix multiply is fast enough, exact,
deterministic and adds no compiled dependency. Two modes:

* exact - blocked ``Q @ X.T`` (float32 BLAS) with a per-row top-k kept by
  ``argpartition``; used while ``len(index) * len(queries)`` is small.
* projected - candidates are found in a PCA-reduced space (``reduced_dim``,
  default 128, i.e. 4x fewer flops), then the ``candidates`` best per query are
  re-ranked with exact 512-dim cosines. Scores returned are always exact; only
  the candidate set is approximate (recall is measured in
  ``bench/bench_similarity_scale.py``).

Positions (0..n-1, insertion order) are the primary handles; ``ids`` maps them
back to caller ids. ``before`` restricts each query to earlier positions, which
is what incremental story grouping needs.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from .embed import l2_normalise

IntArray = np.ndarray
FloatArray = np.ndarray


class VectorIndex:
    """Growable exact/projected cosine kNN index (see module docstring)."""

    def __init__(
        self,
        dim: int,
        *,
        reduced_dim: int = 128,
        exact_limit: int = 2_000_000_000,
        block: int = 4096,
        candidates: int = 64,
    ) -> None:
        """``exact_limit``: above this many query x item products use projected mode."""
        self.dim = dim
        self.reduced_dim = min(reduced_dim, dim)
        self.exact_limit = exact_limit
        self.block = block
        self.candidates = candidates
        self._vecs = np.zeros((0, dim), dtype=np.float32)
        self._n = 0
        self.ids: list[Hashable] = []
        self._basis: FloatArray | None = None
        self._proj = np.zeros((0, self.reduced_dim), dtype=np.float32)

    def __len__(self) -> int:
        return self._n

    @property
    def vectors(self) -> FloatArray:
        """The stored (n, dim) float32 rows (a view, do not modify)."""
        return self._vecs[: self._n]

    def add(self, ids: Sequence[Hashable], vectors: np.ndarray) -> IntArray:
        """Append vectors (normalised here) and return their positions."""
        vecs = l2_normalise(vectors)
        if vecs.shape[1] != self.dim:
            raise ValueError(f"expected dim {self.dim}, got {vecs.shape[1]}")
        if len(ids) != len(vecs):
            raise ValueError("ids and vectors differ in length")
        need = self._n + len(vecs)
        if need > len(self._vecs):
            cap = max(need, 2 * len(self._vecs), 1024)
            grown = np.zeros((cap, self.dim), dtype=np.float32)
            grown[: self._n] = self._vecs[: self._n]
            self._vecs = grown
        self._vecs[self._n : need] = vecs
        self.ids.extend(ids)
        pos = np.arange(self._n, need)
        self._n = need
        return pos

    # ----- projected space -------------------------------------------------
    def _ensure_projection(self) -> tuple[FloatArray, FloatArray]:
        """Fit a PCA basis once (on up to 20k stored rows) and project all rows."""
        if self._basis is None:
            rng = np.random.default_rng(0)
            n = self._n
            sample = self.vectors if n <= 20_000 else self.vectors[rng.choice(n, 20_000, replace=False)]
            # Uncentred SVD: cosine geometry is about directions from the origin.
            _, _, vt = np.linalg.svd(sample.astype(np.float64), full_matrices=False)
            self._basis = vt[: self.reduced_dim].T.astype(np.float32)
            self._proj = np.zeros((0, self.reduced_dim), dtype=np.float32)
        if len(self._proj) < self._n:
            extra = self.vectors[len(self._proj) :] @ self._basis
            self._proj = np.concatenate([self._proj, extra.astype(np.float32)])
        return self._basis, self._proj

    # ----- search ----------------------------------------------------------
    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        *,
        before: IntArray | None = None,
        exclude: IntArray | None = None,
        exact: bool | None = None,
    ) -> tuple[IntArray, FloatArray]:
        """Top-k positions and cosines per query, best first.

        ``before[i]``: only positions < before[i] are eligible for query i.
        ``exclude[i]``: a position to skip for query i (e.g. the query itself).
        Missing neighbours are position -1 with score -inf.
        """
        q = l2_normalise(queries)
        nq = len(q)
        limit = self._n if before is None else int(np.max(before, initial=0))
        if exact is None:
            exact = nq * max(limit, 1) <= self.exact_limit
        if limit == 0 or k <= 0:
            return np.full((nq, max(k, 0)), -1, dtype=np.int64), np.full((nq, max(k, 0)), -np.inf, np.float32)
        if exact:
            return self._topk(q, self.vectors[:limit], k, before, exclude)
        basis, proj = self._ensure_projection()
        c = max(self.candidates, 4 * k)
        cand, _ = self._topk(q @ basis, proj[:limit], c, before, exclude)
        return self._rerank(q, cand, k)

    def _rerank(self, q: FloatArray, cand: IntArray, k: int) -> tuple[IntArray, FloatArray]:
        """Exact cosines for candidate positions, keep the best k."""
        safe = np.where(cand >= 0, cand, 0)
        sims = np.einsum("qd,qcd->qc", q, self._vecs[safe])
        sims = np.where(cand >= 0, sims, -np.inf).astype(np.float32)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(cand, order, 1), np.take_along_axis(sims, order, 1)

    def _topk(
        self,
        q: FloatArray,
        x: FloatArray,
        k: int,
        before: IntArray | None,
        exclude: IntArray | None,
    ) -> tuple[IntArray, FloatArray]:
        """Blocked matmul top-k; keeps a running best-k per query row."""
        nq, n = len(q), len(x)
        kk = min(k, n)
        best_i = np.full((nq, kk), -1, dtype=np.int64)
        best_s = np.full((nq, kk), -np.inf, dtype=np.float32)
        rows = np.arange(nq)
        for qs in range(0, nq, self.block):
            qe = min(nq, qs + self.block)
            qb = q[qs:qe]
            hi = n if before is None else int(min(n, np.max(before[qs:qe])))
            bi, bs = best_i[qs:qe], best_s[qs:qe]
            for xs in range(0, hi, self.block * 4):
                xe = min(hi, xs + self.block * 4)
                sims = qb @ x[xs:xe].T
                if before is not None:
                    cols = np.arange(xs, xe)
                    sims[cols[None, :] >= before[qs:qe, None]] = -np.inf
                if exclude is not None:
                    ex = exclude[qs:qe] - xs
                    ok = (ex >= 0) & (ex < xe - xs)
                    sims[rows[: qe - qs][ok], ex[ok]] = -np.inf
                # Only rows where something beats the current k-th best need work.
                thr = bs[:, -1] if bs.shape[1] else np.full(qe - qs, -np.inf, np.float32)
                hit = (sims > thr[:, None]).any(axis=1)
                if not hit.any():
                    continue
                h = np.nonzero(hit)[0]
                sh = sims[h]
                m = min(kk, sh.shape[1])
                part = (
                    np.argpartition(-sh, m - 1, axis=1)[:, :m] if m < sh.shape[1] else np.argsort(-sh, axis=1)
                )
                cand_s = np.concatenate([bs[h], np.take_along_axis(sh, part, 1)], axis=1)
                cand_i = np.concatenate([bi[h], part + xs], axis=1)
                order = np.argsort(-cand_s, axis=1, kind="stable")[:, :kk]
                bs[h] = np.take_along_axis(cand_s, order, 1)
                bi[h] = np.take_along_axis(cand_i, order, 1)
        bi[bs == -np.inf] = -1
        if kk < k:
            pad = k - kk
            best_i = np.pad(best_i, ((0, 0), (0, pad)), constant_values=-1)
            best_s = np.pad(best_s, ((0, 0), (0, pad)), constant_values=-np.inf)
        return best_i, best_s

    def knn_all(self, k: int = 10, *, exact: bool | None = None) -> tuple[IntArray, FloatArray]:
        """k nearest other items for every stored item (self excluded)."""
        pos = np.arange(self._n)
        return self.search(self.vectors, k, exclude=pos, exact=exact)
