"""Fatal means stop: a wrong key, model, quota or address stops the batch after one answer, says
what to do in one line and exits 3; reasoning models get the parameters they accept."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.articles import write_articles
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dead_port_exits_3_within_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{_free_port()}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-key-0123456789")
    write_articles(tmp_path / "in", 3)
    started = time.monotonic()
    run = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path, json_out=False))
    elapsed = time.monotonic() - started
    assert run.code == 3, run.stderr
    # About 3 s on an idle 2-core machine, most of it imports and the pages stage after the batch
    # (it was 76 s: every article retried 7 times); the bound leaves room for a busy machine.
    assert elapsed < 20
    lines = _error_lines(run.stderr)
    assert len(lines) == 1 and "cannot connect" in lines[0] and "base URL" in lines[0]
    con = sqlite3.connect(tmp_path / "hs.db")
    # The first article tried three times (one try and two quick retries); no other article tried.
    assert con.execute("select count(*) from llm_calls").fetchone()[0] == 3
    assert con.execute("select count(*) from articles where status='failed'").fetchone()[0] == 0


def test_dead_port_json_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{_free_port()}/v1")
    write_articles(tmp_path / "in", 3)
    run = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path))
    assert run.code == 3
    summary = run.json()["summary"]
    assert summary["not_started"] == 3 and summary["failed"] == 0
    assert "cannot connect" in summary["fatal"]


@pytest.mark.parametrize(
    ("action", "hint"),
    [
        ("401", "OPENAI_API_KEY"),
        ("403", "OPENAI_API_KEY"),
        ("404", "unknown model"),
        ("quota", "billing"),
    ],
)
def test_openai_fatal_answer_costs_one_request(
    openai_env: MockLLMServer, tmp_path: Path, action: str, hint: str
) -> None:
    openai_env.script = [action] * 10
    write_articles(tmp_path / "in", 3)
    run = run_cli("analyze", str(tmp_path / "in"), "-j", "8", *batch_args(tmp_path, json_out=False))
    assert run.code == 3, run.stderr
    assert len(openai_env.requests) == 1  # exactly one request reached the server
    lines = _error_lines(run.stderr)
    assert len(lines) == 1 and hint in lines[0]
    assert "3 not started" in run.stderr


def test_wrong_key_then_right_key_resumes(openai_env: MockLLMServer, tmp_path: Path) -> None:
    openai_env.api_key = "sk-right-key-000000"  # the fixture's key is not this one
    write_articles(tmp_path / "in", 3)
    run = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path))
    assert run.code == 3 and len(openai_env.requests) == 1
    assert "OPENAI_API_KEY" in run.json()["summary"]["fatal"]
    openai_env.api_key = None
    again = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path))
    assert again.code == 0 and again.json()["summary"]["analyzed"] == 3


@pytest.mark.parametrize(
    ("action", "hint"),
    [("401", "ANTHROPIC_API_KEY"), ("403", "may not use"), ("404", "unknown model"), ("quota", "billing")],
)
def test_anthropic_fatal_answer_costs_one_request(
    anthropic_env: MockLLMServer, tmp_path: Path, action: str, hint: str
) -> None:
    anthropic_env.script = [action] * 10
    write_articles(tmp_path / "in", 3)
    run = run_cli(
        "analyze", str(tmp_path / "in"), *batch_args(tmp_path, "anthropic:claude-haiku-4-5", json_out=False)
    )
    assert run.code == 3, run.stderr
    assert len(anthropic_env.requests) == 1
    lines = _error_lines(run.stderr)
    assert len(lines) == 1 and hint in lines[0]


@pytest.mark.parametrize("llm", ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5"])
def test_transient_faults_are_not_fatal(
    llm_server: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm: str
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llm_server.anthropic_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    monkeypatch.setenv("HORIZONSCAN_BACKOFF_MAX", "0.05")
    llm_server.script = ["529", "429-date", "503", "drop", "500"]
    write_articles(tmp_path / "in", 1)
    run = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path, llm))
    assert run.code == 0 and len(llm_server.requests) == 6
    con = sqlite3.connect(tmp_path / "hs.db")
    errors = [r[0] for r in con.execute("select error from llm_calls where status='error' order by id")]
    assert "HTTP 529" in errors[0] and "HTTP 429" in errors[1] and "broke" in errors[3]


def test_reasoning_model_gets_max_completion_tokens_and_no_temperature(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    write_articles(tmp_path / "in", 2)
    run = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path, "openai:gpt-5-mini"))
    assert run.code == 0, run.stdout[-2000:]
    assert len(openai_env.requests) == 2
    body = openai_env.requests[0]["body"]
    assert "max_completion_tokens" in body and "max_tokens" not in body and "temperature" not in body


def test_server_that_rejects_parameters_is_adapted_to_once(openai_env: MockLLMServer, tmp_path: Path) -> None:
    """A model we do not know as a reasoning model, behind a server that says so: the first article
    pays two rejected requests (max_tokens, then temperature), every later one none."""
    openai_env.reasoning_models = ("house-reasoner",)
    write_articles(tmp_path / "in", 3)
    run = run_cli("analyze", str(tmp_path / "in"), "-j", "1", *batch_args(tmp_path, "openai:house-reasoner"))
    assert run.code == 0, run.stdout[-2000:]
    assert run.json()["summary"]["analyzed"] == 3
    assert len(openai_env.requests) == 5
    con = sqlite3.connect(tmp_path / "hs.db")
    errors = [r[0] for r in con.execute("select error from llm_calls where status='error' order by id")]
    assert len(errors) == 2
    assert "max_tokens" in errors[0] and "temperature" in errors[1]
    last = openai_env.requests[-1]["body"]
    assert "max_completion_tokens" in last and "temperature" not in last


def test_refusal_fails_the_article_without_reasking(openai_env: MockLLMServer, tmp_path: Path) -> None:
    openai_env.script = ["refusal"]
    write_articles(tmp_path / "in", 1)
    run = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path))
    assert run.code == 1 and len(openai_env.requests) == 1
    assert "refused" in run.json()["results"][0]["error"]


def test_anthropic_refusal(anthropic_env: MockLLMServer, tmp_path: Path) -> None:
    anthropic_env.script = ["refusal"]
    write_articles(tmp_path / "in", 1)
    run = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path, "anthropic:claude-haiku-4-5"))
    assert run.code == 1 and len(anthropic_env.requests) == 1
    assert "refused" in json.dumps(run.json()["results"][0])
