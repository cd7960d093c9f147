"""Choose the trend clustering threshold on items with known groups (trends/calibration.py).

The 30 concepts × 5 paraphrases are embedded with the default embedder (multilingual USE),
mixed with distractors (the first sentence of each SemEval-2022 Task 8 article in
../shared/data, 10 languages, when present: a crowd of unrelated news an item must not join),
and clustered in shuffled orders at every threshold. The threshold is chosen on the even
concepts (best mean pairwise F1), then checked on the odd ones.

Usage: python bench/calibrate_trends.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from horizonscan.similarity.embed import get_embedder  # noqa: E402
from horizonscan.trends.calibration import PARAPHRASES, evaluate, labelled  # noqa: E402

SEMEVAL = REPO.parent / "shared" / "data" / "semeval2022-task8-train.jsonl"


def distractors() -> list[str]:
    if not SEMEVAL.is_file():
        return []
    out = []
    for line in SEMEVAL.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text1"].strip()
        out.append(re.split(r"(?<=[.!?])\s|\s{2,}", text)[0][:200])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--embedder", default="use")
    args = ap.parse_args()
    emb = get_embedder(args.embedder)
    extra = distractors()
    d_vecs = emb.embed(extra) if extra else np.zeros((0, emb.dim), np.float32)
    print(f"{len(PARAPHRASES)} concepts x 5 paraphrases; {len(extra)} distractors")
    halves = {
        "even": [c for c in range(len(PARAPHRASES)) if c % 2 == 0],
        "odd": [c for c in range(len(PARAPHRASES)) if c % 2 == 1],
    }
    thresholds = [round(t, 2) for t in np.arange(0.30, 0.58, 0.02)]
    results: dict[str, list[tuple[float, float, float]]] = {}
    for name, concepts in halves.items():
        texts, labels = labelled(concepts)
        vecs = np.vstack([emb.embed(texts), d_vecs])
        truth = labels + [-1 - i for i in range(len(extra))]
        results[name] = [evaluate(vecs, truth, t, seeds=args.seeds) for t in thresholds]
    print("threshold  even P/R/F1          odd P/R/F1")
    for i, t in enumerate(thresholds):
        e, o = results["even"][i], results["odd"][i]
        print(f"  {t:.2f}    {e[0]:.3f} {e[1]:.3f} {e[2]:.3f}    {o[0]:.3f} {o[1]:.3f} {o[2]:.3f}")
    best = max(range(len(thresholds)), key=lambda i: results["even"][i][2])
    odd_best = max(range(len(thresholds)), key=lambda i: results["odd"][i][2])
    print(
        f"chosen on even: {thresholds[best]:.2f} (F1 {results['even'][best][2]:.3f}); "
        f"held-out odd F1 there {results['odd'][best][2]:.3f} "
        f"(odd's own best {thresholds[odd_best]:.2f}: {results['odd'][odd_best][2]:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
