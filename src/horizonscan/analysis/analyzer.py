"""Article in, checked analysis out: one structured call (or map-reduce for very long texts)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from horizonscan.analysis.evidence import candidate_quotes, check, normalise
from horizonscan.analysis.promptset import PromptSet, load_prompts
from horizonscan.analysis.schema import analysis_schema, constrained_schema
from horizonscan.config import Settings
from horizonscan.extract.language import detect_language, language_name
from horizonscan.llm.base import ChatRequest, Message
from horizonscan.llm.client import LLMClient
from horizonscan.llm.limits import Budget, RateLimiter
from horizonscan.llm.pricing import PriceTable
from horizonscan.llm.registry import make_provider
from horizonscan.models import (
    KIND_FIELDS,
    Analysis,
    AnalysisOutput,
    CheckedItem,
    Document,
)

MAX_OUTPUT_TOKENS = 2500
# Room kept for the chat template and the model's own tokens, on top of prompt and output.
CONTEXT_MARGIN = 256


def parse_output(text: str) -> AnalysisOutput:
    """Parse a model's answer: JSON (optionally fenced or wrapped in prose), then the schema, then English."""
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
    out = AnalysisOutput.model_validate(data)
    lang = detect_language(f"{out.title}. {out.summary}", sample=400)
    if lang is not None and lang != "en":
        raise ValueError(f"title and summary are in {language_name(lang)}; write them in English")
    return out


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

    @property
    def prompt_version(self) -> str:
        return self.prompts.version

    @property
    def model_spec(self) -> str:
        return self.client.provider.spec

    def _request(self, user: str, text: str | None = None) -> ChatRequest:
        schema = self.schema
        system = self.prompts.system
        if self.client.provider.constrained_decoding:
            system = f"{system}\n{self.prompts.constrained}"
            if text is not None:
                schema = constrained_schema(candidate_quotes(text))
        return ChatRequest(
            system=system,
            messages=[Message("user", user)],
            schema=schema,
            max_output_tokens=self.max_output_tokens,
        )

    def _user(self, doc: Document, text: str, part_note: str = "") -> str:
        title = (doc.title or "").replace("\n", " ").strip()[:300]
        # The title is worth sending only when the text does not already start with it.
        title_line = f" Title: {title}." if title and not text.lstrip().startswith(title[:40]) else ""
        return self.prompts.user.format(
            language=language_name(doc.language),
            title_line=title_line,
            part_note=part_note,
            boundary=doc.text_hash[:12],
            text=_defang(text, doc.text_hash[:12]),
        )

    def max_text_chars(self, doc: Document) -> int:
        """How much article text fits in one call beside the prompt, schema and answer."""
        provider = self.client.provider
        fixed = self._request(self._user(doc, "")).chars()
        budget_tokens = provider.context_tokens - self.max_output_tokens - CONTEXT_MARGIN
        budget_tokens -= provider.count_tokens("x" * fixed) if provider.name != "local" else fixed // 3
        # Convert tokens to characters conservatively (3 chars a token covers most languages).
        return max(1000, budget_tokens * 3)

    async def _call(self, user: str, text_hash: str, purpose: str, text: str | None = None) -> AnalysisOutput:
        return await self.client.structured(
            self._request(user, text),
            parse_output,
            repair_prompt=self.prompts.repair,
            text_hash=text_hash,
            purpose=purpose,
        )

    async def analyze(self, doc: Document) -> Analysis:
        limit = self.max_text_chars(doc)
        if len(doc.text) <= limit:
            out = await self._call(self._user(doc, doc.text), doc.text_hash, "analyze", doc.text)
            return self.checked(doc, out, chunks=1)
        chunks = split_text(doc.text, limit)
        parts: list[AnalysisOutput] = []
        for i, chunk in enumerate(chunks, 1):
            note = f" This is part {i} of {len(chunks)} of a long article."
            parts.append(await self._call(self._user(doc, chunk, note), doc.text_hash, "analyze-part", chunk))
        out = await self._reduce(doc, parts, limit)
        return self.checked(doc, out, chunks=len(chunks))

    async def _reduce(self, doc: Document, parts: list[AnalysisOutput], limit: int) -> AnalysisOutput:
        """Merge partial analyses, in rounds when they do not fit in one call together."""
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
                boundary = doc.text_hash[:12]
                parts_json = "\n".join(p.model_dump_json() for p in group)
                user = self.prompts.reduce.format(
                    parts=len(group),
                    language=language_name(doc.language),
                    title=(doc.title or "unknown")[:300],
                    boundary=boundary,
                    parts_json=_defang(parts_json, boundary),
                )
                merged.append(await self._call(user, doc.text_hash, "reduce"))
            parts = merged
        return parts[0]

    def checked(self, doc: Document, out: AnalysisOutput, *, chunks: int) -> Analysis:
        """Attach the evidence check to every item; unfound evidence is kept, and marked."""
        hay = normalise(doc.text)
        items: list[CheckedItem] = []
        for kind, field in KIND_FIELDS.items():
            for entry in getattr(out, field):
                data: dict[str, Any] = entry.model_dump()
                found, score = check(data.get("evidence", ""), doc.text, normalised_text=hay)
                items.append(CheckedItem(kind=kind, evidence_found=found, evidence_score=score, **data))
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


def recheck(analysis: Analysis, doc: Document) -> Analysis:
    """The same analysis for another (near-identical) text: evidence re-checked against that text."""
    hay = normalise(doc.text)
    items = []
    for item in analysis.items:
        found, score = check(item.evidence, doc.text, normalised_text=hay)
        items.append(item.model_copy(update={"evidence_found": found, "evidence_score": score}))
    return analysis.model_copy(
        update={
            "id": None,
            "text_hash": doc.text_hash,
            "language": doc.language,
            "items": items,
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
    )
    return Analyzer(client)


def _defang(text: str, boundary: str) -> str:
    """An article cannot close its own delimiter: marker look-alikes inside it are broken up."""
    return re.sub(r"<<<\s*(END\s+)?(ARTICLE|PARTS)", r"< < < \1\2", text, flags=re.I).replace(
        boundary, boundary[:6] + " " + boundary[6:]
    )
