"""Flaky servers spend the retry budget, never the model's repair budget; Retry-After is honoured."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from horizonscan.analysis.analyzer import parse_output
from horizonscan.analysis.schema import analysis_schema
from horizonscan.llm.base import ChatRequest, Message
from horizonscan.llm.client import LLMClient, LLMFailure
from horizonscan.llm.openai_provider import OpenAIProvider
from horizonscan.models import CallRecord
from tests.support.articles import write_articles
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import TRANSPORT_FAULTS, MockLLMServer


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_60_articles_under_30_percent_server_faults_all_analyzed(
    openai_env: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """429 (Retry-After in seconds and as a date), 500, 503, 529, broken HTTP bodies, HTML pages,
    connections dropped mid-answer and slow answers: none of them is the model's fault, so none
    may use a re-ask, and the batch ends 100 % analyzed in one run."""
    openai_env.fault_rate = 0.3
    openai_env.faults = TRANSPORT_FAULTS
    openai_env.seed = seed
    openai_env.slow_sleep = 0.2
    monkeypatch.setenv("HORIZONSCAN_BACKOFF_MAX", "0.05")  # Retry-After is honoured, up to this
    monkeypatch.setenv("HORIZONSCAN_MAX_REPAIRS", "0")  # no re-ask is needed at all
    # With the default 7 tries an article fails when 7 in a row are faults: 0.27**7 * 60 = 0.6 %
    # of such runs. 11 tries make that 1e-5 per run, so this test does not flake; what it checks
    # is that no fault reaches the repair budget (0 here), whatever the retry budget.
    monkeypatch.setenv("HORIZONSCAN_MAX_RETRIES", "10")
    monkeypatch.setenv("HORIZONSCAN_SIMILARITY", "false")  # the batch is what is tested here
    write_articles(tmp_path / "in", 60)
    run = run_cli("analyze", str(tmp_path / "in"), "-j", "8", *batch_args(tmp_path))
    summary = run.json()["summary"]
    assert run.code == 0, [r["error"] for r in run.json()["results"] if r["error"]]
    assert summary["analyzed"] == 60 and summary["failed"] == 0
    con = sqlite3.connect(tmp_path / "hs.db")
    statuses = dict(con.execute("select status, count(*) from llm_calls group by status").fetchall())
    assert statuses.get("error", 0) >= 10  # the faults happened
    assert statuses.get("invalid", 0) == 0 and statuses.get("truncated", 0) == 0
    assert statuses["ok"] == 60


def _request(i: int = 0) -> ChatRequest:
    text = "The City Council announced a pilot of delivery robots in three districts."
    return ChatRequest(
        system="Analyze.",
        messages=[Message("user", f"<<<ARTICLE b{i}>>>\n{text}\n<<<END ARTICLE b{i}>>>")],
        schema=analysis_schema(),
    )


def _run_one(client: LLMClient) -> object:
    async def main() -> object:
        try:
            return await client.structured(_request(), parse_output, repair_prompt="Fix: {problem}")
        finally:
            await client.provider.aclose()

    return asyncio.run(main())


def test_transport_faults_and_model_mistakes_have_separate_budgets(openai_env: MockLLMServer) -> None:
    # 4 faults in transit, then 2 bad answers from the model, then a good one: max_repairs=2 is
    # exactly enough, because the transit faults are counted against max_retries instead.
    openai_env.script = ["http-garbage", "html", "drop", "503", "garbage", "invalid"]
    records: list[CallRecord] = []
    client = LLMClient(
        OpenAIProvider("gpt-4o-mini"), on_call=records.append, max_repairs=2, backoff_base=0.001
    )
    assert _run_one(client) is not None
    assert [r.status for r in records] == ["error"] * 4 + ["invalid", "invalid", "ok"]
    assert "not valid JSON" in (records[0].error or "") and "broke" in (records[2].error or "")


def test_model_mistakes_still_end_after_the_repair_budget(openai_env: MockLLMServer) -> None:
    openai_env.script = ["garbage", "garbage", "garbage"]
    client = LLMClient(OpenAIProvider("gpt-4o-mini"), max_repairs=2, backoff_base=0.001)
    with pytest.raises(LLMFailure, match="no valid answer after 3 tries"):
        _run_one(client)
    assert len(openai_env.requests) == 3


@pytest.mark.parametrize("action", ["429", "429-date", "429-ms"])
def test_retry_after_is_honoured_in_every_form_and_capped(openai_env: MockLLMServer, action: str) -> None:
    openai_env.retry_after = 3
    openai_env.script = [action]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = LLMClient(OpenAIProvider("gpt-4o-mini"), sleep=sleep, backoff_max=60)
    _run_one(client)
    assert len(slept) == 1 and 1.5 <= slept[0] <= 3.0  # an HTTP date has one-second resolution
    slept.clear()
    openai_env.script = [action]
    capped = LLMClient(OpenAIProvider("gpt-4o-mini"), sleep=sleep, backoff_max=0.5)
    _run_one(capped)
    assert slept == [0.5]
