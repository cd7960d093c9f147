"""The offline model's path: section by section, each item with its own sentence, no item in two
sections, each signal with its own change and outlook, sentences marked as picked.

The real model takes minutes here, so a stand-in with the local provider's contract (grammar-
constrained JSON, no network) plays the laziest small model: it always takes the first sentence
offered, repeats one name in every section and gives every signal the same change.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from horizonscan.analysis.analyzer import Analyzer
from horizonscan.analysis.evidence import candidate_quotes
from horizonscan.extract import extract_file
from horizonscan.llm.base import ChatRequest, ChatResponse, Provider
from horizonscan.llm.client import LLMClient
from horizonscan.publish.markdown import render_page
from tests.conftest import EXAMPLES

LYON = EXAMPLES / "lyon-navettes-autonomes.fr.txt"


class LazyLocalModel(Provider):
    """Answers exactly within the schema it is given (as llama.cpp's grammar forces), lazily."""

    name = "local"
    model = "lazy"
    constrained_decoding = True
    context_tokens = 8192

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    @staticmethod
    def _items(spec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        fields = spec["items"]["properties"]
        out = []
        for i in range(spec["minItems"]):
            item: dict[str, Any] = {
                "name": "Autonomous shuttles" if i == 0 else f"{kind} item {i}",
                "description": f"A {kind} about driverless shuttles in Lyon, number {i}.",
                "dimension": "technological",
                "relevancy": 4,
                "evidence": fields["evidence"]["enum"][0],
            }
            if "change" in fields:
                item.update(
                    change="From buses with drivers to shuttles without drivers on demand.",
                    ten_year="Suburbs may be served by driverless shuttles.",
                    driving_force="Automation.",
                    horizon="H2",
                )
            out.append(item)
        return out

    async def chat(self, request: ChatRequest, mode: str | None = None) -> ChatResponse:
        self.requests.append(request)
        props = request.schema["properties"]
        answer: dict[str, Any]
        if "title" in props:
            answer = {
                "title": "Lyon tests on-demand driverless shuttles",
                "summary": "Lyon is testing twelve driverless electric shuttles booked from an app in "
                "three outlying districts, for eighteen months.",
                "keywords": ["Lyon", "autonomous shuttles"],
                "themes": ["mobility"],
                "category": "technology",
                "type": "news",
                "signals": self._items(props["signals"], "signal"),
            }
        elif set(props) == {"evidence"}:
            answer = {"evidence": props["evidence"]["enum"][0]}
        elif set(props) == {"description", "change", "ten_year"}:
            n = len(self.requests)
            answer = {
                "description": f"Riders book shuttles from an app, variant {n}.",
                "change": f"From owning a car to booking rides, variant {n}.",
                "ten_year": f"Outlook {n}.",
            }
        else:
            (field,) = props
            answer = {field: self._items(props[field], field)}
        text = json.dumps(answer)
        return ChatResponse(
            text=text, input_tokens=len(request.messages[0].content) // 4, output_tokens=len(text) // 4
        )


def test_local_sections_give_each_item_its_own_sentence_and_no_repeats() -> None:
    provider = LazyLocalModel()
    analyzer = Analyzer(LLMClient(provider))
    doc = extract_file(LYON)
    analysis = asyncio.run(analyzer.analyze(doc))
    by_kind = {k: analysis.of_kind(k) for k in ("signal", "behavior", "technology", "issue")}
    # Every section holds items; the short article's 10 sentences bound how many can each have one.
    sentences = len(candidate_quotes(doc.text))
    assert all(by_kind[k] for k in by_kind) and len(by_kind["signal"]) >= 2
    # 9 items asked for (no more than the sentences), less the 3 lazy repeats of one name, which
    # made each later section be asked once more, naming the taken names.
    assert len(analysis.items) == sentences - 1 - 3
    retries = [r.messages[0].content for r in provider.requests if "<<<TAKEN" in r.messages[0].content]
    assert len(retries) == 3 and all("Autonomous shuttles" in r.split("<<<TAKEN", 1)[1] for r in retries)
    # Each item its own sentence, all of them the article's own, and said to be picked.
    evidence = [i.evidence for i in analysis.items]
    assert len(set(evidence)) == len(evidence)
    assert all(i.evidence_found and i.evidence_mode == "picked" for i in analysis.items)
    # The name the lazy model repeats in every section is shown once.
    names = [i.name.lower() for i in analysis.items]
    assert names.count("autonomous shuttles") == 1
    # Each signal has its own change and outlook.
    signals = by_kind["signal"]
    assert len({s.change for s in signals}) == len(signals) and len({s.ten_year for s in signals}) == len(
        signals
    )
    # The article prompt is the shared prefix of every call (llama.cpp evaluates it once).
    prefix = provider.requests[0].messages[0].content.split("\n\n", 1)[0]
    assert all(r.messages[0].content.startswith(prefix) for r in provider.requests)
    assert "<<<ARTICLE" in prefix
    # A later section is offered only the sentences earlier items left.
    head_evidence = {s.evidence for s in signals}
    behaviors_enum = provider.requests[
        next(i for i, r in enumerate(provider.requests) if "behaviors" in r.schema["properties"])
    ].schema["properties"]["behaviors"]["items"]["properties"]["evidence"]["enum"]
    assert not head_evidence & set(behaviors_enum)
    page = render_page(analysis)
    assert "sentence chosen from the article" in page and "verified quote" not in page
