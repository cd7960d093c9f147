"""A small corpus for the web, ask and site tests, built through the real CLI against the mock LLM.

Examples in five languages, the French and German seeds (one story), and a hostile article
whose model output carries script and event-handler payloads in every field a page shows.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLES, SEED_DE, SEED_FR
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer, fake_analysis

HOSTILE_MARK = "Quixotic-Payload-Corp"
SCRIPT = "<script>window.__pwned=1;alert('xss')</script>"
ONERROR = '<img src=x onerror="window.__pwned=2;alert(2)">'
SVG = '"><svg onload=alert(3)>'
HOSTILE_TEXT = f"""{HOSTILE_MARK} ships a new data tool {SCRIPT} to every office

The company {HOSTILE_MARK} said on Monday that its new data tool {ONERROR} would reach every office
in the region by next year. Analysts expect the tool to change how small firms keep their books,
although unions worry about the pace of automation {SVG} in accounting departments.
The firm plans to train two thousand clerks and to open the source code of the tool in 2027.
Critics say the plan could concentrate data in the hands of a single provider for years to come.
"""
ASK_MARK = "<<<SOURCES"
_SOURCE_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.M)


def hostile_analysis(prompt: str) -> dict[str, Any]:
    """What a compromised or confused model could return: payloads in every shown field."""
    out = fake_analysis(prompt)
    out["title"] = f"Data tool {SCRIPT} for offices"
    out["summary"] = (
        f"{HOSTILE_MARK} rolls out a data tool {ONERROR} to offices. The tool changes how small firms "
        f"keep their books {SVG} and unions worry about automation in accounting departments."
    )
    out["keywords"] = [f"tool {SCRIPT}", ONERROR, "accounting"]
    out["themes"] = [f"automation {ONERROR}", "work"]
    for key in ("signals", "behaviors", "technologies", "issues"):
        for item in out[key]:
            item["name"] = f"{item['name']} {SCRIPT}"[:110]
            item["description"] = f"{item['description']} {ONERROR} {SVG}"
            if key == "signals":
                item["change"] = f"From paper to {SCRIPT} software"
    out["signals"][0]["evidence"] = f"new data tool {ONERROR} would reach every office"
    out["issues"][0]["evidence"] = (
        f"the payroll {SCRIPT} module will replace every accountant next week"  # invented
    )
    return out


def cite_first_sources(prompt: str) -> dict[str, Any]:
    """An answer that cites the first one or two sources it was given."""
    numbers = [int(n) for n, _ in _SOURCE_LINE.findall(prompt.split(ASK_MARK, 1)[1])]
    claims = [{"text": "The first source reports a change relevant to the question.", "sources": numbers[:1]}]
    if len(numbers) > 1:
        claims.append({"text": "Another source adds a related development.", "sources": numbers[:2]})
    return {"in_corpus": True, "claims": claims}


def corpus_responder(
    ask: Callable[[str], dict[str, Any]] = cite_first_sources,
) -> Callable[[str], dict[str, Any]]:
    def respond(prompt: str) -> dict[str, Any]:
        if ASK_MARK in prompt:
            return ask(prompt)
        if HOSTILE_MARK in prompt:
            return hostile_analysis(prompt)
        return fake_analysis(prompt)

    return respond


@dataclass
class Corpus:
    db: Path
    folder: Path
    ids: dict[str, int]  # input file name → article id
    server: MockLLMServer

    @property
    def hostile_id(self) -> int:
        return self.ids["hostile.txt"]


@contextmanager
def llm_env(server: MockLLMServer) -> Iterator[None]:
    """The mock's OpenAI URL and a key in the environment, restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "HORIZONSCAN_BACKOFF_BASE")}
    os.environ.update(
        OPENAI_BASE_URL=server.openai_url,
        OPENAI_API_KEY="sk-test-web-0123456789",
        HORIZONSCAN_BACKOFF_BASE="0.01",
    )
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_corpus(folder: Path, server: MockLLMServer) -> Corpus:
    """Analyze the inputs with `horizonscan analyze` (the real CLI) into folder/hs.db."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs = folder / "inputs"
    inputs.mkdir(exist_ok=True)
    (inputs / "hostile.txt").write_text(HOSTILE_TEXT, encoding="utf-8")
    server.responder = corpus_responder()
    args = [str(EXAMPLES), str(inputs / "hostile.txt")]
    if SEED_FR.is_file():
        args += [str(SEED_FR), str(SEED_DE)]
    with llm_env(server):
        run = run_cli(
            "analyze", *args, "--llm", "openai:gpt-4o-mini", "--db", str(folder / "hs.db"),
            "--out", str(folder / "pages"), "--origin", "Weekly <script>alert(4)</script> watch=https://example.org/watch/1",
            "--json",
        )  # fmt: skip
    assert run.code == 0, run.stderr
    trends = run_cli("trends", "--db", str(folder / "hs.db"), "--json")  # embeddings only, no LLM call
    assert trends.code == 0, trends.stderr
    ids = {Path(r["source"]).name: int(r["article_id"]) for r in json.loads(run.stdout)["results"]}
    return Corpus(db=folder / "hs.db", folder=folder, ids=ids, server=server)


class _Elements(HTMLParser):
    """What a browser would build: elements and their attributes (escaped text stays text)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    """No script but our own files, no event-handler attribute, no script: URL, on any element."""
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag not in ("svg", "iframe", "object", "embed"), tag
        if tag in ("img", "script"):  # our own files only: a path on this site, never inline
            src = attrs.get("src") or ""
            assert src and not src.startswith(("http:", "https:", "//")), (tag, attrs)
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for name in ("href", "src", "action"):
            assert (
                not (attrs.get(name) or "").strip().lower().startswith(("javascript:", "data:", "vbscript:"))
            )
