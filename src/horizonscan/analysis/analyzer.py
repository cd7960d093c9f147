"""Article in, checked analysis out: one structured call (or map-reduce for very long texts).

Hosted models get the whole analysis in one call; when too many of their quotes are not found in
the article (or no signal came back), they are asked once more, told precisely which item's
quote was not found and why. Grammar-constrained local models work section by section instead
(overview and signals, then behaviors, technologies, issues): the article is the shared prefix of
every call, so llama.cpp evaluates it once, and each section picks its evidence among sentences
the earlier sections left unused; a short extra call gives an item that still shares a sentence
its own, and a signal that repeats another's change or outlook its own.

Nothing imperfect sinks an analysis: an item whose quote is not found, or that lacks a field, is
kept and marked (`evidence_note`, `problems`), and shown as such on the page and in exports.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pydantic import TypeAdapter

from horizonscan.analysis.evidence import candidate_quotes, normalise, verify
from horizonscan.analysis.promptset import PromptSet, build_prompt, load_prompts
from horizonscan.analysis.schema import ITEM_LISTS, analysis_schema, constrained_schema
from horizonscan.config import Settings
from horizonscan.extract.language import detect_language, language_name
from horizonscan.llm.base import ChatRequest, Message
from horizonscan.llm.client import LLMClient, LLMFailure, LLMFatal
from horizonscan.llm.limits import Budget, RateLimiter
from horizonscan.llm.pricing import PriceTable
from horizonscan.llm.registry import make_provider
from horizonscan.models import (
    KIND_FIELDS,
    MAX_ITEMS,
    Analysis,
    AnalysisOutput,
    CheckedItem,
    Document,
    EvidenceMode,
    Item,
    ItemKind,
    Signal,
    keep_items,
)

MAX_OUTPUT_TOKENS = 2500
# Room kept for the chat template and the model's own tokens, on top of prompt and output.
CONTEXT_MARGIN = 256
# Asked once more when at least this share of the items' quotes is not found in the article.
REGROUND_SHARE = 0.25
# The local model's sections: (fields of the call, the least and most items each list must hold).
LOCAL_SECTIONS: tuple[tuple[tuple[str, ...], int, int], ...] = (
    (("title", "summary", "keywords", "themes", "category", "type", "signals"), 3, 5),
    (("behaviors",), 3, 5),
    (("technologies",), 2, 4),
    (("issues",), 3, 5),
)
LOCAL_SECTION_TOKENS = 1100
SECTION_HELP = {
    "signals": "signals: changes that may matter in ten years, stated beyond the one company in the news",
    "behaviors": "behaviors: things people or organisations start doing, each named by what they do",
    "technologies": "technologies: technologies, products or techniques named in the article, not topics",
    "issues": "issues: risks, tensions or open questions, each named as a problem (e.g. 'Shortage of "
    "skilled installers')",
}


class PartStore(Protocol):
    """Where the answers for the parts of a long article are kept as they arrive (the Store)."""

    def analysis_parts(
        self, text_hash: str, prompt_version: str, model: str
    ) -> dict[str, dict[str, Any]]: ...

    def save_analysis_part(
        self,
        text_hash: str,
        prompt_version: str,
        model: str,
        part_hash: str,
        position: int,
        output: dict[str, Any],
    ) -> None: ...


def _json_body(text: str) -> Any:
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fenced:
        body = fenced.group(1).strip()
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            raise ValueError("the answer contains no JSON object")
        body = body[start : end + 1]
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("the answer must be a JSON object")
    return data


def parse_output(text: str) -> AnalysisOutput:
    """Parse a model's answer: JSON (optionally fenced or wrapped in prose), then the schema, then English."""
    out = AnalysisOutput.model_validate(_json_body(text))
    lang = detect_language(f"{out.title}. {out.summary}", sample=400)
    if lang is not None and lang != "en":
        raise ValueError(
            f"title and summary are in {language_name(lang)}; write them in English "
            "(only the evidence stays in the article's language)"
        )
    return out


_SIGNALS: TypeAdapter[list[Signal]] = TypeAdapter(list[Signal])
_ITEMS: TypeAdapter[list[Item]] = TypeAdapter(list[Item])


def _parse_section(field: str) -> Callable[[str], list[Any]]:
    """Parser for a local section call that returns only `{field: [...]}`."""

    def parse(text: str) -> list[Any]:
        data = _json_body(text)
        values = keep_items(data.get(field, []))  # the same dropping and capping rules
        adapter: TypeAdapter[Any] = _SIGNALS if field == "signals" else _ITEMS
        return list(adapter.validate_python(values))

    return parse


