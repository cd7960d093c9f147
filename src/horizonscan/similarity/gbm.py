"""A tiny gradient-boosted regression-tree model in numpy (fit offline, JSON at run time).

Why: on the SemEval-2022 task 8 pairs a depth-2 boosted ensemble over ~15 pair
features beats a linear combiner by ~0.02 Pearson (it learns interactions such
as "entity overlap matters only between Latin-script languages"), and writing
it here avoids a scikit-learn dependency: fitting takes a second, prediction is
a few vectorised lookups, and the fitted trees are a small JSON document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A tree is a flat list of nodes: [feature, threshold, left, right, value];
# feature == -1 marks a leaf whose prediction is ``value``.
Node = list[float]


def _best_split(
    x: np.ndarray, r: np.ndarray, idx: np.ndarray, cuts: list[np.ndarray], min_leaf: int
) -> tuple[int, float, float]:
    """Best (feature, threshold, SSE gain) for residuals r over rows idx."""
    best = (-1, 0.0, 0.0)
    rs = r[idx]
    tot, n = rs.sum(), len(idx)
    base = tot * tot / n
    for f, thr in enumerate(cuts):
        xs = x[idx, f]
        left = xs[:, None] <= thr[None, :]
        nl = left.sum(axis=0)
        sl = rs @ left
        nr = n - nl
        ok = (nl >= min_leaf) & (nr >= min_leaf)
        if not ok.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = sl * sl / nl + (tot - sl) ** 2 / nr - base
        gain = np.where(ok, gain, -np.inf)
        j = int(np.argmax(gain))
        if gain[j] > best[2]:
            best = (f, float(thr[j]), float(gain[j]))
    return best


def _fit_tree(
    x: np.ndarray, r: np.ndarray, idx: np.ndarray, cuts: list[np.ndarray], depth: int, min_leaf: int
) -> list[Node]:
    nodes: list[Node] = []

    def grow(rows: np.ndarray, d: int) -> int:
        me = len(nodes)
        nodes.append([-1.0, 0.0, -1.0, -1.0, float(r[rows].mean())])
        if d == 0 or len(rows) < 2 * min_leaf:
            return me
        f, thr, gain = _best_split(x, r, rows, cuts, min_leaf)
        if f < 0 or gain <= 0:
            return me
        mask = x[rows, f] <= thr
        left = grow(rows[mask], d - 1)
        right = grow(rows[~mask], d - 1)
        nodes[me][:4] = [float(f), thr, float(left), float(right)]
        return me

    grow(idx, depth)
    return nodes


def _predict_tree(nodes: list[Node], x: np.ndarray) -> np.ndarray:
    at = np.zeros(len(x), dtype=np.int64)
    arr = np.asarray(nodes, dtype=np.float64)
    for _ in range(64):  # depth bound
        feat = arr[at, 0].astype(np.int64)
        inner = feat >= 0
        if not inner.any():
            break
        rows = np.nonzero(inner)[0]
        go_left = x[rows, feat[rows]] <= arr[at[rows], 1]
        at[rows] = np.where(go_left, arr[at[rows], 2], arr[at[rows], 3]).astype(np.int64)
    out: np.ndarray = arr[at, 4]
    return out


@dataclass
class TinyGBM:
    """Least-squares gradient boosting with shallow trees (see module docstring)."""

    n_trees: int = 200
    depth: int = 2
    learning_rate: float = 0.05
    min_leaf: int = 10
    subsample: float = 0.8
    n_cuts: int = 32
    seed: int = 0
    init: float = 0.0
    trees: list[list[Node]] = field(default_factory=list)

    def fit(self, x: np.ndarray, y: np.ndarray) -> TinyGBM:
        """Fit on features x (n, f) and target y (n,)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        rng = np.random.default_rng(self.seed)
        qs = np.linspace(0, 1, self.n_cuts + 2)[1:-1]
        cuts = [np.unique(np.quantile(x[:, f], qs)) for f in range(x.shape[1])]
        self.init = float(y.mean())
        pred = np.full(len(y), self.init)
        self.trees = []
        n = len(y)
        for _ in range(self.n_trees):
            idx = (
                np.sort(rng.choice(n, int(n * self.subsample), replace=False))
                if self.subsample < 1
                else np.arange(n)
            )
            tree = _fit_tree(x, y - pred, idx, cuts, self.depth, self.min_leaf)
            for node in tree:
                node[4] *= self.learning_rate
            self.trees.append(tree)
            pred += _predict_tree(tree, x)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted target for each row of x."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = np.full(len(x), self.init)
        for tree in self.trees:
            out += _predict_tree(tree, x)
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain-data form for ``compare_weights.json``."""
        # thresholds stay exact (rounding could move a split across a data point)
        trees = [[[*node[:4], round(node[4], 8)] for node in t] for t in self.trees]
        return {"init": self.init, "trees": trees}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TinyGBM:
        """Inverse of ``to_json``."""
        return cls(init=float(data["init"]), trees=[[list(map(float, n)) for n in t] for t in data["trees"]])
