"""Deciding reuse: when an input needs no LLM call because its analysis already exists.

Four cases, cheapest first, each answered with a value (never an exception):
1. unchanged input: the same bytes (a file) or a stored URL, already analyzed with this prompt
   and model: nothing is read, extracted or called (`ReuseCheck.unchanged`);
2. same text: known under another name, or re-extracted (`ReuseCheck.known`);
3. near-duplicate: the same article with other boilerplate, saying nothing new: the earlier
   analysis, its evidence re-checked against this text (`ReuseCheck.known`);
4. in flight: the same text is being analyzed for another input of this run right now: its
   answer is shared (`InFlight`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from horizonscan.analysis.analyzer import recheck
from horizonscan.analysis.reuse import new_facts
from horizonscan.models import Analysis, Document
from horizonscan.similarity.corpus import find_near_duplicate
from horizonscan.store import Store
from horizonscan.store.schema import ArticleRow


@dataclass(frozen=True)
class Reuse:
    """An analysis that serves this document. `save` is set when it is a new copy (a
    near-duplicate's, re-checked) that must be saved for this article; `note` says why."""

    analysis: Analysis
    save: bool = False
    note: str | None = None


class ReuseCheck:
    """The texts analyzed with this prompt and model, and the decisions made from them."""

    def __init__(self, store: Store, prompt_version: str, model: str) -> None:
        self.store = store
        self.prompt_version = prompt_version
        self.model = model
        self.keys: set[str] = set()

    def load(self) -> None:
        """Read the known texts (at the start of a run: one query, not one per article)."""
        self.keys = self.store.analyses.analysis_keys(self.prompt_version, self.model)

    def learn(self, text_hash: str) -> None:
        self.keys.add(text_hash)

    def unchanged(self, row: ArticleRow, *, digest: str | None = None) -> bool:
        """True when the stored article needs nothing at all: analyzed with this prompt and model,
        and, for a file (`digest` given), its bytes are the same; for a URL, its text is stored."""
        if row.status != "analyzed" or row.text_hash not in self.keys:
            return False
        return row.raw_hash == digest if digest is not None else bool(row.text)

    def known(self, doc: Document) -> Reuse | None:
        """The analysis of the same text, else of a near-duplicate with no new facts; else None.

        An updated story (new numbers or sentences) is not a near-duplicate: it gets its own
        analysis.
        """
        analyses = self.store.analyses
        if doc.text_hash in self.keys:
            existing = analyses.find_analysis(doc.text_hash, self.prompt_version, self.model)
            if existing is not None:
                return Reuse(existing)
        twin = find_near_duplicate(self.store, doc.text_hash, doc.text, self.keys)
        if twin is None:
            return None
        original = analyses.find_analysis(twin, self.prompt_version, self.model)
        old_text = self.store.articles.texts([twin]).get(twin, "")
        if original is None or new_facts(old_text, doc.text):
            return None
        source_id = self.store.articles.article_id_of_text(twin)
        return Reuse(
            recheck(original, doc, reused_from=source_id),
            save=True,
            note=f"near-duplicate of article {source_id}: its analysis is reused",
        )


class InFlight:
    """Texts this run is analyzing right now. A second input with the same text waits for the
    first one's answer (None if it failed) instead of paying for the same call twice."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[Analysis | None]] = {}

    def running(self, text_hash: str) -> asyncio.Future[Analysis | None] | None:
        return self._running.get(text_hash)

    def start(self, text_hash: str) -> asyncio.Future[Analysis | None]:
        """Register this input as the one analyzing the text; resolve the returned future."""
        future: asyncio.Future[Analysis | None] = asyncio.get_running_loop().create_future()
        self._running[text_hash] = future
        return future

    def end(self, text_hash: str, future: asyncio.Future[Analysis | None]) -> None:
        """Done with the text: waiters still waiting get None (they analyze it themselves)."""
        if not future.done():
            future.set_result(None)
        if self._running.get(text_hash) is future:
            del self._running[text_hash]
