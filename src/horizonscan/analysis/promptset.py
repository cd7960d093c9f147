"""Prompts as versioned files, and the one helper that builds every prompt around untrusted text.

The prompt version stored with every analysis is `v1-<hash>`. The hash covers what decides an
analysis: the prompt files, the JSON schema sent, and the validation and evidence rules
(VALIDATION_VERSION and the evidence module's source). Change any of them and new analyses never
mix with cached ones made under other rules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DEFAULT_PROMPT_SET = "v1"
# Bump when the validation of answers changes (models.py validators, the analyzer's checks, the
# local model's section calls): cached analyses made under the old rules are then not reused.
VALIDATION_VERSION = "2"


@dataclass(frozen=True)
class PromptSet:
    name: str
    system: str
    user: str
    repair: str  # re-ask after an unusable answer ({problem})
    reduce: str
    constrained: str  # added to the system prompt for grammar-constrained (small, local) models
    reground: str  # re-ask naming each item whose evidence was not found ({problems}, {language})
    sections: str  # the local model's per-section call ({section}, {least}, {most})
    pick: str  # the local model: a sentence of its own for an item whose sentence was taken ({item})
    refill: str  # the local model: a description, change and outlook of its own ({signal}, {others})
    taken: str  # the local model: a section asked again, its repeated names listed ({taken})
    story: str  # story synthesis ({analyses})

    @property
    def files_hash(self) -> str:
        return hashlib.sha256(
            "\0".join(
                (self.system, self.user, self.repair, self.reduce, self.constrained, self.reground,
                 self.sections, self.pick, self.refill, self.taken)
            ).encode()
        ).hexdigest()  # fmt: skip

    @property
    def version(self) -> str:
        """`v1-<hash>` of the prompt files, the schema, and the validation and evidence rules."""
        from horizonscan.analysis.schema import schema_fingerprint

        return rules_version(self.name, self.files_hash, schema_fingerprint(), VALIDATION_VERSION)


def _evidence_source() -> str:
    from horizonscan.analysis import evidence

    return Path(evidence.__file__).read_text(encoding="utf-8")


def rules_version(name: str, files_hash: str, schema_json: str, validation: str) -> str:
    """The reuse key's prompt part: any input changing makes a new version."""
    digest = hashlib.sha256(
        "\0".join((files_hash, schema_json, validation, _evidence_source())).encode()
    ).hexdigest()[:8]
    return f"{name}-{digest}"


def load_story_prompt(name: str = DEFAULT_PROMPT_SET) -> tuple[str, str]:
    """The story-synthesis prompt and its own version (kept apart so it never changes analyses')."""
    text = _read(name, "story.md")
    return text, f"story-{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _read(name: str, fname: str) -> str:
    return (
        (resources.files("horizonscan.analysis") / "prompts" / name / fname)
        .read_text(encoding="utf-8")
        .strip()
    )


PROMPT_FILES = (
    "system", "user", "repair", "reduce", "constrained", "reground", "sections", "pick", "refill", "taken",
    "story",
)  # fmt: skip


def load_prompts(name: str = DEFAULT_PROMPT_SET) -> PromptSet:
    return PromptSet(name, *(_read(name, f"{part}.md") for part in PROMPT_FILES))


# Runs of three or more angle brackets: what a marker starts and ends with.
_MARKER_LIKE = re.compile(r"<{3,}|>{3,}")


def defang(text: str, boundary: str) -> str:
    """Untrusted text cannot forge or close a marker: bracket runs and the boundary are broken up."""
    text = _MARKER_LIKE.sub(lambda m: " ".join(m.group(0)), text)
    return text.replace(boundary, f"{boundary[:6]} {boundary[6:]}")


def build_prompt(template: str, *, blocks: Mapping[str, str], **fields: str | int) -> str:
    """The ONE way a prompt with untrusted text is built (analysis, reduce, story synthesis, …).

    `blocks` maps a placeholder name to untrusted text (article text, titles, model output made
    from them): each goes between `<<<NAME boundary>>>` and `<<<END NAME boundary>>>` markers,
    whose boundary comes from a hash of all of them and which the text cannot forge. `fields` are
    our own short values (language names, counts) and must never carry article text; they are
    kept to one line.
    """
    boundary = hashlib.sha256("\0".join(blocks.values()).encode()).hexdigest()[:12]
    values: dict[str, str | int] = {}
    for key, value in fields.items():
        values[key] = re.sub(r"[\r\n]+", " ", value)[:300] if isinstance(value, str) else value
    for key, body in blocks.items():
        tag = key.upper()
        values[key] = f"<<<{tag} {boundary}>>>\n{defang(body, boundary)}\n<<<END {tag} {boundary}>>>"
    return template.format(**values)
