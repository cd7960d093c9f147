"""Exports for spreadsheets and data tools: one row per item (CSV, Parquet) or nested JSON.

Every item carries its STEEP+V dimension, horizon and evidence status ("found", "picked",
"NOT FOUND") with the reason and any other problem, and every article says which article's
analysis it reuses, so nothing the pages mark is lost in an export.

CSV cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
carriage return) get a leading apostrophe; JSON and Parquet keep the values as they are.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from horizonscan.models import ArticleView, CheckedItem, Curation, CurationMarks, item_key

FORMATS = ("json", "csv", "parquet")


def nested(views: Sequence[ArticleView], curation: CurationMarks | None = None) -> list[dict[str, Any]]:
    """`curation`: the team's stars, hidden flags, notes and reviews, exported with what they mark."""
    out = []
    art_cur = curation.articles if curation is not None else {}
    item_cur = curation.items if curation is not None else {}
    for v in views:
        if v.analysis is None:
            continue
        a = v.analysis
        ac = art_cur.get(v.id, Curation())
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
                "reused_from": a.reused_from,
                "created_at": a.created_at.isoformat() if a.created_at else None,
                "starred": ac.starred,
                "hidden": ac.hidden,
                "note": ac.note,
                "items": [
                    {
                        **i.model_dump(),
                        "evidence_status": evidence_status(i),
                        **item_cur.get((v.id, item_key(i.kind, i.name)), Curation()).as_dict(item=True),
                    }
                    for i in a.items
                ],
            }
        )
    return out


def flat(views: Sequence[ArticleView], curation: CurationMarks | None = None) -> list[dict[str, Any]]:
    """One row per item, with the article's fields repeated: what a pivot table wants."""
    rows = []
    for art in nested(views, curation):
        base = {k: v for k, v in art.items() if k not in ("items", "origin")}
        base["keywords"] = "; ".join(art["keywords"])
        base["themes"] = "; ".join(art["themes"])
        base["origin_label"] = (art["origin"] or {}).get("label")
        base["origin_url"] = (art["origin"] or {}).get("url")
        for item in art["items"] or [{}]:
            fields = {**item, "problems": "; ".join(item.get("problems") or [])}
            rows.append({**base, **{f"item_{k}": v for k, v in fields.items()}})
    return rows


def evidence_status(item: CheckedItem) -> str:
    """'found' (a verified quote), 'picked' (a sentence a constrained model chose) or 'NOT FOUND'."""
    if not item.evidence_found:
        return "NOT FOUND"
    return "picked" if item.evidence_mode == "picked" else "found"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate as a formula is made inert with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export(
    views: Sequence[ArticleView], fmt: str, path: Path | None, *, curation: CurationMarks | None = None
) -> str | None:
    """Write to `path` (or return text for stdout, json/csv only)."""
    if fmt == "json":
        text = json.dumps(nested(views, curation), ensure_ascii=False, indent=2)
    elif fmt == "csv":
        rows = flat(views, curation)
        import io

        buf = io.StringIO()
        # Every row's columns, in first-seen order: an article without items has fewer.
        columns = list(dict.fromkeys(k for row in rows for k in row)) or ["article_id"]
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: neutralise(v) for k, v in row.items()} for row in rows)
        text = buf.getvalue()
    elif fmt == "parquet":
        if path is None:
            raise ValueError("parquet needs --output FILE")
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(flat(views, curation)), path)
        return None
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if path is None:
        return text
    path.write_text(text, encoding="utf-8")
    return None
