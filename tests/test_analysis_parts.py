"""Long articles: each part's answer is saved as it arrives, so a failed merge never pays for the
parts again."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.support.articles import article_text
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer, fake_analysis


def _failing_reduce(prompt: str) -> dict[str, Any]:
    answer = fake_analysis(prompt)
    if "<<<PARTS" in prompt:
        answer["title"] = ""  # invalid, every time: the merge fails after its re-asks
    return answer


def test_a_failed_reduce_does_not_pay_for_its_parts_again(
    openai_env: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HORIZONSCAN_CONTEXT_TOKENS", "3500")
    path = tmp_path / "long.txt"
    path.write_text("\n\n".join(article_text(i, paragraphs=3) for i in range(8)), encoding="utf-8")
    openai_env.responder = _failing_reduce
    first = run_cli("analyze", str(path), *batch_args(tmp_path))
    assert first.code == 1 and first.json()["results"][0]["status"] == "failed"
    prompts = [r["body"]["messages"][-1]["content"] for r in openai_env.requests]
    parts = sum(1 for p in prompts if "<<<ARTICLE" in p)
    assert parts >= 3 and any("<<<PARTS" in p for p in prompts)
    con = sqlite3.connect(tmp_path / "hs.db")
    assert con.execute("select count(*) from analysis_parts").fetchone()[0] == parts

    openai_env.responder = fake_analysis
    openai_env.requests.clear()
    again = run_cli("analyze", str(path), *batch_args(tmp_path))
    assert again.code == 0, again.stdout
    assert again.json()["results"][0]["status"] == "analyzed"
    prompts = [r["body"]["messages"][-1]["content"] for r in openai_env.requests]
    assert prompts and all("<<<PARTS" in p and "<<<ARTICLE" not in p for p in prompts)  # only the merge
    assert con.execute("select chunks from analyses").fetchone()[0] == parts
