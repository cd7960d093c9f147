"""Trend assignment at scale: 100 000 items from scratch, then an incremental batch of 100 articles.

Why: `trends` must stay interactive on a large corpus, and the incremental update runs after
every batch (jobs/corpus.py). Two measurements on the 2-core machine:

1. From scratch. Embedding 100 000 item texts with USE would take ~25 min and measure the
   embedder, not the trends, so the items get synthetic 512-dim vectors shaped like USE item
   vectors (a shared direction, 60 topic families, concepts whose paraphrases sit at cosine
   ~0.53 of each other, unrelated items at ~0.15; concept sizes heavy-tailed, 1 to 400, more
   than half of them single mentions) and are stored as if already embedded. Timed: the clustering
   alone (`cluster_all`: one assignment pass and one refinement pass), then the whole
   `update_trends` from an empty trend table over the SQLite database (corpus load, clustering,
   id matching, writes, life cycle and summaries of every trend).
2. Incremental: 100 new articles (800 items with real texts) are stored through the normal
   path, each analysis's items embedded as it lands (the batch's background embedder, which
   works while the batch waits on the provider), then `update_trends` places them: the update
   after the last answer. For comparison, 100 more articles without embedding ahead, where the
   update embeds their items itself (as before).

Usage: python bench/bench_trends.py [--items 100000] [--new-articles 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from horizonscan.config import Settings  # noqa: E402
from horizonscan.jobs.embed_ahead import EmbedAhead  # noqa: E402
from horizonscan.models import Analysis, CheckedItem, Document, Origin  # noqa: E402
from horizonscan.similarity.embed import get_embedder  # noqa: E402
from horizonscan.store import Store  # noqa: E402
from horizonscan.store.schema import AnalysisRow, ArticleRow, ItemRow  # noqa: E402
from horizonscan.store.trends import TrendRepository  # noqa: E402
from horizonscan.trends import refresh_trends  # noqa: E402
from horizonscan.trends.calibration import PARAPHRASES, pairwise_scores  # noqa: E402
from horizonscan.trends.cluster import cluster_all  # noqa: E402
from horizonscan.trends.config import TrendSettings  # noqa: E402
from horizonscan.trends.engine import item_key, update_trends  # noqa: E402

ITEMS_PER_ARTICLE = 8
DIM = 512
KINDS = ("signal", "behavior", "technology", "issue")
DIMENSIONS = ("social", "technological", "economic", "environmental", "political", "values")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit(a: np.ndarray) -> np.ndarray:
    out: np.ndarray = a / np.linalg.norm(a, axis=-1, keepdims=True)
    return out


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Item vectors and their concept labels (see module docstring), in random order.

    Tuned to the USE statistics of the labelled paraphrases (trends/calibration.py): unrelated
    items at cosine 0.15 (real: 0.17), 99th percentile 0.31 (0.41); same family 0.32; two
    paraphrases of one concept 0.53 on average, 10th percentile 0.45 (real: 0.56 and 0.43)."""
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(min(400, rng.zipf(1.7))))
    labels = rng.permutation(np.repeat(np.arange(len(sizes)), sizes)[:n])
    common = unit(rng.standard_normal(DIM))
    families = unit(rng.standard_normal((60, DIM)))
    fam = rng.integers(0, 60, len(sizes))
    centres = unit(0.5 * common + 0.55 * families[fam] + 0.6 * unit(rng.standard_normal((len(sizes), DIM))))
    noise = rng.uniform(0.7, 1.2, (n, 1))
    x = unit(centres[labels] + noise * unit(rng.standard_normal((n, DIM))))
    return x.astype(np.float32), labels


