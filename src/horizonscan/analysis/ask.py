"""Ask the corpus: one structured LLM call over the retrieved articles, every claim citing them.

Retrieval happens before (the web app's `asking.py`: full text and embeddings); this module
turns numbered sources into one request, and checks the answer: each claim must cite at least
one source, and only sources that were sent (a citation of anything else is re-asked, with the
problem stated). The model says `in_corpus: false` when the sources do not hold the answer,
so a question the corpus cannot answer is not answered from the model's own knowledge.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from importlib import resources

from horizonscan.analysis.promptset import DEFAULT_PROMPT_SET, build_prompt
from horizonscan.llm.base import ChatRequest, Message
from horizonscan.llm.client import LLMClient, LLMFailure
from horizonscan.llm.limits import BudgetExceeded
from horizonscan.models import AskAnswerClaim, AskOutput, AskResult, AskSource

MAX_OUTPUT_TOKENS = 1500
MAX_SUMMARY_CHARS = 900
MAX_ITEM_CHARS = 400
_REPAIR_MARK = "=== repair ==="

ASK_SCHEMA = {
    "type": "object",
    "properties": {
        "in_corpus": {
            "type": "boolean",
            "description": "false when the sources do not answer the question",
        },
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "description": "one statement that answers the question"},
                    "sources": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "numbers of the sources that support the statement",
                    },
                },
                "required": ["text", "sources"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["in_corpus", "claims"],
    "additionalProperties": False,
}


def load_ask_prompt(name: str = DEFAULT_PROMPT_SET) -> tuple[str, str, str]:
    """(prompt, repair prompt, version) from `prompts/<name>/ask.md`."""
    raw = (resources.files("horizonscan.analysis") / "prompts" / name / "ask.md").read_text(encoding="utf-8")
    prompt, _, repair = raw.partition(_REPAIR_MARK)
    version = f"ask-{name}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"
    return prompt.strip(), repair.strip() or "Your previous answer could not be used: {problem}.", version


def source_block(src: AskSource) -> str:
    """One numbered source as the model reads it."""
    head = f"[{src.number}] {src.title}"
    meta = ", ".join(x for x in (src.date, src.language) if x)
    lines = [f"{head} ({meta})" if meta else head]
    if src.summary:
        lines.append(f"Summary: {src.summary[:MAX_SUMMARY_CHARS]}")
    lines += [f"- {item[:MAX_ITEM_CHARS]}" for item in src.items]
    return "\n".join(line.replace("\n", " ") for line in lines)


def build_request(question: str, sources: Sequence[AskSource], template: str) -> ChatRequest:
    body = "\n\n".join(source_block(s) for s in sources)
    user = build_prompt(template, blocks={"question": question.strip(), "sources": body})
    return ChatRequest(
        system="You are a foresight analyst who answers only from the sources given. "
        "Answer with the JSON object only.",
        messages=[Message("user", user)],
        schema=ASK_SCHEMA,
        schema_name="answer",
        max_output_tokens=MAX_OUTPUT_TOKENS,
        temperature=0.1,
    )


def parse_answer(text: str, n_sources: int) -> AskOutput:
    """The model's JSON, with every citation checked against the sources sent (1..n_sources).

    Raises ValueError with a model-readable problem, so the client asks again once or twice.
    """
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fenced:
        body = fenced.group(1).strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("the answer contains no JSON object")
    try:
        out = AskOutput.model_validate(json.loads(body[start : end + 1]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from exc
    if not out.in_corpus:
        return out.model_copy(update={"claims": []})
    if not out.claims:
        raise ValueError('"in_corpus" is true but there are no claims; give claims, or set it to false')
    for n, claim in enumerate(out.claims, 1):
        if not claim.sources:
            raise ValueError(f"claim {n} cites no source; cite the number(s) of its source(s)")
        wrong = sorted({s for s in claim.sources if not 1 <= s <= n_sources})
        if wrong:
            raise ValueError(
                f"claim {n} cites {', '.join(map(str, wrong))}, which are not sources; "
                f"cite only sources 1 to {n_sources}"
            )
    return out


async def answer(
    client: LLMClient,
    question: str,
    sources: Sequence[AskSource],
    *,
    prompt_set: str = DEFAULT_PROMPT_SET,
) -> AskResult:
    """One call (none without sources). A failed call still returns the sources, with the error."""
    result = AskResult(question=question, sources=list(sources), model=client.provider.spec)
    if not sources:
        return result.model_copy(update={"in_corpus": False})
    template, repair, _version = load_ask_prompt(prompt_set)
    request = build_request(question, sources, template)
    by_number = {s.number: s for s in sources}
    numbers = sorted(by_number)
    try:
        out = await client.structured(
            request,
            lambda text: parse_answer(text, len(sources)),
            repair_prompt=repair,
            purpose="ask",
        )
    except (LLMFailure, BudgetExceeded) as exc:
        return result.model_copy(update={"error": str(exc)})
    claims = []
    for claim in out.claims:
        cited = sorted({numbers[s - 1] for s in claim.sources})
        claims.append(
            AskAnswerClaim(
                text=claim.text, sources=cited, article_ids=[by_number[s].article_id for s in cited]
            )
        )
    return result.model_copy(update={"in_corpus": out.in_corpus, "claims": claims})
