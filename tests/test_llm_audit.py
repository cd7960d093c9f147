"""The audit log's capture side: each attempt carries the request as sent and the raw answer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support.articles import write_articles
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer


def _calls(tmp_path: Path) -> list[tuple[str, str | None, str | None]]:
    con = sqlite3.connect(tmp_path / "hs.db")
    return con.execute("select status, prompt, response from llm_calls order by id").fetchall()


def test_audit_keeps_every_prompt_and_raw_answer_and_never_a_key(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    openai_env.unsupported_formats = ("json_schema",)  # one rejected attempt, then a good one
    write_articles(tmp_path / "in", 1)
    run = run_cli("analyze", str(tmp_path / "in"), "--audit", *batch_args(tmp_path))
    assert run.code == 0, run.stdout[-2000:]
    calls = _calls(tmp_path)
    assert [c[0] for c in calls] == ["error", "ok"]
    for (_status, prompt, _response), sent in zip(calls, openai_env.requests, strict=True):
        assert prompt is not None
        data = json.loads(prompt)
        body = sent["body"]
        # The request as it went on the wire, plus the mode and schema name.
        assert data["messages"] == body["messages"] and data["model"] == body["model"]
        assert data.get("response_format") == body.get("response_format")
        assert data["max_tokens"] == body["max_tokens"] and data["temperature"] == body["temperature"]
        assert data["schema_name"] == "analysis"
        assert "SECRET" not in prompt and "authorization" not in prompt.lower()
    assert json.loads(calls[0][1] or "")["mode"] == "json_schema"
    assert json.loads(calls[1][1] or "")["mode"] == "json_object_schema"
    # The rejected attempt keeps the server's error body; the good one the model's raw text.
    assert "Supported values are" in (calls[0][2] or "")
    answer = json.loads(calls[1][2] or "")
    assert "signals" in answer and answer["title"].startswith("Report on")


def test_without_audit_nothing_is_kept(openai_env: MockLLMServer, tmp_path: Path) -> None:
    write_articles(tmp_path / "in", 1)
    assert run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path)).code == 0
    assert [(c[1], c[2]) for c in _calls(tmp_path)] == [(None, None)]


def test_anthropic_audit(anthropic_env: MockLLMServer, tmp_path: Path) -> None:
    write_articles(tmp_path / "in", 1)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--audit", *batch_args(tmp_path, "anthropic:claude-haiku-4-5")
    )
    assert run.code == 0
    ((status, prompt, response),) = _calls(tmp_path)
    data = json.loads(prompt or "")
    assert status == "ok" and data["mode"] == "json_schema" and "output_config" in data
    assert data["system"] == anthropic_env.requests[0]["body"]["system"]
    assert "SECRET" not in (prompt or "") + (response or "")
    assert json.loads(response or "")["category"]
