"""Workers: real `horizonscan worker` processes on one SQLite database, against the mock provider.

Each test enqueues articles with `analyze --enqueue`, then runs worker processes and checks, from
the mock's request log and the database, that every article was analyzed exactly once, that a
killed worker's article is taken over after its lease expires, that Ctrl-C releases the leases at
once, and that a `--max-cost` holds for all workers together.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from horizonscan.jobs.worker import PoolLimits
from horizonscan.llm.limits import BudgetExceeded, SharedBudget, SharedRateLimiter
from horizonscan.store import Store
from horizonscan.store.limits import LimitRepo
from tests.support.articles import write_articles
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer

REPORT = re.compile(r"\(report (\d+)\)")


def _enqueue(tmp_path: Path, n: int, db: str | None = None) -> None:
    write_articles(tmp_path / "in", n)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--enqueue", "--db", db or str(tmp_path / "hs.db"),
        "--out", str(tmp_path / "pages"), "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.json()["enqueued"] == n


def _worker(
    tmp_path: Path,
    srv: MockLLMServer,
    *args: str,
    lease: float = 30.0,
    until_empty: bool = True,
    db: str | None = None,
) -> subprocess.Popen[str]:
    # No similarity stage: these tests are about the queue; the corpus stage is not what is timed.
    env = dict(
        os.environ, OPENAI_BASE_URL=srv.openai_url, OPENAI_API_KEY="sk-test", HORIZONSCAN_SIMILARITY="0"
    )
    cmd = [
        sys.executable, "-m", "horizonscan", "worker", "--poll", "0.1", "--lease-seconds", str(lease),
        "--llm", "openai:gpt-4o-mini", "--db", db or str(tmp_path / "hs.db"),
        "--out", str(tmp_path / "pages"),
        "--json", *(["--until-empty"] if until_empty else []), *args,
    ]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], code: int = 0) -> dict[str, object]:
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == code, err
    report: dict[str, object] = json.loads(out)
    return report


def _requested(srv: MockLLMServer) -> Counter[int]:
    """How many requests the mock received for each article (by its "(report N)" marker)."""
    return _requested_in(list(srv.requests))


def _requested_in(requests: list[dict[str, Any]]) -> Counter[int]:
    seen: Counter[int] = Counter()
    for req in requests:
        text = "\n".join(str(m.get("content", "")) for m in req["body"].get("messages", []))
        found = REPORT.search(text)
        if found:
            seen[int(found.group(1))] += 1
    return seen


def _db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "hs.db", timeout=30)


def _wait_for(what: str, check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _ok_calls_per_text(con: sqlite3.Connection) -> Counter[str]:
    rows = con.execute("select text_hash from llm_calls where status = 'ok' and purpose = 'analyze'")
    return Counter(h for (h,) in rows)


def test_two_workers_analyze_every_article_exactly_once(
    llm_server: MockLLMServer, tmp_path: Path, any_db: str
) -> None:
    n = 12
    _enqueue(tmp_path, n, any_db)
    llm_server.latency = 0.3  # long enough that a worker starting a little later still gets work
    workers = [_worker(tmp_path, llm_server, "-j", "2", db=any_db) for _ in range(2)]
    reports = [_finish(w) for w in workers]
    analyzed = [int(str(r["analyzed"])) for r in reports]
    print("analyzed per worker:", analyzed, "seconds:", [r["seconds"] for r in reports])
    # The corpus stage (pages here; similarity is off) ran once for the change, not once per worker.
    assert sum(int(str(r["corpus_runs"])) for r in reports) == 1
    assert (tmp_path / "pages" / "index.md").is_file()
    assert sum(analyzed) == n and all(a > 0 for a in analyzed)  # both worked, nothing twice
    # One request per article: two workers never held (and paid for) the same article.
    assert _requested(llm_server) == Counter(dict.fromkeys(range(n), 1))
    store = Store.open(any_db)
    with store.engine.connect() as con:

        def one(sql: str) -> int:
            return int(con.execute(text(sql)).scalar_one())

        assert one("select count(*) from analyses") == n
        ok = con.execute(text("select text_hash from llm_calls where status = 'ok'")).scalars().all()
        assert len(ok) == len(set(ok)) == n
        rows = con.execute(text("select run_id, count(*) from llm_calls group by run_id")).all()
        by_worker = {str(run): int(count) for run, count in rows}
        assert sorted(by_worker.values()) == sorted(analyzed)
        assert one("select count(*) from articles where status != 'analyzed'") == 0
        assert one("select count(*) from articles where lease_owner is not null") == 0
        assert one("select count(*) from named_leases where owner is not null") == 0
    store.close()


def test_a_killed_workers_articles_are_taken_over_once_its_leases_expire(
    llm_server: MockLLMServer, tmp_path: Path
) -> None:
    n = 10
    _enqueue(tmp_path, n)
    con = _db(tmp_path)
    llm_server.latency = 0.1
    first = _worker(tmp_path, llm_server, "-j", "2", lease=1.5, until_empty=False)
    _wait_for("a few analyses", lambda: con.execute("select count(*) from analyses").fetchone()[0] >= 3)
    llm_server.latency = 4.0  # the next answers are held: the kill lands mid-call
    sent = len(llm_server.requests)
    _wait_for("two held calls", lambda: len(llm_server.requests) >= sent + 2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    in_flight = _requested_in(llm_server.requests[sent:])
    assert len(in_flight) == 2  # both of its slots were waiting on an answer
    done_by_first = con.execute("select count(*) from analyses").fetchone()[0]
    assert 3 <= done_by_first <= n - 2  # it died with work done and work in flight
    llm_server.latency = 0.05
    second = _worker(tmp_path, llm_server, "-j", "2", lease=1.5)
    report = _finish(second)
    assert report["analyzed"] == n - done_by_first  # the rest, its killed rival's articles included
    assert con.execute("select count(*) from analyses").fetchone()[0] == n
    # Every answer that reached a worker is in the ledger once: nothing it saved was paid again.
    assert set(_ok_calls_per_text(con).values()) == {1} and len(_ok_calls_per_text(con)) == n
    # Only the calls in flight at the kill were sent twice.
    requested = _requested(llm_server)
    assert set(requested) == set(range(n))
    assert {k for k, v in requested.items() if v > 1} == set(in_flight)
    assert all(requested[k] == 2 for k in in_flight)
    assert con.execute("select count(*) from articles where lease_owner is not null").fetchone()[0] == 0


def test_ctrl_c_releases_the_workers_leases_at_once(llm_server: MockLLMServer, tmp_path: Path) -> None:
    _enqueue(tmp_path, 4)
    con = _db(tmp_path)
    llm_server.latency = 5.0  # answers are held: the worker is mid-call when interrupted
    proc = _worker(tmp_path, llm_server, "-j", "2", lease=600.0, until_empty=False)

    def held() -> int:
        return int(con.execute("select count(*) from articles where lease_owner is not null").fetchone()[0])

    # Two articles held, one call in flight (the others wait for the provider's first answer).
    _wait_for("a call in flight", lambda: len(llm_server.requests) >= 1 and held() == 2)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    report = _finish(proc, code=130)
    assert time.monotonic() - started < 3.5  # it did not wait for the held answer
    assert report["interrupted"] is True and report["analyzed"] == 0
    # Released at once, not after the 600 s lease: another worker can take them right away.
    assert con.execute("select count(*) from articles where lease_owner is not null").fetchone()[0] == 0
    assert con.execute("select count(*) from articles where status = 'new'").fetchone()[0] == 4


def test_a_max_cost_holds_for_all_workers_together(llm_server: MockLLMServer, tmp_path: Path) -> None:
    n = 30
    _enqueue(tmp_path, n)
    llm_server.latency = 0.1
    # One call costs about $0.00042 here; each is reserved at its worst case (about $0.0027).
    cap = 0.0042
    workers = [_worker(tmp_path, llm_server, "-j", "2", "--max-cost", str(cap)) for _ in range(2)]
    # Both stop on the budget (exit 4), even one that started late and found it spent by the other.
    reports = [_finish(w, code=4) for w in workers]
    con = _db(tmp_path)
    spent = con.execute("select sum(cost_usd) from llm_calls").fetchone()[0]
    per_worker = [float(str(r["cost_usd"])) for r in reports]
    print("spent per worker:", per_worker, "in all:", spent)
    # Together under the cap plus one call's reservation; with a budget each, they would have
    # spent about twice the cap (each up to it).
    assert cap <= spent < cap + 0.003
    pool = max(float(str(r["pool_spent_usd"])) for r in reports)  # the shared account, as last seen
    assert cap <= pool <= spent + 1e-6  # (the report rounds to 6 decimals)
    analyzed = con.execute("select count(*) from analyses").fetchone()[0]
    assert analyzed < n
    assert con.execute("select count(*) from articles where status = 'new'").fetchone()[0] == n - analyzed
    assert con.execute("select count(*) from limit_reservations").fetchone()[0] == 0


# ----- the shared limits themselves, on both engines (in-process, several connections) ------------
def _limits(db: str) -> tuple[Store, LimitRepo]:
    store = Store.open(db)
    return store, LimitRepo(store.engine)


def test_shared_budget_reservations_are_atomic_across_connections(any_db: str) -> None:
    stores = [Store.open(any_db) for _ in range(4)]  # four "processes", each with its own pool
    repos = [LimitRepo(s.engine) for s in stores]
    holds: list[str] = []

    def reserve(i: int) -> None:
        hold = repos[i % 4].reserve(
            "p", f"w{i}", cost=1.0, tokens=0, max_cost=3.0, max_tokens=None, seconds=60
        )
        holds.append(hold.outcome)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Spend + reservations in flight reach the cap after three: every later call is told to wait.
    assert sorted(holds) == ["held"] * 3 + ["wait"] * 9
    repo = repos[0]
    keys = [k for (k,) in _reservation_keys(stores[0])]
    for key in keys[:2]:
        repo.settle("p", key, cost=1.5, tokens=10)  # real costs above the estimate
    assert repo.spent("p") == (3.0, 20)
    refused = repo.reserve("p", "w", cost=0.1, tokens=0, max_cost=3.0, max_tokens=None, seconds=60)
    assert refused.outcome == "spent"  # the cap is reached: nothing starts again
    assert (
        repo.reserve("q", "w", cost=5, tokens=0, max_cost=3.0, max_tokens=None, seconds=60).outcome == "held"
    )
    for s in stores:
        s.close()


def _reservation_keys(store: Store) -> list[tuple[int]]:
    with store.engine.connect() as conn:
        return [(int(r[0]),) for r in conn.execute(text("select id from limit_reservations order by id"))]


def test_a_killed_workers_reservations_stop_counting_when_they_expire(any_db: str) -> None:
    store, repo = _limits(any_db)
    assert (
        repo.reserve("p", "dead", cost=1.0, tokens=0, max_cost=1.0, max_tokens=None, seconds=0.3).outcome
        == "held"
    )
    assert (
        repo.reserve("p", "live", cost=0.5, tokens=0, max_cost=1.0, max_tokens=None, seconds=60).outcome
        == "wait"
    )
    time.sleep(0.4)
    assert (
        repo.reserve("p", "live", cost=0.5, tokens=0, max_cost=1.0, max_tokens=None, seconds=60).outcome
        == "held"
    )
    assert repo.drop_reservations("live") == 1
    store.close()


def test_shared_rate_bucket_and_named_lock(any_db: str) -> None:
    store, repo = _limits(any_db)
    other = LimitRepo(Store.open(any_db).engine)
    assert repo.take("p:rpm", rate_per_min=120, amount=60) == 0  # a full bucket at first
    assert other.take("p:rpm", rate_per_min=120, amount=60) == 0
    wait = other.take("p:rpm", rate_per_min=120, amount=30)  # empty: 30 more take 15 s at 2/s
    assert 14 < wait <= 15.1
    assert repo.try_lock("corpus", "w1", seconds=60)
    assert not other.try_lock("corpus", "w2", seconds=60)  # held by another worker
    assert repo.lock_holder("corpus") == "w1"
    repo.unlock("corpus", "w2")  # not its lock: nothing happens
    assert not other.try_lock("corpus", "w2", seconds=60)
    repo.unlock("corpus", "w1")
    assert other.try_lock("corpus", "w2", seconds=0.2)
    time.sleep(0.3)
    assert repo.try_lock("corpus", "w1", seconds=60)  # an expired lock is taken over
    other.engine.dispose()
    store.close()


def test_shared_budget_in_the_client_stops_every_process_of_the_pool(tmp_path: Path) -> None:
    store, repo = _limits(str(tmp_path / "hs.db"))
    mine = SharedBudget(PoolLimits(repo, "p", "w1", seconds=60), max_cost=1.0)
    theirs = SharedBudget(PoolLimits(repo, "p", "w2", seconds=60), max_cost=1.0)

    async def spend() -> None:
        held = await mine.reserve(0.5, 0)
        mine.settle(held, 0.6, 0)
        held = await theirs.reserve(0.5, 0)
        theirs.settle(held, 0.6, 0)  # together over the cap: no one starts again
        with pytest.raises(BudgetExceeded, match="all workers together"):
            await mine.reserve(0.1, 0)

    asyncio.run(spend())
    assert mine.cost == pytest.approx(0.6) and repo.spent("p")[0] == pytest.approx(1.2)
    store.close()


def test_shared_rpm_holds_for_the_pool_not_per_process(tmp_path: Path) -> None:
    store, repo = _limits(str(tmp_path / "hs.db"))
    mine = SharedRateLimiter(PoolLimits(repo, "p", "w1", seconds=60), "p:model", rpm=2)
    theirs = SharedRateLimiter(PoolLimits(repo, "p", "w2", seconds=60), "p:model", rpm=2)

    async def go() -> None:
        await asyncio.wait_for(mine.acquire(100), 2)
        await asyncio.wait_for(theirs.acquire(100), 2)  # the pool's 2 requests of this minute
        with pytest.raises(TimeoutError):  # alone, `mine` would still have one left
            await asyncio.wait_for(mine.acquire(100), 0.5)

    asyncio.run(go())
    store.close()


def test_collect_enqueue_and_analyze_exclude_each_other(tmp_path: Path) -> None:
    run = run_cli(
        "collect", "https://example.org/feed", "--enqueue", "--analyze", "--db", str(tmp_path / "hs.db")
    )
    assert run.code == 2 and "exclude each other" in run.stderr


def test_enqueue_stores_pending_articles_and_refuses_what_a_batch_would(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_articles(folder, 2)
    (folder / "short.txt").write_text("Too short to analyze.", encoding="utf-8")
    args = ["--db", str(tmp_path / "hs.db"), "--out", str(tmp_path / "pages"), "--json"]
    run = run_cli("analyze", str(folder), str(tmp_path / "missing.txt"), "--enqueue", *args)
    assert run.code == 1  # one line each for what was not enqueued
    data = run.json()
    assert data["enqueued"] == 2 and data["pending"] == 2
    assert [s["source"].endswith("short.txt") for s in data["skipped"]] == [True]
    assert len(data["failed"]) == 1
    again = run_cli("analyze", str(folder / "article-00000.txt"), "--enqueue", *args)
    assert again.code == 0 and again.json()["pending"] == 2  # still one article, still pending
    both = run_cli("analyze", str(folder), "--enqueue", "--batch", "--llm", "openai:gpt-4o-mini", *args)
    assert both.code == 2 and "exclude each other" in both.stderr
    store = Store.open(tmp_path / "hs.db")
    assert store.meta.get("worker.corpus_marker") is None
    with store.engine.connect() as con:
        assert con.execute(text("select count(*) from llm_calls")).scalar_one() == 0  # no call made
    store.close()


def test_collect_enqueue_stores_the_new_articles_as_pending(tmp_path: Path) -> None:
    write_articles(tmp_path / "in", 3)
    args = ["--db", str(tmp_path / "hs.db"), "--json"]
    run = run_cli("collect", str(tmp_path / "in"), "--enqueue", *args)
    assert run.code == 0, run.stderr
    assert run.json()["enqueued"] == 3 and run.json()["pending"] == 3
    again = run_cli("collect", str(tmp_path / "in"), "--enqueue", *args)
    assert again.json()["enqueued"] == 0 and again.json()["pending"] == 3  # known links: not twice


def test_a_worker_refuses_a_database_that_does_not_exist(tmp_path: Path) -> None:
    run = run_cli("worker", "--until-empty", "--db", str(tmp_path / "typo.db"), "--out", str(tmp_path / "p"))
    assert run.code == 2 and "no database" in run.stderr
    assert not (tmp_path / "typo.db").exists()


def test_a_waiting_worker_runs_the_corpus_stage_once_per_change(
    llm_server: MockLLMServer, tmp_path: Path
) -> None:
    _enqueue(tmp_path, 3)
    store, limits = _limits(str(tmp_path / "hs.db"))

    def published() -> bool:  # the stage ran for the corpus as it is now
        marker = limits.corpus_marker()
        return marker is not None and store.meta.get("worker.corpus_marker") == marker

    proc = _worker(tmp_path, llm_server, "-j", "2", until_empty=False)
    _wait_for("the first corpus stage", published)
    index = tmp_path / "pages" / "index.md"
    first = index.read_text(encoding="utf-8")
    write_articles(tmp_path / "more", 1, start=50)
    assert run_cli("analyze", str(tmp_path / "more"), "--enqueue", "--db", str(tmp_path / "hs.db")).code == 0
    _wait_for("the new article's analysis", lambda: limits.pending() == 0 and published())
    assert index.read_text(encoding="utf-8") != first  # the index now lists the fourth article
    time.sleep(0.5)  # idle polls with nothing new: the stage does not run again
    proc.send_signal(signal.SIGTERM)
    report = _finish(proc, code=130)
    assert report["analyzed"] == 4 and report["corpus_runs"] == 2
    assert limits.lock_holder("corpus") is None
    store.close()


def test_a_worker_frees_at_once_what_a_dead_worker_on_its_machine_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from horizonscan.analysis.analyzer import make_analyzer
    from horizonscan.config import Settings
    from horizonscan.jobs.worker import Worker, WorkerOptions

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    _enqueue(tmp_path, 3)
    store, limits = _limits(str(tmp_path / "hs.db"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()[:40]
    holders = [f"{host}:{dead.pid}:killed", "other-host:1234:elsewhere", f"{host}:{os.getpid()}:alive"]
    for owner in holders:  # each holds one article for ten minutes
        assert store.articles.claim_next(owner, seconds=600) is not None
    limits.reserve("default", holders[0], cost=1, tokens=0, max_cost=None, max_tokens=None, seconds=600)
    settings = Settings(llm="openai:gpt-4o-mini", db=tmp_path / "hs.db", out=tmp_path / "pages")
    worker = Worker(store, settings, make_analyzer(settings), WorkerOptions(concurrency=1))
    assert worker._release_dead_holders()
    # Only the dead local holder's article is pending again; the others wait for their leases.
    assert limits.queue_holders() == set(holders[1:])
    assert limits.drop_reservations(holders[0]) == 0  # its reservation went with it
    assert not worker._release_dead_holders()
    store.close()
