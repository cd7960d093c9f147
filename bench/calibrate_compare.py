"""Fit the pair scorer on SemEval-2022 task 8 and write similarity/compare_weights.json.

Why: the shipped scorer must be reproducible and its quality figure honest, so
this script reports 10-fold cross-validated Pearson(score, -overall) for all
pairs and for cross-lingual pairs, next to the raw-cosine baseline on the same
folds, picks the story threshold from the cross-validated scores, then refits on
all pairs and saves the weights.

Usage: python bench/calibrate_compare.py [--data PATH] [--cache DIR] [--no-write]
Signatures (the slow embedding step: 1-4 min on 2 cores, 2 566 texts) are cached in --cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from horizonscan.similarity.embed import CHUNK_CHARS, DOC_CHUNKS, MAX_CHUNKS
from horizonscan.similarity.gbm import TinyGBM
from horizonscan.similarity.pairs import (
    FEATURE_NAMES,
    IDENTICAL_COS,
    WEIGHTS_FILE,
    ArticleSignature,
    PairScorer,
    build_signatures,
    pair_features,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "semeval2022-task8-train.jsonl"
GBM_PARAMS = {"n_trees": 300, "learning_rate": 0.03, "min_leaf": 20, "depth": 2, "subsample": 0.8}
COS_PARAMS = {"n_trees": 100, "learning_rate": 0.05, "min_leaf": 30, "depth": 2, "subsample": 0.8}
FOLDS = 10


def _sign(args: tuple[list[str], list[str | None]]) -> list[ArticleSignature]:
    return build_signatures(args[0], args[1])


def signatures(rows: list[dict[str, object]], cache: Path, workers: int) -> list[ArticleSignature]:
    """Signatures for text1/text2 of every row (interleaved), cached on disk."""
    texts = [str(r[k]) for r in rows for k in ("text1", "text2")]
    langs = [str(r[k]) for r in rows for k in ("lang1", "lang2")]
    key = hashlib.sha1(
        json.dumps([texts, langs, CHUNK_CHARS, MAX_CHUNKS, DOC_CHUNKS, FEATURE_NAMES]).encode()
    ).hexdigest()[:16]
    path = cache / f"semeval-sigs-{key}.pkl"
    if path.exists():
        with path.open("rb") as fh:
            cached: list[ArticleSignature] = pickle.load(fh)
        return cached
    t = time.perf_counter()
    parts = np.array_split(np.arange(len(texts)), workers)
    jobs = [([texts[i] for i in p], [langs[i] for i in p]) for p in parts]
    with ProcessPoolExecutor(workers) as pool:
        sigs = [s for part in pool.map(_sign, jobs) for s in part]
    dt = time.perf_counter() - t
    print(f"embedded {len(texts)} texts in {dt:.1f} s ({len(texts) / dt:.1f} texts/s, {workers} procs)")
    cache.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(sigs, fh)
    return sigs


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation."""
    return float(np.corrcoef(a, b)[0, 1])


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Threshold maximising balanced accuracy of score >= t for same-story pairs."""
    best_t, best_ba = 0.5, 0.0
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        pred = scores >= t
        ba = (pred[same].mean() + (~pred[~same]).mean()) / 2
        if ba > best_ba:
            best_t, best_ba = float(t), float(ba)
    return best_t, best_ba


def main() -> int:
    """Run CV, print figures, write weights."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/horizonscan-calibrate"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not args.data.exists():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    sigs = signatures(rows, args.cache, args.workers)
    x = np.stack([pair_features(sigs[2 * i], sigs[2 * i + 1]) for i in range(len(rows))])
    y = -np.array([float(r["overall"]) for r in rows])
    cross = np.array([r["lang1"] != r["lang2"] for r in rows])
    folds = np.random.default_rng(0).permutation(len(rows)) % FOLDS
    cos_col = FEATURE_NAMES.index("cos2")
    pred_full, pred_cos = np.zeros(len(y)), np.zeros(len(y))
    for k in range(FOLDS):
        tr = folds != k
        pred_full[~tr] = TinyGBM(**GBM_PARAMS).fit(x[tr], y[tr]).predict(x[~tr])  # type: ignore[arg-type]
        cosx = x[:, [cos_col]]
        pred_cos[~tr] = TinyGBM(**COS_PARAMS).fit(cosx[tr], y[tr]).predict(cosx[~tr])  # type: ignore[arg-type]
    raw = x[:, cos_col]
    pred_full = PairScorer.finalize(pred_full, x)  # the exact run-time scoring path
    figures: dict[str, float] = {}
    for name, p in (("raw_cosine", raw), ("cosine_model", pred_cos), ("full_model", pred_full)):
        figures[f"{name}_all"] = round(pearson(p, y), 4)
        figures[f"{name}_cross"] = round(pearson(p[cross], y[cross]), 4)
        fa, fc = figures[f"{name}_all"], figures[f"{name}_cross"]
        print(f"{name:13s} CV Pearson  all {fa:.4f}  cross-lingual {fc:.4f}")
    scores = pred_full
    same = -y <= 2.0
    n_ident = int((x[:, FEATURE_NAMES.index("cos5")] >= IDENTICAL_COS).sum())
    print(f"near-identical pairs (cos5 >= {IDENTICAL_COS}): {n_ident}")
    thr, ba = best_threshold(scores, same)
    print(f"threshold {thr:.2f} (balanced accuracy {ba:.3f} for overall<=2, {same.sum()}/{len(same)} pairs)")
    print(f"pairs: {len(rows)} ({cross.sum()} cross-lingual), features: {', '.join(FEATURE_NAMES)}")
    full = TinyGBM(**GBM_PARAMS).fit(x, y)  # type: ignore[arg-type]
    cosm = TinyGBM(**COS_PARAMS).fit(x[:, [cos_col]], y)  # type: ignore[arg-type]
    meta = {
        "data": "SemEval-2022 task 8 train",
        "pairs": len(rows),
        "cv_folds": FOLDS,
        "cv_pearson": figures,
        "threshold_balanced_accuracy": round(ba, 4),
        "gbm_params": GBM_PARAMS,
    }
    scorer = PairScorer(full=full, cosine=cosm, threshold=thr, meta=meta)
    if not args.no_write:
        out = REPO / "src" / "horizonscan" / "similarity" / WEIGHTS_FILE
        out.write_text(json.dumps(scorer.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
