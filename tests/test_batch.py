"""Batches that hold: provider faults, budgets, crashes, long texts."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.articles import article_text, write_articles
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer


def _args(tmp_path: Path) -> list[str]:
    return batch_args(tmp_path)


def _db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "hs.db")


def _assert_each_analyzed_once(tmp_path: Path, n: int) -> None:
    con = _db(tmp_path)
    assert con.execute("select count(*) from articles where status='analyzed'").fetchone()[0] == n
    assert con.execute("select count(*) from analyses").fetchone()[0] == n
    # Exactly one successful (billed and used) call per article; no paid answer without its analysis.
    per_text = con.execute(
        "select text_hash, count(*) from llm_calls where status='ok' group by text_hash"
    ).fetchall()
    assert len(per_text) == n and {c for _, c in per_text} == {1}
    orphans = con.execute(
        "select count(*) from llm_calls c where status='ok' and not exists "
        "(select 1 from analyses a where a.text_hash=c.text_hash)"
    ).fetchone()[0]
    assert orphans == 0


def test_fault_injection_200_articles_each_analyzed_exactly_once(
    openai_env: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_env.fault_rate = 0.3
    openai_env.timeout_sleep = 1.5
    openai_env.seed = 7
    monkeypatch.setenv("HORIZONSCAN_TIMEOUT", "0.5")
    monkeypatch.setenv("HORIZONSCAN_BACKOFF_MAX", "0.05")  # the mock's Retry-After is a real 1 s
    write_articles(tmp_path / "in", 200)
    run = run_cli("analyze", str(tmp_path / "in"), "--concurrency", "16", *_args(tmp_path))
    summary = run.json()["summary"]
    rounds = 0
    while summary["failed"] and rounds < 3:  # rare: 3 bad answers in a row for one article
        assert run.code == 1
        run = run_cli("analyze", "--retry-failed", "--concurrency", "16", *_args(tmp_path))
        summary = run.json()["summary"]
        rounds += 1
    assert run.code == 0, run.stdout[-2000:]
    _assert_each_analyzed_once(tmp_path, 200)
    con = _db(tmp_path)
    statuses = dict(con.execute("select status, count(*) from llm_calls group by status").fetchall())
    assert statuses["error"] > 20 and statuses["invalid"] > 5 and statuses["truncated"] > 5
    errors = " ".join(r[0] for r in con.execute("select error from llm_calls where status='error'"))
    assert "HTTP 429" in errors and "HTTP 500" in errors and "HTTP 503" in errors and "timed out" in errors


def test_budget_stops_new_calls_and_a_rerun_continues(openai_env: MockLLMServer, tmp_path: Path) -> None:
    write_articles(tmp_path / "in", 6)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--concurrency", "1", "--max-tokens", "2500", *_args(tmp_path)
    )
    assert run.code == 4
    summary = run.json()["summary"]
    assert 1 <= summary["analyzed"] < 6
    assert summary["not_started"] == 6 - summary["analyzed"]
    assert "token budget reached" in summary["stopped"]
    calls = len(openai_env.requests)
    assert calls == summary["analyzed"]  # no call was started past the budget
    again = run_cli("analyze", str(tmp_path / "in"), *_args(tmp_path))
    assert again.code == 0
    assert again.json()["summary"]["reused"] == summary["analyzed"]
    _assert_each_analyzed_once(tmp_path, 6)


def test_cost_budget(openai_env: MockLLMServer, tmp_path: Path) -> None:
    write_articles(tmp_path / "in", 4)
    run = run_cli("analyze", str(tmp_path / "in"), "-j", "1", "--max-cost", "0.0000001", *_args(tmp_path))
    assert run.code == 4 and "cost budget reached" in run.json()["summary"]["stopped"]
    assert len(openai_env.requests) == 1


def test_long_article_is_mapped_and_reduced(
    openai_env: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HORIZONSCAN_CONTEXT_TOKENS", "3500")
    long_text = "\n\n".join(article_text(i, paragraphs=3) for i in range(8))
    path = tmp_path / "long.txt"
    path.write_text(long_text, encoding="utf-8")
    run = run_cli("analyze", str(path), *_args(tmp_path))
    assert run.code == 0, run.stdout
    con = _db(tmp_path)
    purposes = [r[0] for r in con.execute("select purpose from llm_calls order by id")]
    parts = purposes.count("analyze-part")
    assert parts >= 3 and purposes.count("reduce") >= 1 and "analyze" not in purposes
    assert con.execute("select chunks from analyses").fetchone()[0] == parts
    # Every part saw only its share of the text, and together they saw all of it.
    bodies = [r["body"]["messages"][-1]["content"] for r in openai_env.requests]
    part_prompts = [b for b in bodies if "<<<ARTICLE" in b]
    assert all(len(b) < len(long_text) for b in part_prompts)
    assert "(report 7)" in "".join(part_prompts) and "(report 0)" in "".join(part_prompts)
    assert any("<<<PARTS" in b for b in bodies)
    found = con.execute("select count(*), sum(evidence_found) from items").fetchone()
    assert found[0] > 0 and found[1] == found[0]  # evidence checked against the whole text


def _spawn(tmp_path: Path, srv: MockLLMServer, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, OPENAI_BASE_URL=srv.openai_url, OPENAI_API_KEY="sk-test")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "horizonscan",
            "analyze",
            str(tmp_path / "in"),
            "-j",
            "4",
            *_args(tmp_path),
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_analyses(tmp_path: Path, at_least: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (tmp_path / "hs.db").exists():
            try:
                n = _db(tmp_path).execute("select count(*) from analyses").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            if n >= at_least:
                return int(n)
        time.sleep(0.05)
    raise AssertionError("the batch made no progress")


def test_sigkill_then_resume_loses_nothing_and_bills_nothing_twice(
    llm_server: MockLLMServer, tmp_path: Path
) -> None:
    llm_server.latency = 0.15
    write_articles(tmp_path / "in", 40)
    proc = _spawn(tmp_path, llm_server)
    done_before = _wait_for_analyses(tmp_path, 8)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert done_before < 40
    requests_before = len(llm_server.requests)
    proc = _spawn(tmp_path, llm_server)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    import json

    summary = json.loads(out)["summary"]
    assert summary["analyzed"] + summary["reused"] == 40
    assert summary["reused"] >= done_before
    # Only the unfinished ones were asked again (at most the 4 in flight at the kill were lost).
    assert len(llm_server.requests) - requests_before == summary["analyzed"]
    assert requests_before - done_before <= 4
    _assert_each_analyzed_once(tmp_path, 40)


def test_ctrl_c_stops_cleanly_and_keeps_work(openai_env: MockLLMServer, tmp_path: Path) -> None:
    llm_server = openai_env
    llm_server.latency = 0.2
    write_articles(tmp_path / "in", 40)
    proc = _spawn(tmp_path, llm_server)
    _wait_for_analyses(tmp_path, 4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "run the same command again" in err
    kept = _db(tmp_path).execute("select count(*) from analyses").fetchone()[0]
    assert kept >= 4
    llm_server.latency = 0.0
    again = run_cli("analyze", str(tmp_path / "in"), "-j", "8", *_args(tmp_path))
    assert again.code == 0 and again.json()["summary"]["reused"] >= kept
    _assert_each_analyzed_once(tmp_path, 40)
