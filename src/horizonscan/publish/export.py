"""Exports for spreadsheets and data tools: one row per item (CSV, Parquet) or nested JSON."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from horizonscan.store.repo import ArticleView

FORMATS = ("json", "csv", "parquet")


def nested(views: Sequence[ArticleView]) -> list[dict[str, Any]]:
    out = []
    for v in views:
        if v.analysis is None:
            continue
        a = v.analysis
        out.append(
            {
                "article_id": v.id,
                "source": v.source,
                "url": v.url,
                "origin": v.origin.model_dump() if v.origin else None,
                "language": a.language,
                "model": a.model,
                "prompt_version": a.prompt_version,
                "schema_version": a.schema_version,
                "title": a.title,
                "summary": a.summary,
                "keywords": a.keywords,
                "themes": a.themes,
                "category": a.category,
                "type": a.type,
                "chunks": a.chunks,
                "created_at": a.created_at.isoformat() if a.created_at else None,
                "items": [i.model_dump() for i in a.items],
            }
        )
    return out


def flat(views: Sequence[ArticleView]) -> list[dict[str, Any]]:
    """One row per item, with the article's fields repeated: what a pivot table wants."""
    rows = []
    for art in nested(views):
        base = {k: v for k, v in art.items() if k not in ("items", "origin")}
        base["keywords"] = "; ".join(art["keywords"])
        base["themes"] = "; ".join(art["themes"])
        base["origin_label"] = (art["origin"] or {}).get("label")
        base["origin_url"] = (art["origin"] or {}).get("url")
        for item in art["items"] or [{}]:
            rows.append({**base, **{f"item_{k}": v for k, v in item.items()}})
    return rows


def export(views: Sequence[ArticleView], fmt: str, path: Path | None) -> str | None:
    """Write to `path` (or return text for stdout, json/csv only)."""
    if fmt == "json":
        text = json.dumps(nested(views), ensure_ascii=False, indent=2)
    elif fmt == "csv":
        rows = flat(views)
        import io

        buf = io.StringIO()
        columns = list(rows[0]) if rows else ["article_id"]
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    elif fmt == "parquet":
        if path is None:
            raise ValueError("parquet needs --output FILE")
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(flat(views)), path)
        return None
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if path is None:
        return text
    path.write_text(text, encoding="utf-8")
    return None