def split_text(text: str, max_chars: int) -> list[str]:
    """Split at paragraph, then sentence, boundaries into pieces of at most `max_chars`."""
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        while len(para) > max_chars:
            cut = max(para.rfind(". ", 0, max_chars), para.rfind("\n", 0, max_chars))
            cut = cut + 1 if cut > max_chars // 2 else max_chars
            pieces.append(para[:cut].strip())
            para = para[cut:].strip()
        if para:
            pieces.append(para)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) + 2 > max_chars:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def article_body(doc: Document, text: str | None = None) -> str:
    """What the model reads as the article, and what quotes are checked against: the title
    (unless the text starts with it), then the text. Both are untrusted article content.

    A part of a long article (`text` other than the whole) is sent as it is: a title glued to a
    part would let a quote span two places that are not adjacent in the article.
    """
    if text is not None and text != doc.text:
        return text
    title = " ".join((doc.title or "").split())[:300]
    if title and not doc.text.lstrip().startswith(title[:40]):
        return f"{title}\n\n{doc.text}"
    return doc.text


def check_item(
    kind: ItemKind,
    data: dict[str, Any],
    body: str,
    *,
    normalised_body: str | None = None,
    language: str | None = None,
    mode: EvidenceMode = "quote",
) -> CheckedItem:
    """An item as stored: its evidence verified against the article, every imperfection named."""
    result = verify(data.get("evidence") or "", body, normalised_text=normalised_body, text_language=language)
    problems: list[str] = []
    if not (data.get("evidence") or "").strip():
        problems.append("no evidence given")
    elif not result.found:
        problems.append(f"evidence not found in the article: {result.note}")
    if not data.get("dimension"):
        problems.append("no STEEP+V dimension")
    if kind == "signal":
        for key, label in (("change", "change"), ("ten_year", "10-year"), ("driving_force", "driving force")):
            if not (data.get(key) or "").strip():
                problems.append(f"no {label}")
        if not data.get("horizon"):
            problems.append("no horizon")
    else:
        for key in ("change", "ten_year", "driving_force", "horizon"):
            data.pop(key, None)
    return CheckedItem(
        kind=kind,
        **data,
        evidence_found=result.found,
        evidence_score=result.score,
        evidence_mode=mode,
        evidence_note=result.note,
        problems=problems,
    )


def _grounding(out: AnalysisOutput, body: str, language: str | None) -> tuple[list[str], int, int]:
    """(precise problem lines for a re-ask, items whose quote was found, items in all)."""
    hay = normalise(body)
    lang = language_name(language)
    lines: list[str] = []
    if not out.signals:
        lines.append(
            "- signals: the list is empty. Give at least one signal: a change that may matter in "
            "ten years, stated beyond the one company in the news, with its own evidence."
        )
    found = total = 0
    for field in ITEM_LISTS:
        for i, item in enumerate(getattr(out, field)):
            total += 1
            result = verify(item.evidence, body, normalised_text=hay, text_language=language)
            if result.found:
                found += 1
                continue
            lines.append(
                f"- {field}[{i}] “{item.name[:80]}”, field evidence: “{item.evidence[:300]}” is not "
                f"in the article word for word ({result.note}). Copy it in {lang}, as written in "
                "the article; do not translate."
            )
    return lines, found, total


