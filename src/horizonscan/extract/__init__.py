"""HTML / PDF / text in, clean text + metadata + language out."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

from horizonscan.extract.language import detect_language
from horizonscan.models import Document, Origin

SUPPORTED_SUFFIXES = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
MIN_ARTICLE_CHARS = 300

_PAYWALL = re.compile(
    r"(subscribe (now )?to (continue|keep) reading|this (article|content) is (only )?(available )?"
    r"for (subscribers|members)|already a subscriber\?|abonnez-vous pour lire|réservé aux abonnés"
    r"|nur für abonnenten|jetzt abonnieren und weiterlesen|sign in to read the full)",
    re.I,
)
_ERROR_PAGE = re.compile(
    r"^(404|403|500|page not found|not found|access denied|forbidden|error\b|"
    r"please enable javascript|enable javascript and cookies|just a moment|attention required)",
    re.I,
)


class ExtractionError(Exception):
    """The input could not be turned into text; the message says why and what to do."""


def text_hash(text: str) -> str:
    """Identity of an article's text: whitespace-insensitive, so re-extractions match."""
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode("utf-8")).hexdigest()


def raw_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def kind_of(path: Path) -> str | None:
    return SUPPORTED_SUFFIXES.get(path.suffix.lower())


def sniff_kind(data: bytes, content_type: str | None = None) -> str | None:
    """Guess the kind of raw bytes from magic numbers, then the declared content type."""
    head = data[:1024].lstrip().lower()
    if data.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head or b"<head" in head:
        return "html"
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("text/html", "application/xhtml+xml"):
        return "html"
    if ct == "application/pdf":
        return "pdf"
    if ct in ("text/plain", "text/markdown", ""):
        return "text"
    return None


def quality_flags(text: str, *, min_chars: int = MIN_ARTICLE_CHARS) -> list[str]:
    """Reasons an extracted text is probably not an article (skipped unless --force)."""
    flags = []
    stripped = text.strip()
    if len(stripped) < min_chars:
        flags.append(f"too short ({len(stripped)} characters; an article has at least {min_chars})")
    if _PAYWALL.search(stripped[:3000]) and len(stripped) < 2500:
        flags.append("looks like a paywall stub")
    if _ERROR_PAGE.match(stripped[:200]) and len(stripped) < 1500:
        flags.append("looks like an error page")
    return flags


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "utf-8"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return str(best) if best is not None else data.decode("latin-1")


def _from_text(raw: str, markdown: bool) -> dict[str, Any]:
    text = raw.replace("\r\n", "\n").strip()
    title = None
    first, _, rest = text.partition("\n")
    candidate = first.strip().lstrip("#").strip().strip("_*").strip() if markdown else first.strip()
    if candidate and len(candidate) <= 200 and rest.strip():
        title = candidate
    return {"title": title, "text": text}


def _from_html(raw: bytes, url: str | None) -> dict[str, Any]:
    import trafilatura

    html = _decode(raw)
    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True, favor_recall=False
    )
    if doc is None:
        return {"text": ""}
    data: dict[str, Any] = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    return {
        "title": data.get("title"),
        "author": data.get("author"),
        "date": data.get("date"),
        "url": data.get("url") or url,
        "text": data.get("text") or "",
        "language": data.get("language"),
    }


def _from_pdf(raw: bytes) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:  # pypdf raises several types here
                raise ExtractionError("the PDF is encrypted; save an unlocked copy and retry") from exc
        pages = [(page.extract_text() or "") for page in reader.pages]
        meta = reader.metadata
    except PdfReadError as exc:
        raise ExtractionError(f"not a readable PDF ({exc}); check the file") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    title = str(meta.title).strip() if meta and meta.title else None
    author = str(meta.author).strip() if meta and meta.author else None
    date = meta.creation_date.date().isoformat() if meta and meta.creation_date else None
    if not text.strip():
        raise ExtractionError("the PDF has no text layer (scanned images?); OCR it first")
    return {"title": title, "author": author, "date": date, "text": text}


def extract_bytes(
    data: bytes,
    *,
    source: str,
    kind: str | None = None,
    url: str | None = None,
    content_type: str | None = None,
    origin: Origin | None = None,
) -> Document:
    kind = kind or sniff_kind(data, content_type)
    if kind is None:
        raise ExtractionError(
            f"unsupported content ({content_type or 'unknown type'}); "
            "horizonscan reads HTML, PDF, Markdown and plain text"
        )
    if kind == "html":
        fields = _from_html(data, url)
    elif kind == "pdf":
        fields = _from_pdf(data)
    else:
        fields = _from_text(_decode(data), markdown=(kind == "markdown"))
    text = (fields.get("text") or "").strip()
    if not text:
        raise ExtractionError(
            "no article text found in the page (empty, script-only or blocked); "
            "save the article as HTML or text and analyze the file"
        )
    return Document(
        source=source,
        url=fields.get("url") or url,
        title=fields.get("title") or None,
        author=fields.get("author") or None,
        date=fields.get("date") or None,
        language=detect_language(text) or fields.get("language"),
        text=text,
        text_hash=text_hash(text),
        raw_hash=raw_hash(data),
        content_type=kind,
        origin=origin,
        flags=quality_flags(text),
    )


def extract_file(path: Path, *, origin: Origin | None = None) -> Document:
    kind = kind_of(path)
    if kind is None:
        raise ExtractionError(
            f"unsupported file type {path.suffix or '(none)'}; "
            f"use one of {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExtractionError(f"cannot read the file: {exc.strerror}") from exc
    return extract_bytes(data, source=str(path), kind=kind, origin=origin)
