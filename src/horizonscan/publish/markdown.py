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
# The seed page's columns, in its order, with STEEP+V, horizon and the evidence status added
# before the relevancy, which stays last (right-aligned) as in the seed.
SIGNAL_COLUMNS = (
    "name", "description", "change", "10-year", "driving-force",
    "dimension", "horizon", "evidence", "relevancy",
)  # fmt: skip
ITEM_COLUMNS = ("name", "description", "dimension", "evidence", "relevancy")
FOUND_MARK = "✓"
PICKED_MARK = "picked"
NOT_FOUND_MARK = "⚠ not found"

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


def evidence_mark(item: CheckedItem) -> str:
    """The evidence cell: a checked quote, a sentence the model picked from a list, or a warning."""
    if not item.evidence_found:
        return NOT_FOUND_MARK
    mark = PICKED_MARK if item.evidence_mode == "picked" else FOUND_MARK
    return f"{mark} ⚠" if item.problems else mark


def evidence_line(item: CheckedItem) -> str:
    """One bullet of the Evidence list: the quote, what the check found, and any other problem."""
    if not item.evidence_found:
        status = f"⚠ NOT found in the text ({item.evidence_note or 'not verbatim'})"
    elif item.evidence_mode == "picked":
        status = "sentence chosen from the article by the model (not a quote it wrote)"
    else:
        status = "verified quote, found in the text"
    others = [p for p in item.problems if not p.startswith(("evidence not found", "no evidence"))]
    extra = f"; ⚠ {'; '.join(others)}" if others else ""
    return f"* {inline(item.name)} ({item.kind}): “{inline(item.evidence)}” — {inline(status + extra)}"


def _items_table(items: list[CheckedItem]) -> str:
    return table(
        ITEM_COLUMNS,
        [(i.name, i.description, i.dimension or "", evidence_mark(i), str(i.relevancy)) for i in items],
    )


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
    if analysis.reused_from is not None:
        other.append(f"Reused from article {analysis.reused_from} (a near-duplicate; quotes re-checked here)")
    if analysis.items and not analysis.of_kind("signal"):
        other.append("⚠ No signal was found in this article")
    unfound = sum(1 for i in analysis.items if not i.evidence_found)
    if unfound:
        other.append(f"⚠ Evidence not found in the text for {unfound} of {len(analysis.items)} items")
    bullets("Other", other)
    if analysis.summary.strip():
        out += ["## Summary", "", inline(analysis.summary), ""]
    signals = analysis.of_kind("signal")
    if signals:
        rows = [
            (
                s.name, s.description, s.change or "", s.ten_year or "", s.driving_force or "",
                s.dimension or "", s.horizon or "", evidence_mark(s), str(s.relevancy),
            )
            for s in signals
        ]  # fmt: skip
        out += ["## Signals", "", table(SIGNAL_COLUMNS, rows), ""]
    for heading, kind in ITEM_SECTIONS:
        items = analysis.of_kind(kind)
        if items:
            out += [f"## {heading}", "", _items_table(items), ""]
    quoted = [i for i in analysis.items if i.evidence.strip()]
    if quoted:
        out += ["## Evidence", ""]
        out.extend(evidence_line(i) for i in quoted)
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
