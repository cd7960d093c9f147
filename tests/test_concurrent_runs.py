"""Two runs on one database at once never pay for the same article twice (article leases)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from horizonscan.models import Document
from horizonscan.store import Store
from tests.support.articles import write_articles
from tests.support.mock_llm import MockLLMServer

N = 24


def _spawn(tmp_path: Path, srv: MockLLMServer, out: str) -> subprocess.Popen[str]:
    # No similarity stage: this is about the batch, and two embedding passes would only add time.
    env = dict(
        os.environ, OPENAI_BASE_URL=srv.openai_url, OPENAI_API_KEY="sk-test", HORIZONSCAN_SIMILARITY="0"
    )
    return subprocess.Popen(
        [
            sys.executable, "-m", "horizonscan", "analyze", str(tmp_path / "in"), "-j", "4",
            "--llm", "openai:gpt-4o-mini", "--db", str(tmp_path / "hs.db"), "--out", str(tmp_path / out),
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_two_runs_at_once_pay_for_each_article_once(llm_server: MockLLMServer, tmp_path: Path) -> None:
    llm_server.latency = 0.5
    write_articles(tmp_path / "in", N)
    # The database exists before both start, as it does when a second run starts beside a first.
    Store.open(tmp_path / "hs.db").close()
    first = _spawn(tmp_path, llm_server, "pages-a")
    second = _spawn(tmp_path, llm_server, "pages-b")
    outs = [p.communicate(timeout=180) for p in (first, second)]
    for proc, (_, err) in zip((first, second), outs, strict=True):
        assert proc.returncode == 0, err
    summaries = [json.loads(out)["summary"] for out, _ in outs]
    print(
        "analyzed per run:", [s["analyzed"] for s in summaries], "seconds:", [s["seconds"] for s in summaries]
    )
    assert all(s["analyzed"] + s["reused"] == N for s in summaries)
    assert sum(s["analyzed"] for s in summaries) == N
    assert len(llm_server.requests) == N  # one paid call per article, whichever run made it
    assert sum(s["llm_calls"] for s in summaries) == N
    con = sqlite3.connect(tmp_path / "hs.db")
    assert con.execute("select count(*) from analyses").fetchone()[0] == N
    assert con.execute("select count(*) from articles where lease_owner is not null").fetchone()[0] == 0
    notes = [r.get("note") for out, _ in outs for r in json.loads(out)["results"]]
    assert "analyzed by another run" in notes  # the second run waited for, and reused, the first's


def _doc(source: str, text: str) -> Document:
    from horizonscan.extract import text_hash

    return Document(source=source, text=text, text_hash=text_hash(text), language="en")


def test_lease_claim_is_exclusive_expires_and_serves_a_worker(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "hs.db")
    other = Store.open(tmp_path / "hs.db")  # a second process's connection
    a = store.articles.upsert_article(_doc("a.txt", "Text A. " * 50))
    twin = store.articles.upsert_article(_doc("a-copy.txt", "Text A. " * 50))  # same text, another source
    b = store.articles.upsert_article(_doc("b.txt", "Text B. " * 50))
    h = _doc("x", "Text A. " * 50).text_hash
    assert store.articles.claim_article(a, "run-1", seconds=60, text_hash=h)
    assert store.articles.claim_article(a, "run-1", seconds=60, text_hash=h)  # its own lease: renewed
    assert not other.articles.claim_article(a, "run-2", seconds=60, text_hash=h)
    assert not other.articles.claim_article(twin, "run-2", seconds=60, text_hash=h)  # the same text is held
    assert other.articles.claim_article(b, "run-2", seconds=60)
    store.articles.release_article(a, "run-2")  # not its lease: nothing happens
    assert not other.articles.claim_article(a, "run-2", seconds=60)
    store.articles.release_article(a, "run-1")
    assert other.articles.claim_article(a, "run-2", seconds=60)
    # A killed run's lease expires and is taken over.
    assert store.articles.claim_article(twin, "killed", seconds=0.2)
    assert not other.articles.claim_article(twin, "run-2", seconds=60)
    time.sleep(0.3)
    assert other.articles.claim_article(twin, "run-2", seconds=60)
    assert other.articles.release_leases("run-2") == 3
    # A future `horizonscan worker`: each call hands out the next free article exactly once.
    got = {
        store.articles.claim_next("w1", seconds=60),
        other.articles.claim_next("w2", seconds=60),
        store.articles.claim_next("w1", seconds=60),
    }
    assert got == {a, twin, b}
    assert other.articles.claim_next("w2", seconds=60) is None
    store.close()
    other.close()


def test_a_killed_runs_leases_are_taken_over_at_once_on_the_same_machine() -> None:
    import socket

    from horizonscan.jobs.batch import lease_owner, owner_is_gone

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()[:40]
    assert owner_is_gone(f"{host}:{dead.pid}:run")
    assert not owner_is_gone(lease_owner("me"))  # this process
    assert not owner_is_gone(f"{host}:1:run")  # alive (init), whoever owns it
    assert not owner_is_gone(f"another-host:{dead.pid}:run")  # elsewhere: wait for expiry
    assert not owner_is_gone("worker-7")  # an owner that names no process
