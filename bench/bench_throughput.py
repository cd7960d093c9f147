"""Throughput against a provider with fixed latency, at several concurrencies, vs the ideal.

Ideal throughput at concurrency N and latency L is N / L articles per second. Also prints the
pipeline's own overhead per article (latency 0, concurrency 1, HTTP to the local mock included).

    python bench/bench_throughput.py [--latency 1.0] [--concurrency 1,8,32] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from _common import mock_server, write_articles
from horizonscan.config import Settings
from horizonscan.jobs.batch import run_batch
from horizonscan.sources.inputs import expand_inputs
from horizonscan.store import Store


def run_once(folder: Path, work: Path, concurrency: int) -> tuple[float, float]:
    """(seconds of the analysis batch, seconds of the whole run incl. similarity and pages)."""
    settings = Settings(
        llm="openai:bench-model", db=work / "hs.db", out=work / "pages", concurrency=concurrency
    )
    store = Store.open(settings.db)
    inputs = expand_inputs([str(folder)])
    started = time.perf_counter()
    summary = asyncio.run(run_batch(store, settings, inputs))
    elapsed = time.perf_counter() - started
    store.close()
    assert summary.count("analyzed") == len(inputs), summary.as_dict()
    return summary.analysis_seconds, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=8.0, help="ideal duration of each run")
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    print(f"latency {args.latency:.2f} s per call")
    print(
        f"{'concurrency':>11} {'articles':>8} {'seconds':>8} {'art/s':>7} {'ideal':>7} {'ratio':>6} "
        f"{'+similarity+pages':>18}"
    )
    with tempfile.TemporaryDirectory() as tmp, mock_server(latency=args.latency) as url:
        os.environ["OPENAI_BASE_URL"] = url
        write_articles(Path(tmp) / "warm", 2, start=8_000_000)
        run_once(Path(tmp) / "warm", Path(tmp) / "work-warm", 2)  # imports and model loads, not measured
        for c in [int(x) for x in args.concurrency.split(",")]:
            n = max(c, round(c * args.seconds / args.latency))
            folder = Path(tmp) / f"in-{c}"
            write_articles(folder, n, start=c * 100_000)
            elapsed, total = run_once(folder, Path(tmp) / f"work-{c}", c)
            ideal = c / args.latency
            rate = n / elapsed
            print(
                f"{c:>11} {n:>8} {elapsed:>8.2f} {rate:>7.2f} {ideal:>7.2f} {rate / ideal:>6.1%} "
                f"{total - elapsed:>17.2f}s"
            )
    with tempfile.TemporaryDirectory() as tmp, mock_server(latency=0.0) as url:
        os.environ["OPENAI_BASE_URL"] = url
        n = 200
        folder = Path(tmp) / "in"
        write_articles(folder, n, start=9_000_000)
        elapsed, _total = run_once(folder, Path(tmp) / "work", 1)
        print(
            f"overhead per article (latency 0, concurrency 1, incl. local HTTP): {elapsed / n * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
