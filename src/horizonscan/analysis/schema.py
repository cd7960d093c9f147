"""The JSON schema sent to providers, derived from the pydantic model so the two never drift.

Providers' strict modes (OpenAI `strict`, llama.cpp grammars) want a plain schema: every
property required, no extra properties, no `$ref`, no titles. Keeping it bare also keeps the
request small: it is sent with every article.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from horizonscan.models import AnalysisOutput

_DROP = {"title", "default", "description"}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _inline(copy.deepcopy(defs[name]), defs)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP and not isinstance(value, dict):
                continue
            if key == "$defs":
                continue
            if key == "properties":
                out[key] = {k: _inline(v, defs) for k, v in value.items()}
            else:
                out[key] = _inline(value, defs)
        if out.get("type") == "object" and "properties" in out:
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        # Length limits on strings are checked by pydantic; in the schema they only cost tokens.
        if out.get("type") == "string":
            out.pop("minLength", None)
            out.pop("maxLength", None)
        return out
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@cache
def _schema_json() -> str:
    raw = AnalysisOutput.model_json_schema()
    return json.dumps(_inline(raw, raw.get("$defs", {})))


def analysis_schema() -> dict[str, Any]:
    """A fresh copy each time, so callers may not corrupt the cached one."""
    schema: dict[str, Any] = json.loads(_schema_json())
    return schema
