"""Scale benchmark: kNN (k=10) for all and story grouping over 100 000 vectors.

Why: the store may hold ~100k articles on a 2-core machine; this checks the
numpy index and the incremental grouper stay well under a minute. Vectors are
synthetic 512-dim clusters shaped like USE article vectors: a shared "news"
direction (USE cosines between unrelated news are ~0.15-0.2), stories of 1-20
articles whose members sit at cosine ~0.8 of each other.

Usage: python bench/bench_similarity_scale.py [--n 100000] [--k 10]
Prints seconds, items/s, peak memory and kNN recall vs exact on a sample.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from horizonscan.similarity.index import VectorIndex
from horizonscan.similarity.stories import StoryGrouper


def synthetic(n: int, dim: int, seed: int = 0, topics: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors and their true story labels (shuffled arrival order).

    Hierarchy like real news: a shared "news" direction, ``topics`` topic
    directions (politics, a sport, a company...), stories of 1-20 articles
    inside a topic, articles around their story (member cosine ~0.8, same topic
    ~0.4, unrelated ~0.15).
    """
    rng = np.random.default_rng(seed)

    def unit(a: np.ndarray) -> np.ndarray:
        out: np.ndarray = a / np.linalg.norm(a, axis=-1, keepdims=True)
        return out

    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(min(20, rng.geometric(0.35))))
    labels = np.repeat(np.arange(len(sizes)), sizes)[:n]
    common = unit(rng.standard_normal(dim))
    topic_dirs = unit(rng.standard_normal((topics, dim)))
    story_topic = rng.integers(0, topics, len(sizes))
    centres = unit(
        0.35 * common + 0.55 * topic_dirs[story_topic] + 0.75 * unit(rng.standard_normal((len(sizes), dim)))
    )
    x = unit(centres[labels] + 0.45 * unit(rng.standard_normal((n, dim))))
    order = rng.permutation(n)
    return x[order].astype(np.float32), labels[order]


def peak_mib() -> float:
    """Peak resident memory of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    """Run the benchmark and print figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    t0 = time.perf_counter()
    x, labels = synthetic(args.n, args.dim)
    print(f"data: {args.n} x {args.dim}, {labels.max() + 1} true stories, {time.perf_counter() - t0:.1f} s")

    index = VectorIndex(args.dim)
    index.add(list(range(args.n)), x)
    t = time.perf_counter()
    nbr, _sims = index.knn_all(args.k)
    t_knn = time.perf_counter() - t
    print(f"kNN all (k={args.k}): {t_knn:.1f} s, {args.n / t_knn:,.0f} queries/s, peak {peak_mib():,.0f} MiB")
    rng = np.random.default_rng(1)
    sample = rng.choice(args.n, 500, replace=False)
    ex_nbr, ex_sims = index.search(x[sample], args.k, exclude=sample, exact=True)
    recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(nbr[sample], ex_nbr, strict=True)])
    strong = [(set(a), set(b[s >= 0.5])) for a, b, s in zip(nbr[sample], ex_nbr, ex_sims, strict=True)]
    n_strong = sum(len(b) for _, b in strong)
    recall_strong = sum(len(a & b) for a, b in strong) / max(1, n_strong)
    print(
        f"kNN recall vs exact (500 sampled queries): @{args.k} {recall:.4f}; "
        f"neighbours with cosine >= 0.5: {recall_strong:.4f} ({n_strong})"
    )

    t = time.perf_counter()
    grouper = StoryGrouper(k=args.k, dim=args.dim)
    story = grouper.add_batch(list(range(args.n)), x)
    t_grp = time.perf_counter() - t
    n_st = len(set(story))
    print(
        f"story grouping (threshold {grouper.threshold:.2f}): {t_grp:.1f} s, {args.n / t_grp:,.0f} items/s, "
        f"{n_st} stories (true {labels.max() + 1}), peak {peak_mib():,.0f} MiB"
    )
    # purity: share of items whose story's majority true label equals their own
    st = np.asarray(story)
    pure = 0
    for s in np.unique(st):
        lab = labels[st == s]
        pure += np.bincount(lab).max()
    print(f"story purity {pure / args.n:.3f}")
    total = time.perf_counter() - t0
    print(f"total {total:.1f} s (target < 60 s), peak memory {peak_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
