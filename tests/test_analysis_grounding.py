"""Ungrounded or imperfect items never sink an analysis: they are re-asked once, precisely, and
what remains is kept and marked on the page and in every export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tests.conftest import SEED_FR, needs_seeds
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer

pytestmark = needs_seeds

FR_TRUE = [
    "Amazon a confirmé lundi qu’elle prévoyait de licencier plusieurs centaines de travailleurs",
    "L’application est alimentée par un grand modèle de langage (LLM) que Amazon développe en interne",
    "Les employés de ce département faisaient partie des 18 000 emplois supprimés par Amazon",
    "La société a noté qu’il y avait plus de cinq milliards de périphériques Alexa chez les clients",
]
# The same sentences as a hosted model returned them: translated into English.
EN_TRANSLATED = [
    "Amazon confirmed on Monday that it planned to lay off several hundred workers from its Alexa division",
    "The application is powered by a large language model (LLM) that Amazon develops in-house",
    "The employees of this department were among the 18,000 jobs cut by Amazon at the start of 2023",
    "The company noted that there were more than five billion Alexa devices with customers",
]


def _answer(quotes: list[str], *, signals: bool = True) -> dict[str, Any]:
    def item(i: int) -> dict[str, Any]:
        return {
            "name": f"Item number {i}",
            "description": f"Organisations start doing thing number {i} because of generative AI.",
            "dimension": "economic",
            "relevancy": 3,
            "evidence": quotes[i],
        }

    signal = {
        "name": "Voice assistants give way to generative AI",
        "description": "Tech firms move staff and budgets from voice assistants to generative AI models.",
        "change": "From voice assistants built by large teams to assistants built on in-house models.",
        "ten_year": "Assistants may hold long conversations and act for their users.",
        "driving_force": "Competition in generative AI.",
        "horizon": "H2",
        "dimension": "technological",
        "relevancy": 5,
        "evidence": quotes[0],
    }
    return {
        "title": "Amazon cuts Alexa jobs to focus on generative AI",
        "summary": "Amazon is cutting several hundred jobs in its Alexa division to focus on generative AI.",
        "keywords": ["Amazon", "Alexa"],
        "themes": ["generative AI"],
        "category": "technology",
        "type": "news",
        "signals": [signal] if signals else [],
        "behaviors": [item(1)],
        "technologies": [item(2)],
        "issues": [item(3)],
    }


def _run(tmp_path: Path) -> Any:
    return run_cli("analyze", str(SEED_FR), *batch_args(tmp_path))


def _export(tmp_path: Path, fmt: str) -> str:
    return run_cli("export", "--format", fmt, "--db", str(tmp_path / "hs.db")).stdout


def test_translated_quotes_are_reasked_precisely_and_the_better_answer_kept(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    openai_env.script = [_answer(EN_TRANSLATED), _answer(FR_TRUE)]
    run = _run(tmp_path)
    assert run.code == 0, run.stdout
    assert len(openai_env.requests) == 2
    reask = openai_env.requests[1]["body"]["messages"]
    assert [m["role"] for m in reask[-3:]] == ["user", "assistant", "user"]
    problems = reask[-1]["content"]
    # Which item, which field, the quote not found, and what to do instead.
    assert "behaviors[0] “Item number 1”, field evidence: “The application is powered by" in problems
    assert "the quote is in English, the article in French" in problems
    assert "Copy it in French, as written in the article; do not translate." in problems
    assert "do not translate" in problems and "in French" in problems
    items = json.loads(_export(tmp_path, "json"))[0]["items"]
    assert items and all(i["evidence_found"] for i in items)


def test_quotes_still_translated_after_the_reask_are_kept_and_marked_everywhere(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    openai_env.script = [_answer(EN_TRANSLATED), _answer(EN_TRANSLATED)]
    run = _run(tmp_path)
    assert run.code == 0 and run.json()["results"][0]["status"] == "analyzed"
    assert len(openai_env.requests) == 2  # one precise re-ask, then the article is kept as it is
    items = json.loads(_export(tmp_path, "json"))[0]["items"]
    assert len(items) == 4 and not any(i["evidence_found"] for i in items)
    assert all(i["evidence_status"] == "NOT FOUND" and "translated" in i["evidence_note"] for i in items)
    rows = list(csv.DictReader(io.StringIO(_export(tmp_path, "csv"))))
    assert {r["item_evidence_status"] for r in rows} == {"NOT FOUND"}
    assert all("evidence not found" in r["item_problems"] for r in rows)
    page = Path(run.json()["results"][0]["page"]).read_text(encoding="utf-8")
    signals = page.split("## Signals", 1)[1].split("\n## ", 1)[0]
    assert "⚠ not found" in signals
    assert "Evidence not found in the text for 4 of 4 items" in page


def test_an_answer_without_signals_is_kept_not_failed(openai_env: MockLLMServer, tmp_path: Path) -> None:
    # The real case: "signals: List should have at least 1 item" failed the article after 3 tries.
    openai_env.script = [_answer(FR_TRUE, signals=False), _answer(FR_TRUE, signals=False)]
    run = _run(tmp_path)
    assert run.code == 0, run.stdout
    assert run.json()["results"][0]["status"] == "analyzed"
    assert len(openai_env.requests) == 2
    assert "- signals: the list is empty." in openai_env.requests[1]["body"]["messages"][-1]["content"]
    data = json.loads(_export(tmp_path, "json"))[0]
    assert {i["kind"] for i in data["items"]} == {"behavior", "technology", "issue"}
    page = Path(run.json()["results"][0]["page"]).read_text(encoding="utf-8")
    assert "No signal was found in this article" in page


def test_imperfect_items_are_kept_with_their_problems(openai_env: MockLLMServer, tmp_path: Path) -> None:
    answer = _answer(FR_TRUE)
    answer["signals"][0].pop("change")  # a missing field
    answer["signals"][0]["horizon"] = "soon"  # an unknown horizon
    answer["signals"][0]["relevancy"] = 7  # out of range
    answer["behaviors"][0]["dimension"] = "Society"  # a near-miss label
    answer["issues"].append({"name": "", "description": "An item with nothing to show", "relevancy": 2})
    openai_env.script = [answer]
    run = _run(tmp_path)
    assert run.code == 0, run.stdout
    assert len(openai_env.requests) == 1  # none of this is worth a paid re-ask
    items = {i["kind"]: i for i in json.loads(_export(tmp_path, "json"))[0]["items"]}
    signal = items["signal"]
    assert signal["relevancy"] == 5 and signal["horizon"] is None
    assert "no change" in signal["problems"] and "no horizon" in signal["problems"]
    assert items["behavior"]["dimension"] == "social" and items["behavior"]["problems"] == []
    assert len([i for i in json.loads(_export(tmp_path, "json"))[0]["items"] if i["kind"] == "issue"]) == 1
