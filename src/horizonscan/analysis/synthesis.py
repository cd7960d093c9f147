"""Story synthesis (`stories --synthesize`): one call per story for a merged title and summary.

Its prompt lives with the others (prompts/v1/story.md) and is built by the same delimited-prompt
helper: the member analyses are model output made from untrusted articles, so they go between
markers the text cannot forge.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from horizonscan.analysis.promptset import build_prompt, load_story_prompt
from horizonscan.llm.base import ChatRequest, Message
from horizonscan.llm.client import LLMClient
from horizonscan.models import Analysis, StorySynthesis

STORY_SYSTEM = "You are a foresight analyst. Answer with the JSON object only."
STORY_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "summary": {"type": "string"}},
    "required": ["title", "summary"],
    "additionalProperties": False,
}


def story_prompt_version() -> str:
    return load_story_prompt()[1]


def story_request(analyses: Sequence[Analysis]) -> ChatRequest:
    """The request that merges the member analyses of one story."""
    template, _ = load_story_prompt()
    lines = "\n".join(
        json.dumps({"title": a.title, "summary": a.summary, "language": a.language}, ensure_ascii=False)
        for a in analyses
    )
    return ChatRequest(
        system=STORY_SYSTEM,
        messages=[Message("user", build_prompt(template, blocks={"analyses": lines}))],
        schema=dict(STORY_SCHEMA),
        schema_name="story",
        max_output_tokens=800,
    )


def parse_story(text: str) -> StorySynthesis:
    return StorySynthesis.model_validate_json(text)


async def synthesize_story(
    client: LLMClient, analyses: Sequence[Analysis], *, repair_prompt: str
) -> StorySynthesis:
    """One story's merged title and summary: one structured call (re-asked like any analysis)."""
    return await client.structured(
        story_request(analyses), parse_story, repair_prompt=repair_prompt, purpose="story"
    )
