"""What the trend commands share for their one LLM call: prompts, schema, parsing, citations.

Prompts live with the others (`analysis/prompts/v1/{trend_interpret,review,explore}.md`, a
`=== repair ===` section after the prompt) and are built with `promptset.build_prompt`, so every
piece of article-derived text sits between markers it cannot forge. Answers are validated with
pydantic; citations are then checked against the sources that were sent: a number that is not a
source is dropped from the point and reported on it, never shown as a reference.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

from pydantic import BaseModel

from horizonscan.analysis.promptset import DEFAULT_PROMPT_SET, build_prompt
from horizonscan.config import Settings
from horizonscan.llm.base import ChatRequest, Message
from horizonscan.models import CheckedPoint, CitedPoint, CitedSource, TrendConnection
from horizonscan.store import Store

M = TypeVar("M", bound=BaseModel)
REPAIR_MARK = "=== repair ==="
SYSTEM = (
    "You are a foresight analyst who works only from the sources given. Answer with the JSON object only."
)
_DROP = {"title", "default"}


def load_prompt(name: str, prompt_set: str = DEFAULT_PROMPT_SET) -> tuple[str, str, str]:
    """(prompt, repair prompt, version) of `prompts/<set>/<name>.md`."""
    raw = (resources.files("horizonscan.analysis") / "prompts" / prompt_set / f"{name}.md").read_text(
        encoding="utf-8"
    )
    prompt, _, repair = raw.partition(REPAIR_MARK)
    version = f"{name}-{prompt_set}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"
    return prompt.strip(), repair.strip() or "Your previous answer could not be used: {problem}.", version


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema as strict providers want it: refs inlined, every property
    required, no extra properties, no titles or defaults (descriptions kept: they guide)."""
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return clean(defs[node["$ref"].rsplit("/", 1)[-1]])
            out = {k: clean(v) for k, v in node.items() if k not in _DROP}
            if out.get("type") == "object" and "properties" in out:
                out.pop("description", None)  # a class docstring, for us, not the model
                out["required"] = list(out["properties"])
                out["additionalProperties"] = False
            for limit in ("minLength", "maxLength", "minItems", "maxItems"):
                out.pop(limit, None)
            return out
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    out: dict[str, Any] = clean(raw)
    return out


def parse_json(text: str, model: type[M]) -> M:
    """A model's JSON answer (optionally fenced or wrapped in prose), validated."""
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fenced:
        body = fenced.group(1).strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("the answer contains no JSON object")
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at char {exc.pos})") from exc
    return model.model_validate(data)


def request(
    name: str, model: type[BaseModel], *, blocks: dict[str, str], max_tokens: int = 1800, **fields: str | int
) -> tuple[ChatRequest, str, str]:
    """(request, repair prompt, prompt version) for prompt `name` with these blocks and fields."""
    template, repair, version = load_prompt(name)
    user = build_prompt(template, blocks=blocks, **fields)
    req = ChatRequest(
        system=SYSTEM,
        messages=[Message("user", user)],
        schema=strict_schema(model),
        schema_name=name,
        max_output_tokens=max_tokens,
        temperature=0.2,
    )
    return req, repair, version


async def call(
    store: Store,
    settings: Settings,
    req: ChatRequest,
    parse: Callable[[str], M],
    repair: str,
    *,
    purpose: str,
    log: Callable[[str], None] | None = None,
) -> tuple[M, str]:
    """One structured call with the configured provider, every attempt in the ledger.
    Returns the parsed answer and the model spec. Raises LLMFailure / BudgetExceeded."""
    from horizonscan.analysis.analyzer import make_analyzer

    client = make_analyzer(settings, log=log).client
    client.on_call = lambda rec: store.ledger.record_calls([rec])
    try:
        value = await client.structured(req, parse, repair_prompt=repair, purpose=purpose)
    finally:
        await client.provider.aclose()
    return value, client.provider.spec


def check_points(points: Sequence[CitedPoint], n_sources: int) -> list[CheckedPoint]:
    """Keep the citations that name a source (1..n_sources); report the others as dropped."""
    out = []
    for p in points:
        good = sorted({c for c in p.cites if 1 <= c <= n_sources})
        bad = sorted({c for c in p.cites if not 1 <= c <= n_sources})
        out.append(CheckedPoint(text=p.text, cites=good, dropped=bad))
    return out


def check_connections(
    links: Sequence[TrendConnection], n_sources: int, trend_ids: set[int]
) -> list[CheckedPoint]:
    """Connections must name a trend that was offered; the others are dropped entirely."""
    out = []
    for link in links:
        if link.trend_id not in trend_ids:
            continue
        point = check_points([CitedPoint(text=link.text, cites=link.cites)], n_sources)[0]
        out.append(point.model_copy(update={"trend_id": link.trend_id}))
    return out


def source_lines(src: CitedSource, summary: str, items: Sequence[str]) -> str:
    """One numbered source as the model reads it (all of it inside a data block)."""
    meta = ", ".join(x for x in (src.date.date().isoformat() if src.date else None, src.site) if x)
    lines = [f"[{src.number}] {src.title}" + (f" ({meta})" if meta else "")]
    if summary:
        lines.append(f"Summary: {summary[:700]}")
    lines += [f"- {it[:400]}" for it in items]
    return "\n".join(line.replace("\n", " ") for line in lines)


def input_hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()
