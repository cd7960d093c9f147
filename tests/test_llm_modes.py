"""Structured-output modes: each request steps down from its own mode, only when told to, and
every attempt is in the ledger."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from horizonscan.analysis.analyzer import parse_output
from horizonscan.analysis.schema import analysis_schema
from horizonscan.llm.base import ChatRequest, Message
from horizonscan.llm.client import LLMClient
from horizonscan.llm.openai_provider import OpenAIProvider
from horizonscan.models import CallRecord
from tests.support.articles import write_articles
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer


def _rows(tmp_path: Path) -> list[tuple[str, str | None]]:
    con = sqlite3.connect(tmp_path / "hs.db")
    return con.execute("select status, error from llm_calls order by id").fetchall()


def _modes(srv: MockLLMServer) -> list[str]:
    out = []
    for r in srv.requests:
        fmt = r["body"].get("response_format") or {}
        kind = fmt.get("type", "text")
        out.append("json_object_schema" if kind == "json_object" and "schema" in fmt else kind)
    return out


def test_llama_cpp_server_500_on_json_schema_all_8_first_articles_succeed(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    """llama-cpp-python's server answers json_schema with HTTP 500 and a pydantic error naming
    response_format: that is a mode rejection, not a fault to retry 7 times."""
    openai_env.unsupported_formats = ("json_schema",)
    openai_env.format_rejection = "llama_cpp"
    write_articles(tmp_path / "in", 8)
    run = run_cli("analyze", str(tmp_path / "in"), "-j", "8", *batch_args(tmp_path))
    assert run.code == 0, run.stdout[-2000:]
    assert run.json()["summary"]["analyzed"] == 8
    modes = _modes(openai_env)
    assert modes.count("json_schema") == 1  # rejected once, then the run keeps the mode that works
    assert modes.count("json_object_schema") == 8
    rows = _rows(tmp_path)
    assert len(rows) == len(openai_env.requests) == 9  # every attempt, the rejected one included
    assert [s for s, _ in rows].count("error") == 1
    assert any(e and "HTTP 500" in e and "response_format json_schema" in e for _, e in rows)


def test_a_grammar_server_gets_the_schema_with_bounds_hosted_strict_mode_without(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    """llama.cpp turns `json_object`+`schema` into a grammar: unbounded lists let a small model
    loop until the token cap (the real server once ran past 15 min on one article). That mode gets
    the bounded schema; OpenAI's strict `json_schema` keeps the plain one it accepts."""
    openai_env.unsupported_formats = ("json_schema",)
    openai_env.format_rejection = "llama_cpp"
    write_articles(tmp_path / "in", 1)
    assert run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path)).code == 0
    strict, grammar = (r["body"]["response_format"] for r in openai_env.requests)
    plain = strict["json_schema"]["schema"]
    assert "maxItems" not in json.dumps(plain)
    bounded = grammar["schema"]["properties"]
    assert bounded["signals"]["maxItems"] <= 4 and bounded["issues"]["maxItems"] <= 4
    assert bounded["signals"]["items"]["properties"]["description"]["maxLength"] <= 200
    assert "enum" not in json.dumps(bounded["signals"]["items"]["properties"]["evidence"])


def test_a_400_that_mentions_json_but_not_response_format_is_no_step_down(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    openai_env.script = [
        (
            400,
            {
                "error": {
                    "message": "Invalid JSON payload in 'messages[1].content'",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": None,
                }
            },
        )
    ]
    write_articles(tmp_path / "in", 1)
    run = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path))
    assert run.code == 1
    assert len(openai_env.requests) == 1 and _modes(openai_env) == ["json_schema"]
    assert "Invalid JSON payload" in run.json()["results"][0]["error"]


