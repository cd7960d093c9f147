"""Prompts as versioned files: edit a file here, and the prompt version (stored with every
analysis) changes, so new analyses never mix with cached ones made from another prompt."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

DEFAULT_PROMPT_SET = "v1"


@dataclass(frozen=True)
class PromptSet:
    name: str
    system: str
    user: str
    repair: str
    reduce: str
    constrained: str  # added to the system prompt for grammar-constrained (small, local) models

    @property
    def version(self) -> str:
        """`v1-<hash>`: the folder name plus a hash of the files' text."""
        digest = hashlib.sha256(
            "\0".join((self.system, self.user, self.repair, self.reduce, self.constrained)).encode()
        ).hexdigest()[:8]
        return f"{self.name}-{digest}"


def load_story_prompt(name: str = DEFAULT_PROMPT_SET) -> tuple[str, str]:
    """The story-synthesis prompt and its own version (kept apart so it never changes analyses')."""
    text = (resources.files("horizonscan.analysis") / "prompts" / name / "story.md").read_text(
        encoding="utf-8"
    )
    return text.strip(), f"story-{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def load_prompts(name: str = DEFAULT_PROMPT_SET) -> PromptSet:
    root = resources.files("horizonscan.analysis") / "prompts" / name

    def read(fname: str) -> str:
        return (root / fname).read_text(encoding="utf-8").strip()

    return PromptSet(
        name, read("system.md"), read("user.md"), read("repair.md"), read("reduce.md"), read("constrained.md")
    )
