"""Render one analysis as a Markdown page in the layout of the seed page (see README).

Every string here comes from an article or a model, so all of it is treated as hostile: cells
cannot break a table (pipes escaped, newlines folded), text cannot open HTML tags, headings or
links, and only http(s) URLs become links.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from horizonscan.extract.language import language_name
from horizonscan.models import Analysis, CheckedItem, ItemKind, Origin

ITEM_SECTIONS: tuple[tuple[str, ItemKind], ...] = (
    ("Behaviors", "behavior"),
    ("Technologies", "technology"),
    ("Issues", "issue"),
)
SIGNAL_COLUMNS = ("name", "description", "change", "10-year", "driving-force", "relevancy")
ITEM_COLUMNS = ("name", "description", "relevancy")

_SPACES = re.compile(r"\s+")
# Control, format (zero-width, bidi overrides), surrogate and private-use characters.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\ud800-\udfff\ue000-\uf8ff]"
)
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]|<>#])")


def inline(text: str | None) -> str:
    """One line of safe Markdown text: whitespace folded, markup characters escaped."""
    text = _CONTROL.sub("", _SPACES.sub(" ", text or "").strip())
    text = text.replace("&", "&amp;")
    text = _INLINE_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)), text)
    return text


def safe_url(url: str | None) -> str | None:
    """Only absolute http(s) URLs, with characters that could end the link encoded."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=":/?#@!$&*+,;=%~-._")


def table(columns: Sequence[str], rows: Sequence[Sequence[str]], numeric_last: bool = True) -> str:
    """A pipe table padded like the seed page; the last column (relevancy) right-aligned."""
    cells = [[inline(c) for c in row] for row in rows]
    widths = [max([len(col)] + [len(r[i]) for r in cells]) for i, col in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        out = []
        for i, v in enumerate(values):
            right = numeric_last and i == len(values) - 1
            out.append(v.rjust(widths[i]) if right else v.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = []
    for i, w in enumerate(widths):
        right = numeric_last and i == len(widths) - 1
        sep.append(("-" * (w + 1) + ":") if right else (":" + "-" * (w + 1)))
    return "\n".join([line(columns), "|" + "|".join(sep) + "|", *(line(r) for r in cells)])


@dataclass
class Neighbour:
    title: str
    page: str | None  # our page, when the article was analyzed
    score: float
    language: str | None = None
    url: str | None = None


def _items_table(items: list[CheckedItem]) -> str:
    return table(ITEM_COLUMNS, [(i.name, i.description, str(i.relevancy)) for i in items])


def render_page(
    analysis: Analysis,
    *,
    url: str | None = None,
    origin: Origin | None = None,
    source: str | None = None,
    closest: Sequence[Neighbour] = (),
) -> str:
    title_line = f"# __{inline(analysis.title)}__"
    if origin is not None:
        o_url = safe_url(origin.url)
        label = inline(origin.label)
        title_line += f", from ([{label}]({o_url}).)" if o_url else f", from ({label}.)"
    out = [title_line, ""]
    link = safe_url(url)
    if link:
        out += [f"__[External link]({link})__", ""]
    out += ["", ""]

    def bullets(heading: str, values: Sequence[str]) -> None:
        if values:
            out.extend([f"## {heading}", "", *(f"* {inline(v)}" for v in values), ""])

    bullets("Keywords", analysis.keywords)
    bullets("Themes", analysis.themes)
    lang = analysis.language
    other = [
        f"Category: {analysis.category}",
        f"Type: {analysis.type}",
        f"Language: {language_name(lang)}" + (f" ({lang})" if lang else ""),
    ]
    bullets("Other", other)
    if analysis.summary.strip():
        out += ["## Summary", "", inline(analysis.summary), ""]
    signals = analysis.of_kind("signal")
    if signals:
        rows = [
            (s.name, s.description, s.change or "", s.ten_year or "", s.driving_force or "", str(s.relevancy))
            for s in signals
        ]
        out += ["## Signals", "", table(SIGNAL_COLUMNS, rows), ""]
    for heading, kind in ITEM_SECTIONS:
        items = analysis.of_kind(kind)
        if items:
            out += [f"## {heading}", "", _items_table(items), ""]
    quoted = [i for i in analysis.items if i.evidence.strip()]
    if quoted:
        out += ["## Evidence", ""]
        for i in quoted:
            mark = "found in the text" if i.evidence_found else "NOT found in the text"
            out.append(f"* {inline(i.name)} ({i.kind}): “{inline(i.evidence)}” — {mark}")
        out.append("")
    if closest:
        out += ["## Closest", ""]
        for n in closest:
            name = inline(n.title)
            url = safe_url(n.url)
            target = f"[{name}]({quote(n.page)})" if n.page else (f"[{name}]({url})" if url else name)
            lang = f", {language_name(n.language)}" if n.language else ""
            out.append(f"* {target} ({n.score:.2f}{lang})")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def slugify(text: str, limit: int = 60) -> str:
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", norm).strip("-").lower()
    return slug[:limit].rstrip("-") or "article"