def test_concurrent_requests_step_down_from_their_own_mode(
    openai_env: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No first-call gate: 8 requests go out at once in json_schema against a server that knows
    neither json_schema nor json_object with a schema. Each steps down from the mode it was sent
    with, never skipping a mode nobody has seen fail, and all 8 succeed."""
    openai_env.unsupported_formats = ("json_schema", "json_object_schema")
    openai_env.latency = 0.05
    records: list[CallRecord] = []
    provider = OpenAIProvider("gpt-4o-mini")
    client = LLMClient(provider, on_call=records.append, probe_first=False, backoff_base=0.01)

    async def one(i: int) -> None:
        text = f"Article number {i}: The City Council announced a pilot of delivery robots."
        req = ChatRequest(
            system="Analyze.",
            messages=[Message("user", f"<<<ARTICLE b{i}>>>\n{text}\n<<<END ARTICLE b{i}>>>")],
            schema=analysis_schema(),
        )
        await client.structured(req, parse_output, repair_prompt="Fix: {problem}", text_hash=f"h{i}")

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(8)))
        await provider.aclose()

    asyncio.run(main())
    assert [r.status for r in records].count("ok") == 8
    assert len(records) == len(openai_env.requests)  # every attempt reported to the ledger
    modes = _modes(openai_env)
    assert modes.count("json_schema") == 8  # all 8 were sent at the best mode
    assert modes.count("json_object") == 8
    # A request sent in json_object came after json_object_schema had been seen to fail.
    first_plain = modes.index("json_object")
    assert "json_object_schema" in modes[:first_plain]
    assert provider.mode == "json_object"  # kept for the rest of the run


def test_anthropic_steps_down_to_a_forced_tool_for_every_concurrent_request(
    anthropic_env: MockLLMServer, tmp_path: Path
) -> None:
    anthropic_env.unsupported_formats = ("json_schema",)
    write_articles(tmp_path / "in", 4)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "-j", "4", *batch_args(tmp_path, "anthropic:claude-haiku-4-5")
    )
    assert run.code == 0, run.stdout[-2000:]
    assert run.json()["summary"]["analyzed"] == 4
    bodies = [r["body"] for r in anthropic_env.requests]
    assert sum("output_config" in b for b in bodies) == 1
    assert sum("tools" in b for b in bodies) == 4
    rows = _rows(tmp_path)
    assert len(rows) == 5 and rows[0][0] == "error" and "output_config" in (rows[0][1] or "")


def test_a_strict_server_refuses_a_schema_openai_would_refuse(openai_env: MockLLMServer) -> None:
    """The mock enforces OpenAI's strict rules, in OpenAI's error shape; such a refusal is about
    response_format, so the request steps down instead of failing."""
    import openai

    client = openai.OpenAI(base_url=openai_env.openai_url, api_key="sk-test", max_retries=0)
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "minLength": 2}},
        "required": ["a"],
        "additionalProperties": False,
    }
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "x"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "analysis", "schema": schema, "strict": True},
            },
        )
    err = info.value.body
    assert isinstance(err, dict)
    assert err["param"] == "response_format" and err["code"] == "invalid_json_schema"
    assert "'minLength' is not permitted" in err["message"]
    for broken, words in (
        ({**schema, "properties": {"a": {"type": "string"}}, "required": []}, "Missing 'a'"),
        ({k: v for k, v in schema.items() if k != "additionalProperties"}, "'additionalProperties'"),
        ({**schema, "properties": {"a": {"type": "string", "default": "x"}}}, "'default' is not permitted"),
    ):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "x"}],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "analysis", "schema": broken, "strict": True},
                },
            )
        assert words in json.dumps(info.value.body)
    # What OpenAI documents as supported passes: pattern, format, minItems/maxItems, numbers.
    supported = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date"},
            "code": {"type": "string", "pattern": "^[A-Z]+$"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
            "score": {"type": "integer", "minimum": 0, "maximum": 5},
        },
        "required": ["when", "code", "tags", "score"],
        "additionalProperties": False,
    }
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "analysis", "schema": supported, "strict": True},
        },
    )
    # And the analysis schema itself is one OpenAI accepts.
    from tests.support.mock_llm import strict_schema_problem

    assert strict_schema_problem(analysis_schema()) is None
