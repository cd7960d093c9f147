"""A run's fixed overhead: what a batch adds after the provider's last answer, and in all.

Why: the corpus stage after a batch (article signatures, closest articles, stories, trends, story
items, pages) used to embed every new article and item after the last answer: seconds of waiting
for nothing the provider does. The batch now embeds each document and each landed analysis in a
helper process while it waits on the provider (jobs/embed_ahead.py). Measured here, each run
in a fresh process (nothing preloaded, the embedder's weights included), 120 synthetic articles,
a mock provider with 1 s latency, concurrency 8 (ideal provider time: 15 waves of 1 s):

* after the last answer: from the last article's result to the end of `run_batch` (the rest of
  the background embedding, then the corpus stage). Target: <= 3 s.
* CPU seconds of the run's own process (all its threads, not the embedding helper) in both
  phases: after the last answer, this is the work that cannot overlap the provider's waiting.
* the whole `horizonscan analyze` command (a new process: start-up, imports, the batch, the
  corpus stage) minus the ideal provider time.

Both with the embedding ahead (as shipped) and without it (the corpus stage embeds all, as before).

    python bench/bench_tail.py [--articles 120] [--latency 1.0] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, mock_server, write_articles


def one_run(folder: Path, work: Path, concurrency: int, ahead: bool) -> dict[str, float]:
    """One batch in this process; seconds of the batch, after the last answer, and in all."""
    import horizonscan.jobs.batch as batch_module
    from horizonscan.config import Settings
    from horizonscan.sources.inputs import expand_inputs
    from horizonscan.store import Store

    if not ahead:  # the corpus stage embeds everything after the last answer, as before
        options = batch_module.batch_options

        def without(*args: object, **kwargs: object) -> object:
            opts = options(*args, **kwargs)  # type: ignore[arg-type]
            opts.embed_ahead = None
            return opts

        batch_module.batch_options = without  # type: ignore[assignment]
    settings = Settings(
        llm="openai:bench-model", db=work / "hs.db", out=work / "pages", concurrency=concurrency
    )
    store = Store.open(settings.db)
    inputs = expand_inputs([str(folder)])
    last, last_cpu = 0.0, 0.0

    def landed(_result: object) -> None:
        nonlocal last, last_cpu
        last, last_cpu = time.perf_counter(), time.process_time()

    started, cpu = time.perf_counter(), time.process_time()
    summary = asyncio.run(batch_module.run_batch(store, settings, inputs, on_result=landed))
    ended, ended_cpu = time.perf_counter(), time.process_time()
    store.close()
    assert summary.count("analyzed") == len(inputs), summary.as_dict()
    return {
        "batch": summary.analysis_seconds,
        "after_last_answer": ended - last,
        "total": ended - started,
        "cpu_after": ended_cpu - last_cpu,
        "cpu_total": ended_cpu - cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=120)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--one", choices=["ahead", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child: one run in a fresh process, its figures as JSON
        print(json.dumps(one_run(args.folder, args.work, args.concurrency, args.one == "ahead")))
        return
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    n, c, lat = args.articles, args.concurrency, args.latency
    ideal = math.ceil(n / c) * lat
    print(f"{n} articles, provider latency {lat:.1f} s, concurrency {c}: ideal provider time {ideal:.1f} s")
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'bench'}")
    with tempfile.TemporaryDirectory() as tmp, mock_server(latency=lat) as url:
        env["OPENAI_BASE_URL"] = url
        for k, mode in enumerate(("ahead", "after")):
            folder = Path(tmp) / f"in-{mode}"
            write_articles(folder, n, start=(k + 1) * 1_000_000)
            out = subprocess.run(
                [sys.executable, __file__, "--one", mode, "--folder", str(folder), "--work",
                 str(Path(tmp) / f"work-{mode}"), "--concurrency", str(c)],
                env=env, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            fig = json.loads(out.strip().splitlines()[-1])
            label = "embedding ahead (as shipped)" if mode == "ahead" else "embedding after (before)"
            tail, load = fig["after_last_answer"], os.getloadavg()[0]
            print(
                f"{label:<30} batch {fig['batch']:6.2f} s   after the last answer {tail:5.2f} s   "
                f"run_batch {fig['total']:6.2f} s; CPU {fig['cpu_after']:5.2f} s after the last answer, "
                f"{fig['cpu_total']:5.2f} s in all (load average {load:.1f})"
            )
        folder = Path(tmp) / "in-cli"
        write_articles(folder, n, start=5_000_000)
        work = Path(tmp) / "work-cli"
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "horizonscan", "analyze", str(folder), "--llm", "openai:bench-model",
             "--db", str(work / "hs.db"), "--out", str(work / "pages"), "--concurrency", str(c), "--json"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        took = time.perf_counter() - started
        assert run.returncode == 0, run.stderr[-2000:]
        print(
            f"`horizonscan analyze` command: {took:.2f} s in all, {took - ideal:.2f} s over the ideal "
            f"provider time (start-up, imports, the batch's own work, the corpus stage; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )


if __name__ == "__main__":
    main()