class Analyzer:
    def __init__(
        self,
        client: LLMClient,
        prompts: PromptSet | None = None,
        *,
        max_output_tokens: int = MAX_OUTPUT_TOKENS,
    ) -> None:
        self.client = client
        self.prompts = prompts or load_prompts()
        self.schema = analysis_schema()
        self.max_output_tokens = max_output_tokens
        self._version: str | None = None
        # Set by the batch: where the parts of long articles are saved as they arrive.
        self.parts: PartStore | None = None

    @property
    def prompt_version(self) -> str:
        if self._version is None:
            self._version = self.prompts.version
        return self._version

    @property
    def model_spec(self) -> str:
        return self.client.provider.spec

    @property
    def constrained(self) -> bool:
        return self.client.provider.constrained_decoding

    def _request(self, user: str, text: str | None = None) -> ChatRequest:
        schema = self.schema
        grammar = constrained_schema([])  # for a grammar server reached through the quote path
        system = self.prompts.system
        if self.constrained:
            system = f"{system}\n{self.prompts.constrained}"
            if text is not None:
                schema = grammar = constrained_schema(candidate_quotes(text))
        return ChatRequest(
            system=system,
            messages=[Message("user", user)],
            schema=schema,
            max_output_tokens=self.max_output_tokens,
            grammar_schema=grammar,
        )

    def _user(self, doc: Document, text: str, part_note: str = "") -> str:
        return build_prompt(
            self.prompts.user,
            blocks={"article": article_body(doc, text)},
            language=language_name(doc.language),
            part_note=part_note,
        )

    def max_text_chars(self, doc: Document) -> int:
        """How much article text fits in one call beside the prompt, schema and answer."""
        provider = self.client.provider
        fixed = self._request(self._user(doc, "")).chars()
        out_tokens = LOCAL_SECTION_TOKENS if self.constrained else self.max_output_tokens
        budget_tokens = provider.context_tokens - out_tokens - CONTEXT_MARGIN
        budget_tokens -= provider.count_tokens("x" * fixed) if provider.name != "local" else fixed // 3
        # Convert tokens to characters conservatively (3 chars a token covers most languages).
        return max(1000, budget_tokens * 3)

    async def _ask(self, request: ChatRequest, text_hash: str, purpose: str) -> AnalysisOutput:
        return await self.client.structured(
            request, parse_output, repair_prompt=self.prompts.repair, text_hash=text_hash, purpose=purpose
        )

    async def analyze(self, doc: Document) -> Analysis:
        limit = self.max_text_chars(doc)
        if len(doc.text) <= limit:
            out = await self._analyze_text(doc, doc.text, "analyze")
            return self.checked(doc, out, chunks=1)
        chunks = split_text(doc.text, limit)
        saved = self._saved_parts(doc)
        parts: list[AnalysisOutput] = []
        for i, chunk in enumerate(chunks, 1):
            part_hash = hashlib.sha256(chunk.encode()).hexdigest()
            if part_hash in saved:
                parts.append(AnalysisOutput.model_validate(saved[part_hash]))
                continue
            note = f" This is part {i} of {len(chunks)} of a long article."
            part = await self._analyze_text(doc, chunk, "analyze-part", note)
            self._save_part(doc, part_hash, i, part)  # kept at once: a failed merge never pays for it again
            parts.append(part)
        out = await self._reduce(doc, parts, limit, saved)
        return self.checked(doc, out, chunks=len(chunks))

    def _save_part(self, doc: Document, part_hash: str, position: int, out: AnalysisOutput) -> None:
        if self.parts is not None:
            self.parts.save_analysis_part(
                doc.text_hash, self.prompt_version, self.model_spec, part_hash, position,
                out.model_dump(mode="json"),
            )  # fmt: skip

    def _saved_parts(self, doc: Document) -> dict[str, dict[str, Any]]:
        if self.parts is None:
            return {}
        return self.parts.analysis_parts(doc.text_hash, self.prompt_version, self.model_spec)

    async def _analyze_text(
        self, doc: Document, text: str, purpose: str, part_note: str = ""
    ) -> AnalysisOutput:
        if self.constrained:
            return await self._sections(doc, text, part_note)
        request = self._request(self._user(doc, text, part_note))
        out = await self._ask(request, doc.text_hash, purpose)
        return await self._reground(doc, text, request, out)

    async def _reground(
        self, doc: Document, text: str, request: ChatRequest, out: AnalysisOutput
    ) -> AnalysisOutput:
        """Ask once more, precisely, when the answer has no signal or too many unfound quotes.

        The better of the two answers is kept (the one with signals, then more quotes found);
        a failed re-ask keeps the first. Whatever remains unfound is kept, and marked.
        """
        body = article_body(doc, text)
        lines, found, total = _grounding(out, body, doc.language)
        if out.signals and (total == 0 or (total - found) / total < REGROUND_SHARE):
            return out
        problems = build_prompt(
            self.prompts.reground,
            blocks={"problems": "\n".join(lines)},
            language=language_name(doc.language),
        )
        again = ChatRequest(
            system=request.system,
            messages=[
                *request.messages,
                Message("assistant", out.model_dump_json()),
                Message("user", problems),
            ],
            schema=request.schema,
            schema_name=request.schema_name,
            max_output_tokens=request.max_output_tokens,
            temperature=request.temperature,
            grammar_schema=request.grammar_schema,
        )
        try:
            second = await self._ask(again, doc.text_hash, "reground")
        except LLMFatal:
            raise  # a dead key or provider stops the batch; only the model's own failures are absorbed
        except LLMFailure:
            return out
        _, found2, total2 = _grounding(second, body, doc.language)
        if (bool(second.signals), found2, -(total2 - found2)) >= (bool(out.signals), found, -(total - found)):
            return second
        return out

    async def _sections(self, doc: Document, text: str, part_note: str) -> AnalysisOutput:
        """The local model, section by section (see the module docstring).

        Each section's evidence is an enum of the sentences earlier items left unused. An item
        that still shares a sentence with another (the grammar cannot forbid repeats inside one
        list) gets a short second call to pick a free one, and a signal that repeats another's
        change or outlook gets its own: both calls write a few dozen tokens on the cached prefix.
        """
        run = _LocalRun(self, doc, self._user(doc, text, part_note), candidate_quotes(text))
        data: dict[str, Any] = {}
        for index, (fields, least, most) in enumerate(LOCAL_SECTIONS):
            lists = [f for f in fields if f in ITEM_LISTS]
            # A short article has few sentences: ask for no more items than can each have their own.
            free = run.free()
            if free:
                least = max(1, min(least, len(free) // (len(LOCAL_SECTIONS) - index)))
                most = max(least, min(most, len(free)))
            section = "; ".join(SECTION_HELP[f] for f in lists)
            if "title" in fields:
                section = f"the title, summary, keywords, themes, category and type, and the {section}"
            note = build_prompt(self.prompts.sections, blocks={}, section=section, least=least, most=most)
            schema = _section_schema(fields, free or run.sentences, least, most)
            if "title" in fields:
                head = await self.client.structured(
                    run.request(note, schema, LOCAL_SECTION_TOKENS),
                    _parse_head,
                    repair_prompt=self.prompts.repair,
                    text_hash=doc.text_hash,
                    purpose="analyze-section",
                )
                data.update(head)
            else:
                data[lists[0]] = await run.section(note, schema, lists[0], least)
            for field in lists:
                for item in data[field]:
                    await run.own_sentence(item)
                    if field == "signals":
                        await run.own_signal(item, data[field])
                    run.names.append(item["name"])
        for field in ITEM_LISTS:
            data.setdefault(field, [])
        return AnalysisOutput.model_validate(data)

    async def _reduce(
        self, doc: Document, parts: list[AnalysisOutput], limit: int, saved: dict[str, dict[str, Any]]
    ) -> AnalysisOutput:
        """Merge partial analyses, in rounds when they do not fit in one call together.

        Each intermediate merge is saved like a part (keyed by what it merged), so a merge that
        fails in a later round does not pay again for the rounds before it.
        """
        while len(parts) > 1:
            groups: list[list[AnalysisOutput]] = [[]]
            size = 0
            for part in parts:
                n = len(part.model_dump_json())
                if groups[-1] and size + n > limit:
                    groups.append([])
                    size = 0
                groups[-1].append(part)
                size += n
            if len(groups) == len(parts) and len(parts) > 1:
                groups = [parts[i : i + 2] for i in range(0, len(parts), 2)]
            merged: list[AnalysisOutput] = []
            for group in groups:
                if len(group) == 1:
                    merged.append(group[0])
                    continue
                parts_json = "\n".join(p.model_dump_json() for p in group)
                merge_hash = hashlib.sha256(f"merge\0{parts_json}".encode()).hexdigest()
                if merge_hash in saved:
                    merged.append(AnalysisOutput.model_validate(saved[merge_hash]))
                    continue
                user = build_prompt(
                    self.prompts.reduce,
                    blocks={
                        "title": " ".join((doc.title or "unknown").split())[:300],
                        "parts": parts_json,
                    },
                    count=len(group),
                    language=language_name(doc.language),
                )
                request = ChatRequest(
                    system=self.prompts.system,
                    messages=[Message("user", user)],
                    schema=self.schema,
                    max_output_tokens=self.max_output_tokens,
                    grammar_schema=constrained_schema([]),
                )
                result = await self._ask(request, doc.text_hash, "reduce")
                self._save_part(doc, merge_hash, 0, result)
                merged.append(result)
            parts = merged
        return parts[0]

    def checked(self, doc: Document, out: AnalysisOutput, *, chunks: int) -> Analysis:
        """Attach the evidence check to every item; unfound evidence is kept, and marked."""
        body = article_body(doc)
        hay = normalise(body)
        mode: EvidenceMode = "picked" if self.constrained else "quote"
        items: list[CheckedItem] = []
        first_kind: dict[str, str] = {}
        for kind, field in KIND_FIELDS.items():
            for entry in getattr(out, field):
                data: dict[str, Any] = entry.model_dump(mode="json")
                key = " ".join(data["name"].lower().split())
                if first_kind.setdefault(key, kind) != kind:
                    continue  # the same item in a second section: shown once
                items.append(
                    check_item(kind, data, body, normalised_body=hay, language=doc.language, mode=mode)
                )
        return Analysis(
            text_hash=doc.text_hash,
            model=self.model_spec,
            prompt_version=self.prompt_version,
            title=out.title,
            summary=out.summary,
            keywords=out.keywords,
            themes=out.themes,
            category=out.category.value,
            type=out.type.value,
            language=doc.language,
            items=items,
            chunks=chunks,
        )


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .")


class _LocalRun:
    """The state of one article's section-by-section analysis by a constrained local model."""

    def __init__(self, analyzer: Analyzer, doc: Document, user: str, sentences: list[str]) -> None:
        self.analyzer = analyzer
        self.doc = doc
        self.user = user  # the article prompt: the shared, cached prefix of every call
        self.system = f"{analyzer.prompts.system}\n{analyzer.prompts.constrained}"
        self.sentences = sentences
        self.used: set[str] = set()
        self.names: list[str] = []

    def free(self) -> list[str]:
        return [s for s in self.sentences if s not in self.used]

    def request(self, note: str, schema: dict[str, Any], max_tokens: int) -> ChatRequest:
        return ChatRequest(
            system=self.system,
            messages=[Message("user", f"{self.user}\n\n{note}")],
            schema=schema,
            schema_name="section",
            max_output_tokens=max_tokens,
        )

    async def _ask(self, request: ChatRequest, parse: Callable[[str], Any]) -> Any:
        return await self.analyzer.client.structured(
            request,
            parse,
            repair_prompt=self.analyzer.prompts.repair,
            text_hash=self.doc.text_hash,
            purpose="analyze-section",
        )

    async def section(
        self, note: str, schema: dict[str, Any], field: str, least: int
    ) -> list[dict[str, Any]]:
        """One list section. Items named like an earlier section's are dropped; when that leaves
        fewer than `least`, the section is asked once more with the taken names listed (only
        then: a small model shown names tends to copy them)."""
        taken = {_norm(n) for n in self.names}
        kept: list[dict[str, Any]] = []
        for attempt in range(2):
            if attempt:
                taken_note = build_prompt(
                    self.analyzer.prompts.taken, blocks={"taken": "\n".join(self.names)}
                )
                note = f"{note}\n{taken_note}"
            try:
                items = await self._ask(
                    self.request(note, schema, LOCAL_SECTION_TOKENS), _parse_section(field)
                )
            except LLMFatal:
                raise  # a dead key or provider stops the batch; only the model's own failures are absorbed
            except LLMFailure:
                return kept  # one section lost never sinks the article's analysis
            fresh = [i.model_dump(mode="json") for i in items if _norm(i.name) not in taken]
            if len(fresh) > len(kept):
                kept = fresh
            if len(kept) >= least or len(fresh) == len(items):
                break
        return kept

    async def own_sentence(self, item: dict[str, Any]) -> None:
        """Give `item` a sentence no earlier item cites, when one is left."""
        free = self.free()
        if item["evidence"] in self.used and free:
            note = build_prompt(
                self.analyzer.prompts.pick, blocks={"item": f"{item['name']}: {item['description']}"}
            )
            schema = _closed({"evidence": {"type": "string", "enum": free}})
            try:
                picked = await self._ask(self.request(note, schema, 160), _parse_fields(("evidence",)))
                item["evidence"] = picked["evidence"]
            except LLMFatal:
                raise  # a dead key or provider stops the batch; only the model's own failures are absorbed
            except LLMFailure:
                pass  # the shared sentence stays; the item is still grounded
        self.used.add(item["evidence"])

    async def own_signal(self, signal: dict[str, Any], signals: list[dict[str, Any]]) -> None:
        """Give a signal that repeats an earlier one's description, change or outlook its own."""
        earlier = signals[: next(i for i, s in enumerate(signals) if s is signal)]
        fields = ("description", "change", "ten_year")
        if not any(_norm(signal[f]) == _norm(o[f]) for o in earlier for f in fields):
            return
        note = build_prompt(
            self.analyzer.prompts.refill,
            blocks={
                "signal": signal["name"],
                "others": "\n".join(f"{o['description']} / {o['change']} / {o['ten_year']}" for o in earlier),
            },
        )
        text = {"type": "string", "minLength": 12, "maxLength": 200}
        schema = _closed({f: dict(text) for f in fields})
        try:
            fresh = await self._ask(self.request(note, schema, 300), _parse_fields(fields))
        except LLMFatal:
            raise  # a dead key or provider stops the batch; only the model's own failures are absorbed
        except LLMFailure:
            return
        # One call, never re-asked: a small model asked again tends to repeat again (each re-ask
        # cost a minute in the demo). A value that still repeats another signal's is not taken.
        signal.update(
            {f: v for f, v in fresh.items() if not any(_norm(v) == _norm(str(o.get(f, ""))) for o in earlier)}
        )


def _closed(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _parse_fields(names: Sequence[str]) -> Callable[[str], dict[str, str]]:
    def parse(text: str) -> dict[str, str]:
        data = _json_body(text)
        out = {n: " ".join(str(data.get(n) or "").split()) for n in names}
        missing = [n for n, v in out.items() if not v]
        if missing:
            raise ValueError(f"missing: {', '.join(missing)}")
        return out

    return parse


def _parse_head(text: str) -> dict[str, Any]:
    """The local model's first section: everything but behaviors, technologies and issues."""
    data = _json_body(text)
    empty: dict[str, list[Any]] = {"signals": [], "behaviors": [], "technologies": [], "issues": []}
    out = parse_output(json.dumps({**data, **empty}))
    head: dict[str, Any] = out.model_dump(mode="json", exclude=set(empty))
    # Signals that repeat each other are kept here (not deduplicated): each gets its own words next.
    raw = data.get("signals")
    signals = (
        [s for s in raw if isinstance(s, dict) and s.get("name") and s.get("description")]
        if isinstance(raw, list)
        else []
    )
    head["signals"] = [s.model_dump(mode="json") for s in _SIGNALS.validate_python(signals[:MAX_ITEMS])]
    return head


def _section_schema(fields: Sequence[str], choices: list[str], least: int, most: int) -> dict[str, Any]:
    """The constrained schema cut down to `fields`, lists bounded to [least, most] items."""
    full = constrained_schema(choices)
    props = {f: full["properties"][f] for f in fields}
    for f in fields:
        if f in ITEM_LISTS:
            props[f].update(minItems=least, maxItems=min(most, MAX_ITEMS))
    return {"type": "object", "properties": props, "required": list(fields), "additionalProperties": False}


# What `check_item` computes: dropped from a stored item before it is checked again.
_CHECK_FIELDS = {"kind", "evidence_found", "evidence_score", "evidence_note", "evidence_mode", "problems"}


def recheck(analysis: Analysis, doc: Document, *, reused_from: int | None = None) -> Analysis:
    """The same analysis for another (near-identical) text: evidence re-checked against that text."""
    body = article_body(doc)
    hay = normalise(body)
    items = []
    for item in analysis.items:
        data = item.model_dump(exclude=_CHECK_FIELDS)
        items.append(
            check_item(
                item.kind, data, body, normalised_body=hay, language=doc.language, mode=item.evidence_mode
            )
        )
    return analysis.model_copy(
        update={
            "id": None,
            "text_hash": doc.text_hash,
            "language": doc.language,
            "items": items,
            "reused_from": reused_from,
            "created_at": None,
        }
    )


def make_analyzer(settings: Settings, *, log: Callable[[str], None] | None = None) -> Analyzer:
    """Wire provider, limits, prices and prompts from the effective settings."""
    provider = make_provider(
        settings.llm, timeout=settings.timeout, context_tokens=settings.context_tokens, progress=log
    )
    client = LLMClient(
        provider,
        prices=PriceTable(settings.prices),
        budget=Budget(settings.max_cost, settings.max_tokens),
        limiter=RateLimiter(settings.rpm, settings.tpm),
        max_retries=settings.max_retries,
        max_repairs=settings.max_repairs,
        backoff_base=settings.backoff_base,
        backoff_max=settings.backoff_max,
        audit=settings.audit,
    )
    return Analyzer(client)
