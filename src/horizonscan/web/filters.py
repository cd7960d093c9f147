"""Query parameters → an ArticleFilter; values that make no sense are dropped, never an error."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from horizonscan.store.search import ArticleFilter, CurationFilter, Evidence, Sort
from horizonscan.web.render import DIMENSIONS, HORIZONS

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_QUERY_CHARS = 300
MAX_VALUE_CHARS = 200


def _text(params: Mapping[str, Any], name: str, limit: int = MAX_VALUE_CHARS) -> str | None:
    value = params.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()[:limit]
    return value or None


def parse_filter(params: Mapping[str, Any]) -> ArticleFilter:
    dimension = _text(params, "dimension")
    horizon = _text(params, "horizon")
    evidence = _text(params, "evidence")
    curation = _text(params, "curation")
    sort = _text(params, "sort")
    relevancy = _text(params, "min_relevancy")
    date_from = _text(params, "date_from")
    date_to = _text(params, "date_to")
    return ArticleFilter(
        q=_text(params, "q", MAX_QUERY_CHARS) or "",
        category=_text(params, "category"),
        theme=_text(params, "theme"),
        dimension=dimension.lower() if dimension and dimension.lower() in DIMENSIONS else None,
        horizon=horizon.upper() if horizon and horizon.upper() in HORIZONS else None,
        language=_text(params, "language"),
        origin=_text(params, "origin"),
        min_relevancy=int(relevancy) if relevancy and relevancy.isdigit() and int(relevancy) <= 5 else None,
        date_from=date_from if date_from and _DATE.match(date_from) else None,
        date_to=date_to if date_to and _DATE.match(date_to) else None,
        evidence=cast(Evidence, evidence) if evidence in ("found", "missing") else None,
        curation=cast(CurationFilter, curation)
        if curation in ("starred", "noted", "hidden", "all")
        else None,
        sort=cast(Sort, sort) if sort in ("relevance", "newest", "oldest") else None,
    )


def page_number(params: Mapping[str, Any]) -> int:
    raw = params.get("page")
    if isinstance(raw, str) and raw.isdigit():
        return max(1, min(int(raw), 10_000))
    return 1


def local_path(value: str | None, default: str) -> str:
    """A redirect target from a form: only a path on this site (no scheme, host or `//`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ch in value for ch in "\r\n\t"):
        return default
    return value
