"""Write pages and the index into the output folder; only changed files are rewritten."""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from horizonscan.extract.language import language_name
from horizonscan.models import ArticleView
from horizonscan.publish.markdown import Neighbour, inline, render_page, slugify

_PAGE_ID = re.compile(r"-\d+\.md$")


def page_name(view: ArticleView) -> str:
    title = view.analysis.title if view.analysis else (view.title or "article")
    return f"{slugify(title)}-{view.id}.md"


def write_if_changed(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    # A hidden temporary name of this process and thread: two runs publishing into the same
    # folder never rename each other's half-written file, and folder walks never pick it up.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


def write_pages(
    out_dir: Path,
    views: Sequence[ArticleView],
    *,
    closest: Callable[[ArticleView], Sequence[Neighbour]] | None = None,
) -> dict[int, Path]:
    """Write one page per analyzed article; returns article id → page path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[int, Path] = {}
    existing: dict[str, list[str]] = {}  # "-<id>.md" → file names, from one directory listing
    for entry in os.scandir(out_dir):
        m = _PAGE_ID.search(entry.name)
        if m:
            existing.setdefault(m.group(0), []).append(entry.name)
    for view in views:
        if view.analysis is None:
            continue
        name = page_name(view)
        path = out_dir / name
        for stale in existing.get(f"-{view.id}.md", []):
            if stale != name:
                (out_dir / stale).unlink(missing_ok=True)  # the title changed: drop the old page
        text = render_page(
            view.analysis,
            url=view.url,
            origin=view.origin,
            source=view.source,
            closest=closest(view) if closest else (),
        )
        write_if_changed(path, text)
        paths[view.id] = path
    return paths


def write_index(out_dir: Path, views: Sequence[ArticleView], *, sections: Sequence[str] = ()) -> Path:
    """`index.md`: `sections` (e.g. stories) first, then every page grouped by category.

    An existing index is never replaced by an empty one: a database with no analyses (a wrong
    --db, a run where everything failed) must not wipe the list of pages someone published.
    """
    groups: dict[str, list[ArticleView]] = defaultdict(list)
    for v in views:
        if v.analysis is not None:
            groups[v.analysis.category].append(v)
    path = out_dir / "index.md"
    if not groups and path.is_file():
        return path
    lines = ["# horizonscan index", "", f"{sum(len(g) for g in groups.values())} articles.", "", *sections]
    for category in sorted(groups):
        lines += [f"## {category.capitalize()}", ""]
        for v in sorted(groups[category], key=lambda v: (v.analysis.title if v.analysis else "").lower()):
            assert v.analysis is not None
            extra = [language_name(v.analysis.language)]
            if v.origin is not None:
                extra.append(f"from {inline(v.origin.label)}")
            lines.append(f"* [{inline(v.analysis.title)}]({page_name(v)}) — {', '.join(extra)}")
        lines.append("")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_if_changed(path, "\n".join(lines).rstrip() + "\n")
    return path
