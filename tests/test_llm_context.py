"""The context window: set by the user, asked of the server, or a conservative default."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest

from horizonscan.llm.openai_provider import OpenAIProvider
from tests.support.articles import article_text
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer


def _long(path: Path, n: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = [article_text(seed * 100 + i, paragraphs=4) for i in range(n)]
    path.write_text("\n\n".join(blocks), encoding="utf-8")
    return path


def _purposes(tmp_path: Path) -> list[str]:
    con = sqlite3.connect(tmp_path / "hs.db")
    return [r[0] for r in con.execute("select purpose from llm_calls where status='ok' order by id")]


def test_llama_cpp_server_context_is_asked_and_long_texts_are_split(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    openai_env.n_ctx = 9000  # llama-server's GET /props: default_generation_settings.n_ctx
    assert OpenAIProvider("qwen").context_tokens == 9000
    # Long enough to need parts on both paths (llama-server decodes under a grammar, so it gets the
    # section-by-section analysis, whose answers are shorter and leave more room for the text).
    text = _long(tmp_path / "in" / "long.txt", 30)
    assert len(text.read_text()) > 25_000  # one call under the old 128 k assumption
    run = run_cli("analyze", str(text), *batch_args(tmp_path))
    assert run.code == 0, run.stdout[-2000:]
    purposes = _purposes(tmp_path)
    parts = sqlite3.connect(tmp_path / "hs.db").execute("select count(*) from analysis_parts").fetchone()[0]
    assert parts >= 3 and "reduce" in purposes  # two parts or more, then their merge
    # Every request fits the server's window (prompt + the output asked for).
    for r in openai_env.requests:
        prompt_tokens = len("".join(m["content"] for m in r["body"]["messages"])) / 3
        assert prompt_tokens + r["body"]["max_tokens"] <= 9000


def test_vllm_max_model_len_is_used(openai_env: MockLLMServer) -> None:
    openai_env.max_model_len = 32768
    assert OpenAIProvider("mock").context_tokens == 32768


def test_defaults_without_an_answer(openai_env: MockLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server that says nothing about its context: a conservative 8192.
    assert OpenAIProvider("mock").context_tokens == 8192
    # OpenAI itself (no base URL, or its own): 128 k, and no request to ask.
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert OpenAIProvider("gpt-4o-mini").context_tokens == 128_000
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    assert OpenAIProvider("gpt-4o-mini").context_tokens == 128_000
    # A server that cannot be reached: the default, quickly, and no error (the call will say).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    started = time.monotonic()
    assert OpenAIProvider("mock").context_tokens == 8192
    assert time.monotonic() - started < 3
    # The setting wins over everything.
    assert OpenAIProvider("mock", context_tokens=4096).context_tokens == 4096


def test_context_tokens_flag(openai_env: MockLLMServer, tmp_path: Path) -> None:
    openai_env.n_ctx = 128_000
    text = _long(tmp_path / "in" / "long.txt", 20)
    run = run_cli("analyze", str(text), "--context-tokens", "9000", *batch_args(tmp_path))
    assert run.code == 0, run.stdout[-2000:]
    parts = sqlite3.connect(tmp_path / "hs.db").execute("select count(*) from analysis_parts").fetchone()[0]
    assert parts >= 3  # llama-server: parts analyzed section by section, then merged
    bad = run_cli("analyze", str(text), "--context-tokens", "12", *batch_args(tmp_path))
    assert bad.code == 2


def test_context_length_error_is_a_clear_failure_and_the_run_learns(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    """A server whose real window is smaller than assumed answers context_length_exceeded: that
    article fails saying what to set, and the rest of the run splits to the window it named."""
    openai_env.context_window = 10_000
    _long(tmp_path / "in" / "a.txt", 60, seed=1)
    _long(tmp_path / "in" / "b.txt", 60, seed=2)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "-j", "1", "--context-tokens", "100000", *batch_args(tmp_path)
    )
    assert run.code == 1
    # Which of the two reaches the server first is up to the workers: that one fails, the other
    # is split to the window the server named.
    statuses = sorted((r["status"], r.get("error") or "") for r in run.json()["results"])
    assert [status for status, _ in statuses] == ["analyzed", "failed"]
    error = statuses[1][1]
    assert "context" in error and "--context-tokens 10000" in error and "--retry-failed" in error
    again = run_cli("analyze", "--retry-failed", "--context-tokens", "10000", *batch_args(tmp_path))
    assert again.code == 0 and again.json()["summary"]["analyzed"] == 1


def test_a_llama_cpp_server_gets_the_grammar_path_and_openai_does_not(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    """llama-cpp-python's server (models `owned_by: "me"`) compiles the schema into a grammar: the
    analysis goes section by section with evidence as a choice among the article's own sentences,
    which a small model cannot translate (it did, through the quote path: 0 of 2 seeds)."""
    openai_env.owned_by = "me"
    openai_env.unsupported_formats = ("json_schema",)
    openai_env.format_rejection = "llama_cpp"
    assert OpenAIProvider("qwen").constrained_decoding
    src = _long(tmp_path / "in" / "a.txt", 1)
    run = run_cli("analyze", str(src), *batch_args(tmp_path))
    assert run.code == 0, run.stdout[-2000:]
    grammar = [r["body"] for r in openai_env.requests if "schema" in r["body"].get("response_format", {})]
    assert grammar and all("Return only a JSON object" not in b["messages"][0]["content"] for b in grammar)
    evidence = [
        b["response_format"]["schema"]["properties"][k]["items"]["properties"]["evidence"]
        for b in grammar
        for k in ("signals", "behaviors", "technologies", "issues")
        if k in b["response_format"]["schema"]["properties"]
    ]
    sentences = src.read_text()
    assert evidence and all(e["enum"] and all(q in sentences for q in e["enum"]) for e in evidence)
    con = sqlite3.connect(tmp_path / "hs.db")
    assert {r[0] for r in con.execute("select evidence_mode from items")} == {"picked"}
    # The same mock speaking as OpenAI (the default `owned_by`) keeps the quote path.
    openai_env.owned_by = "system"
    assert not OpenAIProvider("qwen").constrained_decoding
