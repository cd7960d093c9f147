"""The JSON schema sent to providers, derived from the pydantic model so the two never drift.

Providers' strict modes (OpenAI `strict`, llama.cpp grammars) want a plain schema: every
property required, no extra properties, no titles. Keeping it bare also keeps the request small:
hosted providers receive it with every article. Field descriptions stay (short ones, written in
models.py): OpenAI strict mode and Anthropic accept them, and the model reads them.

For grammar-constrained local decoding the schema costs no prompt tokens, so it is made
stricter there: lengths are bounded, every list asks for at least one entry, and `evidence` is
an enum of the article's own sentences, so a small model cannot invent or translate a quote.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from horizonscan.models import MAX_SUMMARY_WORDS, AnalysisOutput

_DROP = {"title", "default"}
ITEM_LISTS = ("signals", "behaviors", "technologies", "issues")


def _clean(node: Any, defs: dict[str, Any] | None) -> Any:
    """Strip titles, defaults and docstrings; close objects; inline `$ref`s when `defs` is given."""
    if isinstance(node, dict):
        if "$ref" in node and defs is not None:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _clean(copy.deepcopy(defs[name]), defs)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP and not isinstance(value, dict):
                continue
            if key == "$defs":
                if defs is None:
                    out[key] = {k: _clean(v, None) for k, v in value.items()}
                continue
            if key == "properties":
                out[key] = {k: _clean(v, defs) for k, v in value.items()}
            else:
                out[key] = _clean(value, defs)
        if out.get("type") == "object" and "properties" in out:
            out.pop("description", None)  # a class docstring, written for developers
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        # Length and count limits are checked by pydantic and stated in the prompt; in the
        # schema sent with every request they would only cost tokens.
        for limit in ("minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum"):
            out.pop(limit, None)
        return out
    if isinstance(node, list):
        return [_clean(v, defs) for v in node]
    return node


@cache
def _schema_json(inline: bool) -> str:
    raw = AnalysisOutput.model_json_schema()
    if not inline:  # enums are used once: inline them, keep only the shared item shapes as refs
        defs = raw["$defs"]
        for prop in ("category", "type"):
            name = raw["properties"][prop]["$ref"].rsplit("/", 1)[-1]
            raw["properties"][prop] = defs.pop(name)
    return json.dumps(_clean(raw, raw.get("$defs", {}) if inline else None), separators=(",", ":"))


def analysis_schema(*, inline: bool = False) -> dict[str, Any]:
    """A fresh copy each time. Shared item shapes stay in `$defs` unless `inline`."""
    schema: dict[str, Any] = json.loads(_schema_json(inline))
    return schema


def constrained_schema(evidence_choices: list[str]) -> dict[str, Any]:
    """The stricter variant for grammar-constrained decoding (see module docstring)."""
    schema = analysis_schema(inline=True)
    props = schema["properties"]
    props["title"].update(minLength=10, maxLength=140)
    # A summary cut by this bound is trimmed to its complete sentences afterwards. Keep the bound
    # modest: llama.cpp expands {m,n} repetitions into rules, and very large bounds crash it.
    props["summary"].update(minLength=200, maxLength=MAX_SUMMARY_WORDS * 6)
    relevancy = {"type": "integer", "minimum": 0, "maximum": 5}
    props["keywords"].update(minItems=3, maxItems=8)
    props["keywords"]["items"].update(minLength=2, maxLength=40)
    props["themes"].update(minItems=2, maxItems=5)
    props["themes"]["items"].update(minLength=2, maxLength=40)
    for name in ITEM_LISTS:
        entry = props[name]
        entry.update(minItems=1, maxItems=4 if name == "signals" else 3)
        fields = entry["items"]["properties"]
        fields["name"].update(minLength=8, maxLength=60)
        fields["relevancy"] = dict(relevancy)
        for key in ("description", "change", "ten_year", "driving_force"):
            if key in fields:
                fields[key].update(minLength=12, maxLength=200)
        if evidence_choices:
            fields["evidence"] = {"type": "string", "enum": evidence_choices}
    return schema


def schema_fingerprint() -> str:
    """Both schemas as sent (the constrained one without its per-article evidence list): part of
    the prompt version, so a schema change never serves analyses made under the old one."""
    return _schema_json(False) + json.dumps(constrained_schema([]), sort_keys=True, separators=(",", ":"))
