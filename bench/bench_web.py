"""Web app speed on 10 000 analyzed articles: search and filters within 100 ms at the 95th
percentile, an article page within 50 ms.

The corpus is synthetic and inserted directly through the Store (`upsert_article`,
`save_analysis`): 10 000 articles over two years, each with 8 items (STEEP+V dimensions,
horizons, some evidence not found), a few stars and hidden articles, stories of two, and the
closest-articles table the corpus stage writes. The app runs with uvicorn on 127.0.0.1 in this
process's thread; requests go over real HTTP (httpx, keep-alive), one at a time.

Usage: python bench/bench_web.py [--articles 10000] [--requests 200] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from tests.support.articles import article_text  # noqa: E402

from horizonscan.config import load_settings  # noqa: E402
from horizonscan.extract import text_hash  # noqa: E402
from horizonscan.models import Analysis, CheckedItem, Document, Origin  # noqa: E402
from horizonscan.store import Store  # noqa: E402
from horizonscan.store.curation import CurationRepo  # noqa: E402
from horizonscan.store.search import SearchIndex  # noqa: E402
from horizonscan.web.app import create_app  # noqa: E402

DIMENSIONS = ["social", "technological", "economic", "environmental", "political", "values"]
THEMES = ["energy", "mobility", "work", "health", "cities", "climate", "finance", "education", "food",
          "housing", "data", "manufacturing", "retail", "water", "security"]  # fmt: skip
TOPICS = ["battery recycling", "heat networks", "autonomous delivery", "four-day week", "drought insurance",
          "repair cafes", "solar panels", "remote work", "virtual reality training", "ride pooling",
          "diesel phase-out", "data centres", "hydrogen trucks", "urban forests", "desalination"]  # fmt: skip
LANGS = ["en", "fr", "de", "es", "it"]
ORIGINS = ["Futures Weekly", "Climate Signals", "Tech Radar Digest", "City Notes"]


def build(db: Path, n: int, seed: int = 1) -> float:
    rng = random.Random(seed)
    store = Store.open(db)
    start = date(2024, 1, 1)
    t0 = time.perf_counter()
    for i in range(n):
        text = article_text(i)
        topic = rng.choice(TOPICS)
        doc = Document(
            source=f"https://news{i % 40}.example/{i}",
            url=f"https://news{i % 40}.example/{i}",
            title=f"{topic.title()} report {i}",
            date=(start + timedelta(days=rng.randrange(730))).isoformat(),
            language=rng.choice(LANGS),
            text=text,
            text_hash=text_hash(text),
            origin=Origin(label=rng.choice(ORIGINS)),
        )
        article_id = store.articles.upsert_article(doc)
        words = text.split()
        items = []
        for k in range(8):
            kind = ("signal", "signal", "behavior", "behavior", "technology", "technology", "issue", "issue")[
                k
            ]
            found = rng.random() > 0.1
            items.append(
                CheckedItem(
                    kind=kind,  # type: ignore[arg-type]
                    name=f"{topic} {kind} {k}",
                    description=f"Firms adopt {topic} as {rng.choice(THEMES)} changes in {i % 97} regions.",
                    relevancy=rng.randint(0, 5),
                    evidence=" ".join(words[k * 6 : k * 6 + 8])
                    if found
                    else "an invented quote about something else",
                    evidence_found=found,
                    evidence_score=1.0 if found else 0.4,
                    change="From the old way to a new approach." if kind == "signal" else None,
                    ten_year="Most firms may work differently." if kind == "signal" else None,
                    driving_force="Costs and regulation." if kind == "signal" else None,
                    dimension=rng.choice(DIMENSIONS),
                    horizon=rng.choice(["H1", "H2", "H3"]) if kind == "signal" else None,
                )
            )
        analysis = Analysis(
            text_hash=doc.text_hash, model="openai:bench", prompt_version="v1-bench",
            title=f"{topic.capitalize()}: what changes in {rng.choice(THEMES)} ({i})",
            summary=f"The article reports on {topic}. " + " ".join(words[:60]),
            keywords=[topic, rng.choice(THEMES), rng.choice(THEMES)], themes=rng.sample(THEMES, 3),
            category=rng.choice(["technology", "economy", "environment", "society", "politics"]), type="news",
            language=doc.language, items=items,
        )  # fmt: skip
        store.analyses.save_analysis(analysis, article_id)
    ids = list(range(1, n + 1))
    store.stories.set_story_members({a: (a if a % 10 < 5 else a - 5) for a in ids if a % 10 < 5 or a > 5})
    closest = {str(a): [[rng.randint(1, n), round(rng.random(), 3)] for _ in range(5)] for a in ids}
    store.meta.set("closest", json.dumps({"key": "bench", "closest": closest}))
    cur = CurationRepo(store.engine)
    for a in rng.sample(ids, 200):
        cur.set_article(a, starred=True)
    for a in rng.sample(ids, 100):
        cur.set_article(a, hidden=True, note="Off topic")
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--db", type=Path, default=None, help="Reuse (or create) this database.")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "bench.db"
    if not db.exists():
        print(f"building {args.articles} analyzed articles …", flush=True)
        print(f"  inserted through the Store in {build(db, args.articles):.1f} s", flush=True)
    store = Store.open(db)
    t0 = time.perf_counter()
    indexed = SearchIndex(store.engine).sync()
    print(f"  search index: {indexed} articles in {time.perf_counter() - t0:.1f} s", flush=True)
    settings, _ = load_settings({"db": db})
    app = create_app(store, settings)
    sock = socket.socket()
    # As uvicorn's own sockets: without TCP_NODELAY, Nagle and delayed ACKs add 40 ms a request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    rng = random.Random(2)
    base = f"http://127.0.0.1:{port}"
    searches = [
        {"q": w} for w in ("battery", "heat networks", "repair", "insurance drought", "solar", "work")
    ]
    filters = [
        {"dimension": "environmental"}, {"horizon": "H3"}, {"language": "de"}, {"category": "economy"},
        {"theme": "energy"}, {"origin": "City Notes"}, {"min_relevancy": "5"}, {"evidence": "missing"},
        {"curation": "starred"}, {"date_from": "2024-06-01", "date_to": "2024-08-31"},
        {"q": "solar", "dimension": "economic", "language": "fr"}, {"q": "remote work", "horizon": "H1"},
        {"page": "50"},
    ]  # fmt: skip
    results: dict[str, list[float]] = {"search (HTML list)": [], "filter (HTML list)": [],
                                       "search + filter (JSON API)": [], "article page": []}  # fmt: skip
    with httpx.Client(base_url=base, timeout=30) as client:
        for warm in ("/", "/?q=solar", "/articles/1", "/api/articles?q=solar"):
            client.get(warm).raise_for_status()
        for i in range(args.requests):
            for name, params in (
                ("search (HTML list)", rng.choice(searches)),
                ("filter (HTML list)", rng.choice(filters)),
                ("search + filter (JSON API)", {**rng.choice(searches), **rng.choice(filters[:9])}),
            ):
                t = time.perf_counter()
                r = client.get("/" if "HTML" in name else "/api/articles", params=params)
                results[name].append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
            t = time.perf_counter()
            r = client.get(f"/articles/{rng.randint(1, args.articles)}")
            results["article page"].append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.status_code
            if i == 0:
                print(
                    f"  first round: {', '.join(f'{k} {v[0]:.0f} ms' for k, v in results.items())}",
                    flush=True,
                )
    server.should_exit = True
    thread.join(timeout=10)
    store.close()
    limits = {
        "search (HTML list)": 100,
        "filter (HTML list)": 100,
        "search + filter (JSON API)": 100,
        "article page": 50,
    }
    print(f"\n{args.articles} articles, {args.requests} requests each (ms):")
    print("| request | p50 | p95 | max | limit (p95) |\n|---|---:|---:|---:|---:|")
    ok = True
    for name, values in results.items():
        p95 = pct(values, 95)
        ok &= p95 <= limits[name]
        print(
            f"| {name} | {statistics.median(values):.1f} | {p95:.1f} | {max(values):.1f} | {limits[name]} |"
        )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