def build_db(path: Path, vectors: np.ndarray, labels: np.ndarray, embedder: str) -> None:
    """Articles, analyses and items in bulk (the pipeline would take hours), and each item's
    vector stored under the key `update_trends` looks up, as if it had been embedded."""
    store = Store.open(path)
    repo = TrendRepository(store.engine)
    n_articles = len(vectors) // ITEMS_PER_ARTICLE
    rng = random.Random(1)
    start = datetime(2024, 1, 1)
    now = datetime(2026, 1, 1)
    arts, analyses, items = [], [], []
    keys: dict[str, np.ndarray] = {}
    for a in range(n_articles):
        h = f"{a:064x}"
        day = start + timedelta(days=rng.randrange(720))
        site = f"https://site{rng.randrange(400)}.example/{a}"
        arts.append(
            {
                "id": a + 1,
                "source": site,
                "url": site,
                "origin_label": f"Origin {a % 7}",
                "published": day.date().isoformat(),
                "text_hash": h,
                "text": f"Article {a}.",
                "meta": {},
                "status": "analyzed",
                "attempts": 1,
                "first_seen": now,
                "updated_at": now,
                "language": "en",
            }
        )
        analyses.append(
            {
                "id": a + 1,
                "text_hash": h,
                "model": "m",
                "prompt_version": "v",
                "schema_version": "1",
                "title": f"Article {a}",
                "summary": f"Summary {a}.",
                "keywords": [],
                "themes": [],
                "category": "technology",
                "type": "news",
                "chunks": 1,
                "created_at": now,
            }
        )
        for p in range(ITEMS_PER_ARTICLE):
            i = a * ITEMS_PER_ARTICLE + p
            name, desc = f"Item {i}", f"Concept {labels[i]} as phrased by article {a}."
            items.append(
                {
                    "analysis_id": a + 1,
                    "kind": KINDS[p % 4],
                    "position": p,
                    "name": name,
                    "description": desc,
                    "relevancy": 3,
                    "evidence": desc,
                    "evidence_found": True,
                    "evidence_score": 1.0,
                    "dimension": DIMENSIONS[int(labels[i]) % 6],
                    "horizon": "H2" if p % 4 == 0 else None,
                    "evidence_mode": "quote",
                    "problems": [],
                }
            )
            keys[item_key(embedder, f"{name}: {desc}")] = vectors[i]
    with store.engine.begin() as conn:
        for table, rows in ((ArticleRow, arts), (AnalysisRow, analyses), (ItemRow, items)):
            for s in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[s : s + 5000])
    repo.add_vectors(embedder, keys)
    store.close()


def new_articles(
    store: Store,
    n: int,
    seed: int = 5,
    *,
    first: int = 0,
    on_landed: Callable[[Analysis], None] | None = None,
) -> None:
    """`n` articles through the normal path, with real item texts (paraphrases and variants);
    `on_landed` hears of each saved analysis, as the batch's background embedder does."""
    rng = random.Random(seed)
    for k in range(first, first + n):
        texts = []
        for p in range(ITEMS_PER_ARTICLE):
            name, desc = rng.choice(rng.choice(PARAPHRASES)).split(": ", 1)
            texts.append((name, f"{desc} Seen in article {k}, item {p}."))
        body = f"New article {k}. " + " ".join(d for _, d in texts)
        doc = Document(
            source=f"https://new{k % 30}.example/{k}",
            url=f"https://new{k % 30}.example/{k}",
            text=body,
            text_hash=f"{k + 10**9:064x}",
            date="2025-12-20",
            language="en",
            origin=Origin(label="Bench"),
        )
        aid = store.articles.upsert_article(doc)
        items = [
            CheckedItem(
                kind=KINDS[p % 4],
                name=nm,
                description=d,
                relevancy=3,
                evidence=d,
                evidence_found=True,
                dimension="social",
            )
            for p, (nm, d) in enumerate(texts)
        ]
        analysis = Analysis(
            text_hash=doc.text_hash,
            model="m",
            prompt_version="v",
            title=f"New {k}",
            summary=f"New {k}.",
            keywords=[],
            themes=[],
            category="technology",
            type="news",
            items=items,
        )
        store.analyses.save_analysis(analysis, aid)
        if on_landed is not None:
            on_landed(analysis)


