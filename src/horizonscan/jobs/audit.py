"""The audit log: every LLM call of an article with its prompt and raw answer (kept when the
`audit` setting is on), and re-validation of the stored answers with today's code, no LLM call.

So a bad analysis can be explained (what exactly was asked, what exactly came back, why it was
re-asked) and a change to the validation can be tried on real answers without paying again.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from horizonscan.analysis.analyzer import parse_output
from horizonscan.analysis.evidence import normalise, verify
from horizonscan.llm.client import describe_invalid
from horizonscan.models import KIND_FIELDS
from horizonscan.store import Store
from horizonscan.store.schema import CallRow

# Calls whose answer is an article analysis (the others, e.g. story synthesis, have their own shape).
ANALYSIS_PURPOSES = ("analyze", "analyze-part", "reduce")


class NoSuchArticle(LookupError):
    """The key matches no article in the database."""


def resolve_hashes(store: Store, key: str) -> list[str]:
    """Text hashes for an article id, a source (file path or URL) or a text hash (8+ hex chars)."""
    from horizonscan.sources.links import canonicalize_url

    candidates = [key]
    if key.lower().startswith(("http://", "https://")):
        candidates.append(canonicalize_url(key))
    elif not key.isdigit():
        path = Path(key).expanduser()
        if path.exists():
            candidates.append(str(path.resolve()))
    for candidate in candidates:
        rows = store.articles.find_articles(candidate)
        hashes = [r.text_hash for r in rows if r.text_hash]
        if rows:
            return list(dict.fromkeys(hashes))
    raise NoSuchArticle(f"no article matches {key!r}: give an article id, a source or a text hash")


def revalidate(row: CallRow, text: str | None, language: str | None) -> dict[str, Any]:
    """Today's parse and evidence check applied to a stored answer."""
    if row.purpose not in ANALYSIS_PURPOSES:
        return {"checked": False, "problem": f"a {row.purpose} call: not an article analysis"}
    if row.response is None:
        return {"checked": False, "problem": "no stored answer (the audit log was off for this call)"}
    try:
        out = parse_output(row.response)
    except (ValueError, ValidationError) as exc:
        return {"checked": True, "valid": False, "problem": describe_invalid(exc)}
    items: list[dict[str, Any]] = []
    hay = normalise(text) if text else None
    for kind, field in KIND_FIELDS.items():
        for entry in getattr(out, field):
            quote = str(getattr(entry, "evidence", "") or "")
            result = {"kind": kind, "name": entry.name, "evidence": quote}
            if text is not None and hay is not None:
                check = verify(quote, text, normalised_text=hay, text_language=language)
                result.update(found=check.found, score=check.score, note=check.note)
            items.append(result)
    found = sum(1 for i in items if i.get("found"))
    return {
        "checked": True,
        "valid": True,
        "problem": None,
        "items": len(items),
        "evidence_found": found if text is not None else None,
        "evidence_not_found": [i for i in items if text is not None and not i.get("found")],
    }


def entries(
    store: Store, key: str | None = None, *, last: int = 10, recheck: bool = False
) -> list[dict[str, Any]]:
    """The ledger rows for an article (all its calls) or the `last` calls, as plain dicts."""
    rows = (
        store.ledger.calls(text_hashes=resolve_hashes(store, key))
        if key is not None
        else store.ledger.calls(last=last)
    )
    texts = store.articles.texts(r.text_hash for r in rows if r.text_hash) if recheck else {}
    languages = _languages(store, texts) if recheck else {}
    out = []
    for r in rows:
        entry: dict[str, Any] = {
            "id": r.id,
            "created_at": r.created_at.isoformat() if r.created_at else None,
            "run_id": r.run_id,
            "provider": r.provider,
            "model": r.model,
            "purpose": r.purpose,
            "text_hash": r.text_hash,
            "attempt": r.attempt,
            "status": r.status,
            "error": r.error,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cost_usd": r.cost_usd,
            "latency_s": r.latency_s,
            "prompt": r.prompt,
            "response": r.response,
        }
        if recheck:
            text = texts.get(r.text_hash) if r.text_hash else None
            entry["revalidation"] = revalidate(r, text, languages.get(r.text_hash or ""))
        out.append(entry)
    return out


def _languages(store: Store, texts: dict[str, str]) -> dict[str, str | None]:
    wanted: Iterable[str] = texts.keys()
    out: dict[str, str | None] = {}
    for h in wanted:
        rows = store.articles.find_articles(h)
        out[h] = rows[0].language if rows else None
    return out
