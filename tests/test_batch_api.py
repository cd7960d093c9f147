"""`analyze --batch`: OpenAI's Batch API and Anthropic's Message Batches at half price, against
protocol servers on 127.0.0.1 (tests/support/mock_batch.py), through the official SDKs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from horizonscan.config import load_settings
from horizonscan.jobs.provider_batch import BatchEngine, custom_id
from horizonscan.llm.batch_api import make_batch_api
from horizonscan.llm.pricing import PriceTable
from horizonscan.store import Store
from horizonscan.store.batches import BatchRepo
from tests.support.articles import write_articles
from tests.support.cli import run_cli
from tests.support.mock_batch import MockBatchServer

LLMS = {"openai": "openai:gpt-4o-mini", "anthropic": "anthropic:claude-haiku-4-5"}


@pytest.fixture
def srv() -> Iterator[MockBatchServer]:
    with MockBatchServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HORIZONSCAN_SIMILARITY", "false")  # the corpus stage is not under test here


def _env(srv: MockBatchServer, provider: str) -> dict[str, str]:
    if provider == "openai":
        return {"OPENAI_BASE_URL": srv.openai_url, "OPENAI_API_KEY": "sk-test-SECRET-key-0123456789"}
    return {"ANTHROPIC_BASE_URL": srv.anthropic_url, "ANTHROPIC_API_KEY": "sk-ant-test-SECRET-0123456789"}


@pytest.fixture
def use(srv: MockBatchServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    def setup(provider: str) -> str:
        for name, value in _env(srv, provider).items():
            monkeypatch.setenv(name, value)
        return LLMS[provider]

    return setup


def _args(tmp_path: Path, llm: str) -> list[str]:
    return ["--llm", llm, "--db", str(tmp_path / "hs.db"), "--out", str(tmp_path / "pages"), "--json"]


def _db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "hs.db")


def _created(srv: MockBatchServer, provider: str) -> list[str]:
    return srv.created("openai" if provider == "openai" else "anthropic")


def _assert_each_analyzed_once(tmp_path: Path, n: int) -> None:
    con = _db(tmp_path)
    assert con.execute("select count(*) from articles where status='analyzed'").fetchone()[0] == n
    assert con.execute("select count(*) from analyses").fetchone()[0] == n
    per_text = con.execute(
        "select text_hash, count(*) from llm_calls where status='ok' group by text_hash"
    ).fetchall()
    assert len(per_text) == n and {c for _, c in per_text} == {1}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_batch_completes_every_article_analyzed_once_at_half_price(
    provider: str, srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use(provider)
    write_articles(tmp_path / "in", 6)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--batch", "--wait", "--poll-every", "0.05", *_args(tmp_path, llm)
    )
    assert run.code == 0, run.stderr[-2000:]
    summary = run.json()["summary"]
    assert summary["analyzed"] == 6 and summary["queued"] == 0 and summary["batches_open"] == 0
    assert len(_created(srv, provider)) == 1  # one batch, six requests
    assert srv.ordinary_requests() == []  # no ordinary call was needed
    _assert_each_analyzed_once(tmp_path, 6)
    # The status went through the provider's whole life cycle.
    if provider == "openai":
        assert srv.calls.count(("GET", "/v1/batches/{id}")) >= 3
        batch = next(iter(srv.batches.values()))["batch"]
        assert batch["status"] == "completed" and batch["request_counts"] == {
            "total": 6,
            "completed": 6,
            "failed": 0,
        }
    else:
        batch = next(iter(srv.message_batches.values()))["batch"]
        assert batch["processing_status"] == "ended" and batch["request_counts"]["succeeded"] == 6
    # The ledger: one row per article, real usage, at half the ordinary price.
    prices = PriceTable()
    rows = (
        _db(tmp_path)
        .execute("select run_id, purpose, input_tokens, output_tokens, cost_usd from llm_calls")
        .fetchall()
    )
    assert len(rows) == 6
    for run_id, purpose, tin, tout, cost in rows:
        assert run_id == "batch-1" and purpose == "analyze" and tin > 500 and tout > 100
        assert cost == pytest.approx(prices.cost(llm, tin, tout) / 2)
    assert summary["cost_usd"] == pytest.approx(sum(r[4] for r in rows), abs=1e-6)
    listed = run_cli("batches", "--db", str(tmp_path / "hs.db"), "--json").json()
    assert listed[0]["status"] == "done" and listed[0]["items"] == {"done": 6} and listed[0]["llm"] == llm
    assert listed[0]["cost_usd"] == pytest.approx(sum(r[4] for r in rows), abs=1e-6)
    assert (tmp_path / "pages" / "index.md").is_file()


def test_submit_returns_at_once_a_rerun_does_not_resubmit_and_poll_ingests(
    srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use("openai")
    srv.hold = True
    write_articles(tmp_path / "in", 4)
    run = run_cli("analyze", str(tmp_path / "in"), "--batch", *_args(tmp_path, llm))
    assert run.code == 0, run.stderr
    assert run.json()["summary"]["queued"] == 4 and run.json()["summary"]["batches_open"] == 1
    con = _db(tmp_path)
    assert con.execute("select status, count(*) from articles group by status").fetchall() == [("batched", 4)]
    assert con.execute("select count(*) from llm_calls").fetchone()[0] == 0
    # The same command again: the articles wait in the open batch, nothing is sent twice.
    again = run_cli("analyze", str(tmp_path / "in"), "--batch", *_args(tmp_path, llm))
    assert again.code == 0 and again.json()["summary"]["queued"] == 4
    assert len(srv.batches) == 1 and srv.calls.count(("POST", "/v1/batches")) == 1
    listed = run_cli("batches", "--db", str(tmp_path / "hs.db"))
    assert listed.code == 0 and "open (in_progress)" in listed.stdout and "4 queued" in listed.stdout
    srv.hold = False
    polled = run_cli(
        "batches", "poll", "--wait", "--poll-every", "0.05", "--audit", *_args(tmp_path, llm)[2:]
    )
    assert polled.code == 0, polled.stderr
    assert polled.json()["summary"]["analyzed"] == 4
    _assert_each_analyzed_once(tmp_path, 4)
    # The audit log holds each batch request as sent and its raw answer, never the key.
    for prompt, response in con.execute("select prompt, response from llm_calls"):
        assert '"response_format"' in prompt and '"title"' in response
        assert "SECRET" not in prompt + response
    # Nothing left to do: polling again changes nothing.
    assert run_cli("batches", "poll", *_args(tmp_path, llm)[2:]).json()["summary"]["analyzed"] == 0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_restart_after_kill_resumes_polling_the_same_batch(
    provider: str, srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use(provider)
    srv.hold = True  # a long batch
    write_articles(tmp_path / "in", 5)
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "horizonscan", "analyze", str(tmp_path / "in"), "--batch", "--wait",
         "--poll-every", "0.1", *_args(tmp_path, llm)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        remote = None
        while time.monotonic() < deadline and remote is None:
            time.sleep(0.1)
            if proc.poll() is not None:
                raise AssertionError(proc.communicate()[1][-2000:])
            try:
                row = (
                    _db(tmp_path)
                    .execute("select remote_id from provider_batches where status='open'")
                    .fetchone()
                )
            except sqlite3.OperationalError:
                row = None
            remote = row[0] if row else None
        assert remote is not None, "the batch was never submitted"
        time.sleep(0.5)  # a few polls of the held batch
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert _created(srv, provider) == [remote]
    srv.hold = False
    run = run_cli("batches", "poll", "--wait", "--poll-every", "0.05", *_args(tmp_path, llm)[2:])
    assert run.code == 0, run.stderr[-2000:]
    assert _created(srv, provider) == [remote]  # polled, not resubmitted
    assert srv.ordinary_requests() == []
    _assert_each_analyzed_once(tmp_path, 5)


def test_errored_invalid_and_expired_items_fall_back_to_ordinary_calls(
    srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use("openai")
    # Batch lines run in order: 2nd gets a 500, 3rd an answer that breaks the schema; the batch
    # expires before the 5th runs.
    srv.llm.script = [None, "500", "invalid", None]
    srv.expire_after = 4
    write_articles(tmp_path / "in", 5)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--batch", "--wait", "--poll-every", "0.05", *_args(tmp_path, llm)
    )
    assert run.code == 0, run.stderr[-2000:]
    assert next(iter(srv.batches.values()))["batch"]["status"] == "expired"
    assert len(srv.ordinary_requests()) == 3  # one ordinary call each for the three items
    _assert_each_analyzed_once(tmp_path, 5)
    con = _db(tmp_path)
    batch_rows = con.execute(
        "select status, error, cost_usd from llm_calls where run_id='batch-1' order by id"
    ).fetchall()
    statuses = sorted(r[0] for r in batch_rows)
    assert statuses == ["error", "error", "invalid", "ok", "ok"]
    errors = " ".join(r[1] or "" for r in batch_rows)
    assert "HTTP 500" in errors and "batch_expired" in errors
    assert [r[2] for r in batch_rows if r[0] == "error"] == [0.0, 0.0]  # no answer, nothing billed
    assert next(r[2] for r in batch_rows if r[0] == "invalid") > 0  # an answer, billed even if unusable
    items = dict(con.execute("select status, count(*) from provider_batch_items group by status").fetchall())
    assert items == {"done": 2, "redone": 3}
    outcomes = sorted(r[0] for r in con.execute("select outcome from provider_batch_items"))
    assert outcomes == ["errored", "expired", "succeeded", "succeeded", "succeeded"]


def test_without_fallback_failed_items_are_reported_and_retry_failed_redoes_them(
    srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use("anthropic")
    srv.expire_after = 2
    write_articles(tmp_path / "in", 3)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--batch", "--wait", "--poll-every", "0.05", "--no-fallback",
        *_args(tmp_path, llm),
    )  # fmt: skip
    assert run.code == 1
    failed = [r for r in run.json()["results"] if r["status"] == "failed"]
    assert len(failed) == 1 and "expired" in failed[0]["error"] and "--retry-failed" in failed[0]["error"]
    assert srv.ordinary_requests() == []
    con = _db(tmp_path)
    assert dict(con.execute("select status, count(*) from articles group by status").fetchall()) == {
        "analyzed": 2,
        "failed": 1,
    }
    redo = run_cli("analyze", "--retry-failed", *_args(tmp_path, llm))
    assert redo.code == 0 and redo.json()["summary"]["analyzed"] == 1
    _assert_each_analyzed_once(tmp_path, 3)


def test_a_batch_the_provider_refuses_falls_back_whole(
    srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use("openai")
    srv.refuse = "The model gpt-4o-mini is not available in the Batch API for this project."
    write_articles(tmp_path / "in", 3)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--batch", "--wait", "--poll-every", "0.05", *_args(tmp_path, llm)
    )
    assert run.code == 0, run.stderr[-2000:]
    assert next(iter(srv.batches.values()))["batch"]["status"] == "failed"
    assert len(srv.ordinary_requests()) == 3
    _assert_each_analyzed_once(tmp_path, 3)
    listed = run_cli("batches", "--db", str(tmp_path / "hs.db"), "--json").json()
    assert listed[0]["status"] == "failed" and "not available in the Batch API" in listed[0]["error"]


def _engine(tmp_path: Path, llm: str) -> tuple[Store, BatchEngine]:
    from horizonscan.analysis.analyzer import make_analyzer

    settings, _ = load_settings({"llm": llm, "db": tmp_path / "hs.db", "out": tmp_path / "pages"})
    store = Store.open(settings.db)
    analyzer = make_analyzer(settings)
    return store, BatchEngine(store, settings, analyzer, make_batch_api(analyzer.client.provider))


def _counts(tmp_path: Path) -> tuple[Any, ...]:
    con = _db(tmp_path)
    return tuple(
        con.execute(q).fetchall()
        for q in (
            "select count(*), sum(cost_usd) from llm_calls",
            "select id, text_hash from analyses order by id",
            "select status, count(*) from provider_batch_items group by status",
            "select status, count(*) from articles group by status",
        )
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_ingesting_the_same_results_twice_changes_nothing(
    provider: str, srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use(provider)
    write_articles(tmp_path / "in", 4)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--batch", "--wait", "--poll-every", "0.05", *_args(tmp_path, llm)
    )
    assert run.code == 0
    before = _counts(tmp_path)
    store, engine = _engine(tmp_path, llm)

    async def again() -> tuple[int, int]:
        row = BatchRepo.of(store).get(1)
        assert row is not None and row.remote_id is not None
        results = await engine.api.results(await engine.api.retrieve(row.remote_id))
        first = engine.ingest(row, results)
        # As if a crash came after the ledger row and the analysis were saved, but before the
        # item was marked: the item is `queued` again.
        with sqlite3.connect(tmp_path / "hs.db") as con:
            con.execute("update provider_batch_items set status='queued' where id=1")
        second = engine.ingest(row, results)
        await engine.api.aclose()
        return first, second

    try:
        assert asyncio.run(again()) == (0, 0)
    finally:
        store.close()
    assert _counts(tmp_path) == before
    assert len(_created(srv, provider)) == 1


def test_a_submission_whose_answer_was_lost_is_found_by_its_tag(
    srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use("openai")
    srv.hold = True
    write_articles(tmp_path / "in", 3)
    assert run_cli("analyze", str(tmp_path / "in"), "--batch", *_args(tmp_path, llm)).code == 0
    # As if the process died after sending the batch but before saving its id.
    with sqlite3.connect(tmp_path / "hs.db") as con:
        con.execute("update provider_batches set status='submitting', remote_id=null")
    srv.hold = False
    run = run_cli("batches", "poll", "--wait", "--poll-every", "0.05", *_args(tmp_path, llm)[2:])
    assert run.code == 0, run.stderr
    assert len(srv.batches) == 1  # found by its tag, not sent again
    _assert_each_analyzed_once(tmp_path, 3)


def test_a_submission_that_never_reached_the_provider_is_sent_by_the_next_poll(
    srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use("anthropic")
    srv.hold = True
    write_articles(tmp_path / "in", 3)
    assert run_cli("analyze", str(tmp_path / "in"), "--batch", *_args(tmp_path, llm)).code == 0
    # As if the process died before the batch was sent: no such batch at the provider.
    srv.message_batches.clear()
    with sqlite3.connect(tmp_path / "hs.db") as con:
        con.execute("update provider_batches set status='submitting', remote_id=null")
    srv.hold = False
    run = run_cli("batches", "poll", "--wait", "--poll-every", "0.05", *_args(tmp_path, llm)[2:])
    assert run.code == 0, run.stderr
    assert len(srv.message_batches) == 1
    _assert_each_analyzed_once(tmp_path, 3)


def test_the_local_model_refuses_batch_before_reading_anything(tmp_path: Path) -> None:
    write_articles(tmp_path / "in", 2)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--batch", "--llm", "local", "--db", str(tmp_path / "hs.db")
    )
    assert run.code == 2
    assert "--batch needs a provider with a batch API" in run.stderr and "local" in run.stderr
    assert not (tmp_path / "hs.db").exists()
    auto = run_cli(
        "analyze", str(tmp_path / "in"), "--batch", "--db", str(tmp_path / "hs.db")
    )  # no key: local
    assert auto.code == 2 and "batch API" in auto.stderr
    stray = run_cli("analyze", str(tmp_path / "in"), "--wait", "--db", str(tmp_path / "hs.db"))
    assert stray.code == 2 and "go with --batch" in stray.stderr


def test_a_server_without_batch_api_stops_with_one_line_and_leaves_articles_pending(
    openai_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An OpenAI-compatible server with chat completions only (like Ollama or vLLM's server).
    write_articles(tmp_path / "in", 3)
    run = run_cli("analyze", str(tmp_path / "in"), "--batch", *_args(tmp_path, "openai:qwen2.5"))
    assert run.code == 3
    assert "no batch API" in run.stderr and "without --batch" in run.stderr
    con = _db(tmp_path)
    assert con.execute("select status, count(*) from articles group by status").fetchall() == [("new", 3)]
    assert con.execute("select status from provider_batches").fetchall() == [("failed",)]
    assert openai_env.requests == []  # no chat call was made


def test_max_cost_caps_what_the_batch_can_cost_at_worst(
    srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use("openai")
    write_articles(tmp_path / "in", 6)
    # Each request may cost up to ~0.00085 USD at batch price (its whole output allowance).
    run = run_cli("analyze", str(tmp_path / "in"), "--batch", "--max-cost", "0.002", *_args(tmp_path, llm))
    assert run.code == 4
    summary = run.json()["summary"]
    assert 1 <= summary["queued"] < 6 and summary["not_started"] == 6 - summary["queued"]
    assert "cost budget" in summary["stopped"]
    lines = srv.files[next(iter(srv.batches.values()))["batch"]["input_file_id"]]["data"].splitlines()
    assert len(lines) == summary["queued"]


def test_batch_lines_are_the_ordinary_requests(srv: MockBatchServer, use: Any, tmp_path: Path) -> None:
    """The JSONL carries the same chat request an ordinary call sends (same prompt, schema, mode)."""
    llm = use("openai")
    srv.hold = True
    write_articles(tmp_path / "in", 2)
    assert run_cli("analyze", str(tmp_path / "in"), "--batch", *_args(tmp_path, llm)).code == 0
    data = srv.files[next(iter(srv.batches.values()))["batch"]["input_file_id"]]["data"]
    lines = [json.loads(line) for line in data.splitlines()]
    assert {tuple(sorted(line)) for line in lines} == {("body", "custom_id", "method", "url")}
    con = _db(tmp_path)
    ids = {custom_id(a, h) for a, h in con.execute("select id, text_hash from articles")}
    assert {line["custom_id"] for line in lines} == ids
    srv.hold = False
    srv.llm.requests.clear()
    with sqlite3.connect(tmp_path / "hs.db") as c:
        c.execute("update articles set status='new'")
        c.execute("delete from provider_batch_items")
        c.execute("delete from provider_batches")
    assert run_cli("analyze", str(tmp_path / "in"), *_args(tmp_path, llm)).code == 0
    ordinary = {json.dumps(r["body"], sort_keys=True) for r in srv.ordinary_requests()}
    assert ordinary == {json.dumps(line["body"], sort_keys=True) for line in lines}


def test_a_batch_held_by_a_live_poller_is_left_alone_and_a_dead_ones_is_taken_over(
    srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    import socket
    from datetime import UTC, datetime, timedelta

    llm = use("openai")
    srv.hold = True
    write_articles(tmp_path / "in", 2)
    assert run_cli("analyze", str(tmp_path / "in"), "--batch", *_args(tmp_path, llm)).code == 0
    srv.hold = False
    until = (datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)).isoformat(sep=" ")
    host = socket.gethostname()[:40]
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with sqlite3.connect(tmp_path / "hs.db") as con:
            con.execute(
                "update provider_batches set lease_owner=?, lease_until=?",
                (f"{host}:{alive.pid}:other", until),
            )
        held = run_cli("batches", "poll", *_args(tmp_path, llm)[2:])
        assert held.code == 0 and held.json()["summary"]["batches_open"] == 1
        assert "being polled by another process" in held.stderr
        assert srv.calls.count(("GET", "/v1/batches/{id}")) == 0  # not even polled
    finally:
        alive.kill()
        alive.wait()
    with sqlite3.connect(tmp_path / "hs.db") as con:  # its process is gone now: taken over at once
        con.execute(
            "update provider_batches set lease_owner=?, lease_until=?", (f"{host}:{alive.pid}:other", until)
        )
    run = run_cli("batches", "poll", "--wait", "--poll-every", "0.05", *_args(tmp_path, llm)[2:])
    assert run.code == 0, run.stderr
    _assert_each_analyzed_once(tmp_path, 2)


def test_one_request_per_text_and_a_changed_text_gets_its_own(
    srv: MockBatchServer, use: Any, tmp_path: Path
) -> None:
    llm = use("openai")
    srv.hold = True
    paths = write_articles(tmp_path / "in", 2)
    twin = tmp_path / "in" / "twin.txt"
    twin.write_text(paths[0].read_text(encoding="utf-8"), encoding="utf-8")  # same text, another name
    first = run_cli("analyze", str(tmp_path / "in"), "--batch", *_args(tmp_path, llm))
    assert first.code == 0 and first.json()["summary"]["queued"] == 3
    batch = next(iter(srv.batches.values()))["batch"]
    assert len(srv.files[batch["input_file_id"]]["data"].splitlines()) == 2  # the twin shares a request
    # The second article is edited while its request waits: its new text needs a request of its own.
    paths[1].write_text(paths[1].read_text(encoding="utf-8") + "\n\nA late paragraph adds new facts.\n")
    second = run_cli("analyze", str(tmp_path / "in"), "--batch", *_args(tmp_path, llm))
    assert second.code == 0 and second.json()["summary"]["queued"] == 3
    assert len(srv.batches) == 2
    srv.hold = False
    run = run_cli("batches", "poll", "--wait", "--poll-every", "0.05", *_args(tmp_path, llm)[2:])
    assert run.code == 0, run.stderr
    statuses = {r["source"].rsplit("/", 1)[-1]: r["status"] for r in run.json()["results"]}
    assert statuses["article-00001.txt"] == "analyzed"  # its new text
    assert sorted([statuses["article-00000.txt"], statuses["twin.txt"]]) == ["analyzed", "reused"]
    con = _db(tmp_path)
    assert con.execute("select count(*) from articles where status='analyzed'").fetchone()[0] == 3
    current = {h for (h,) in con.execute("select text_hash from articles")}
    assert {h for (h,) in con.execute("select text_hash from analyses")} == current
    # The first answer for the edited article came back for a text it no longer has: not used.
    assert con.execute("select count(*) from provider_batch_items where status='stale'").fetchone()[0] == 1
