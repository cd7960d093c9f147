"""Reading error answers the way servers really write them, for every provider.

Servers disagree on shapes (OpenAI `{"error": {"message", "type", "param", "code"}}`, Anthropic
`{"type": "error", "error": {"type", "message"}}`, FastAPI/pydantic `{"detail": [{"loc": …}]}`,
llama-cpp-python's HTTP 500 wrapping a pydantic validation error in `message`) and on statuses,
so decisions look at the fields that name the cause (`param`, `code`, `type`, a validation
`loc`), never at loose words such as "json" in a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from horizonscan.redact import scrub as scrub_secrets
from horizonscan.retry import parse_retry_after


def scrub(message: str, secret: str = "") -> str:
    """Never let a key or URL secret reach a log, a page or the database; keep messages short."""
    return scrub_secrets(message, [secret] if secret else [])[:500]


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """`retry-after-ms`, then `Retry-After` (seconds or an HTTP date): the project's one parser."""
    return parse_retry_after(headers)


@dataclass
class ErrorInfo:
    """The parts of an error answer that say what went wrong."""

    message: str = ""
    type: str = ""
    code: str = ""
    param: str = ""
    locs: tuple[tuple[str, ...], ...] = ()  # validation error locations (FastAPI / pydantic)
    text: str = ""  # the whole body as text, for the audit log

    def names(self, field: str) -> bool:
        """True when the error is about request field `field` (param, validation loc, or message)."""
        if self.param == field or self.param.startswith((f"{field}.", f"{field}[")):
            return True
        if any(field in loc for loc in self.locs):
            return True
        # A pydantic error rendered into a message: ('body', 'response_format', 'type')
        return bool(re.search(rf"\(\s*'body',\s*'{re.escape(field)}'", self.message)) or bool(
            re.search(rf"\"loc\":\s*\[\s*\"body\",\s*\"{re.escape(field)}\"", self.message)
        )


def error_info(body: Any, fallback: str = "") -> ErrorInfo:
    """Parse an SDK's `exc.body` (dict, str or None) into an ErrorInfo."""
    data: Any = body
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
    info = ErrorInfo(text=_as_text(body) or fallback)
    if not isinstance(data, dict):
        info.message = (info.text or fallback)[:2000]
        return info
    err = data.get("error", data)
    if isinstance(err, dict):
        info.message = str(err.get("message") or "")
        info.type = str(err.get("type") or "")
        info.code = str(err.get("code") or "")
        info.param = str(err.get("param") or "")
    elif isinstance(err, str):
        info.message = err
    detail = data.get("detail")
    if isinstance(detail, list):
        locs = []
        for entry in detail:
            if isinstance(entry, dict) and isinstance(entry.get("loc"), list):
                locs.append(tuple(str(p) for p in entry["loc"]))
        info.locs = tuple(locs)
        if not info.message:
            info.message = json.dumps(detail)[:2000]
    elif isinstance(detail, str) and not info.message:
        info.message = detail
    if not info.message:
        info.message = (info.text or fallback)[:2000]
    return info


def _as_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    if isinstance(body, str):
        return body
    try:
        return json.dumps(body, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(body)


_CONTEXT_PATTERNS = (
    re.compile(r"maximum context length is (\d+)", re.I),  # OpenAI, vLLM
    re.compile(r"available context size \((\d+) tokens\)", re.I),  # llama.cpp server
    re.compile(r"context window of (\d+)", re.I),
    re.compile(r"tokens? > (\d+) maximum", re.I),  # Anthropic: prompt is too long: N tokens > M maximum
    re.compile(r"exceed(?:s|ed)? (?:the )?context (?:window|length)(?: of)? \(?(\d+)", re.I),
)


def context_limit(message: str) -> int | None:
    """The context window a context-length error names, if it names one."""
    for pattern in _CONTEXT_PATTERNS:
        m = pattern.search(message)
        if m:
            return int(m.group(1))
    return None


def is_context_error(info: ErrorInfo) -> bool:
    if info.code in ("context_length_exceeded", "string_above_max_length"):
        return True
    low = info.message.lower()
    return (
        "context length" in low
        or "context_length" in low
        or "context size" in low
        or "prompt is too long" in low
        or "context window" in low
    ) and context_limit(info.message) is not None