class TimedEmbedder:
    """The real embedder, timed: the incremental figure is split into embedding and the rest."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.seconds = 0.0
        self.cpu = 0.0
        self.texts = 0
        self.chars = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        started, cpu = time.perf_counter(), time.process_time()
        out: np.ndarray = self.inner.embed(texts)
        self.seconds += time.perf_counter() - started
        self.cpu += time.process_time() - cpu
        self.texts += len(texts)
        self.chars += sum(len(t) for t in texts)
        return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--new-articles", type=int, default=100)
    ap.add_argument("--keep", type=Path, default=None, help="Keep the database in this folder.")
    args = ap.parse_args()
    settings = TrendSettings()
    t0 = time.perf_counter()
    x, labels = synthetic(args.items)
    took = time.perf_counter() - t0
    print(f"data: {args.items} items x {DIM}, {labels.max() + 1} true concepts, {took:.1f} s")

    t = time.perf_counter()
    pred, _sums, counts = cluster_all(x, settings.threshold)
    t_cluster = time.perf_counter() - t
    sample = np.random.default_rng(2).choice(len(x), 4000, replace=False)
    p, r, f = pairwise_scores(list(pred[sample]), list(labels[sample]))
    print(
        f"cluster_all (assign + refine) at {settings.threshold}: {t_cluster:.1f} s, {len(counts)} trends "
        f"(true {labels.max() + 1}); pairwise P/R/F1 on 4 000 sampled items {p:.3f}/{r:.3f}/{f:.3f}; "
        f"peak {peak_mib():,.0f} MiB"
    )

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-trends-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "bench.db"
    db.unlink(missing_ok=True)
    emb = get_embedder("use")
    t = time.perf_counter()
    build_db(db, x, labels, emb.name)
    print(f"database built in {time.perf_counter() - t:.1f} s (bulk insert; not part of the figures)")
    del x
    store = Store.open(db)
    repo = TrendRepository(store.engine)
    t = time.perf_counter()
    update = update_trends(repo, emb, settings)
    t_scratch = time.perf_counter() - t
    print(
        f"update_trends from scratch over the database: {t_scratch:.1f} s ({update.items} items, "
        f"{update.trends} trends, reclustered={update.reclustered}); peak {peak_mib():,.0f} MiB"
    )
    hs = Settings(db=db, embedder="use")
    refresh_trends(store, hs, trend_settings=settings)  # records the corpus signature

    emb.embed(["warm up the encoder"])  # a real batch has it loaded by its first documents

    # As shipped: each analysis's items are embedded in the background as it lands, while the
    # batch waits on the provider (jobs/embed_ahead.py); the update after the last answer finds
    # them stored.
    ahead = EmbedAhead(store, emb.name)
    t = time.perf_counter()
    new_articles(store, args.new_articles, on_landed=ahead.landed)
    asyncio.run(ahead.drain())
    ahead.close()
    t_store = time.perf_counter() - t
    timed = TimedEmbedder(emb)
    t = time.perf_counter()
    inc = update_trends(repo, timed, settings)
    t_inc = time.perf_counter() - t
    load = os.getloadavg()[0]
    print(
        f"incremental after {args.new_articles} new articles ({inc.added} items, {inc.new_trends} new "
        f"trends, reclustered={inc.reclustered}): {t_inc:.2f} s after the last answer, of which embedding "
        f"{timed.texts} item texts {timed.seconds:.2f} s (load average {load:.1f} on {os.cpu_count()} "
        "cores). "
        f"Embedded ahead, in the background while the batch waited on the provider: {ahead.items} item "
        f"texts in {ahead.seconds:.2f} s ({ahead.cpu:.1f} s of CPU in the helper process; storing the "
        f"articles and embedding took {t_store:.1f} s)"
    )
    refresh_trends(store, hs, trend_settings=settings)  # records the new signature

    # Before: the update embeds the new items itself, after the last answer.
    new_articles(store, args.new_articles, seed=6, first=args.new_articles)
    timed = TimedEmbedder(emb)
    t = time.perf_counter()
    before = update_trends(repo, timed, settings)
    t_before = time.perf_counter() - t
    print(
        f"the same without embedding ahead ({before.added} items): {t_before:.2f} s, of which embedding "
        f"{timed.texts} item texts ({timed.chars} chars) with USE {timed.seconds:.2f} s ({timed.cpu:.1f} s "
        f"of CPU, {timed.chars / max(timed.seconds, 1e-9):,.0f} chars/s; load average "
        f"{os.getloadavg()[0]:.1f})"
    )
    refresh_trends(store, hs, trend_settings=settings)  # records the new signature
    t = time.perf_counter()
    again = refresh_trends(store, hs, trend_settings=settings)
    print(f"refresh with nothing new: {time.perf_counter() - t:.3f} s (update skipped: {again is None})")
    store.close()
    ok = t_scratch <= 60 and t_inc <= 5
    print(f"targets: from scratch <= 60 s, incremental <= 5 s: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
