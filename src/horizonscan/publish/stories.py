"""Story pages: one event told by several articles, possibly in several languages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from horizonscan.extract.language import language_name
from horizonscan.models import ArticleView, CheckedItem
from horizonscan.publish.markdown import ITEM_SECTIONS, inline, safe_url, table
from horizonscan.similarity.items import MergedItem

# A story merges several articles' items: their quotes stay on the article pages, so the
# evidence column gives way to the sources (the numbered articles that reported each item).
STORY_SIGNAL_COLUMNS = (
    "name", "description", "change", "10-year", "driving-force",
    "dimension", "horizon", "sources", "relevancy",
)  # fmt: skip
STORY_ITEM_COLUMNS = ("name", "description", "dimension", "sources", "relevancy")


@dataclass
class StoryView:
    id: int
    title: str
    members: list[ArticleView]  # first-seen order
    items: list[tuple[int, CheckedItem]]  # (article id, item) of every member
    summary: str | None = None  # from `stories --synthesize`
    # Written into the page: an unchanged story (same members, analyses, synthesis) is not redone.
    fingerprint: str = ""
    merged: list[MergedItem] = field(default_factory=list)  # filled when the page is rendered

    @property
    def languages(self) -> list[str]:
        seen: list[str] = []
        for m in self.members:
            name = language_name(m.language)
            if name not in seen:
                seen.append(name)
        return seen


def story_file(story_id: int) -> str:
    return f"story-{story_id}.md"


def render_story(story: StoryView, page_of: dict[int, str]) -> str:
    """`page_of`: article id → page file name (relative to the pages folder)."""
    out = [
        f"# __{inline(story.title)}__",
        "",
        f"{len(story.members)} articles in {len(story.languages)} languages ({', '.join(story.languages)}).",
        "",
        "## Sources",
        "",
    ]
    for n, m in enumerate(story.members, 1):
        title = m.analysis.title if m.analysis else (m.title or m.source)
        link = f"[{inline(title)}](../{page_of[m.id]})" if m.id in page_of else inline(title)
        extra = [language_name(m.language)]
        if m.origin is not None:
            extra.append(f"from {inline(m.origin.label)}")
        url = safe_url(m.url)
        if url:
            extra.append(f"[original]({url})")
        out.append(f"{n}. {link} — {', '.join(extra)}")
    out.append("")
    if story.summary:
        out += ["## Summary", "", inline(story.summary), ""]
    index = {m.id: i + 1 for i, m in enumerate(story.members)}

    def refs(mi: MergedItem) -> str:
        return ", ".join(str(index[a]) for a in mi.sources if a in index)

    signals = [m for m in story.merged if m.item.kind == "signal"]
    if signals:
        rows: list[tuple[str, ...]] = [
            (
                m.item.name,
                m.item.description,
                m.item.change or "",
                m.item.ten_year or "",
                m.item.driving_force or "",
                m.item.dimension or "",
                m.item.horizon or "",
                refs(m),
                str(m.item.relevancy),
            )
            for m in signals
        ]
        out += ["## Signals", "", table(STORY_SIGNAL_COLUMNS, rows), ""]
    for heading, kind in ITEM_SECTIONS:
        items = [m for m in story.merged if m.item.kind == kind]
        if items:
            rows = [
                (m.item.name, m.item.description, m.item.dimension or "", refs(m), str(m.item.relevancy))
                for m in items
            ]
            out += [f"## {heading}", "", table(STORY_ITEM_COLUMNS, rows), ""]
    if story.fingerprint:
        out += [story.fingerprint, ""]
    return "\n".join(out).rstrip() + "\n"


def stories_index_lines(stories: Sequence[StoryView]) -> list[str]:
    if not stories:
        return []
    lines = ["## Stories", ""]
    for s in stories:
        lines.append(
            f"* [{inline(s.title)}](stories/{story_file(s.id)}) — {len(s.members)} articles: "
            f"{', '.join(s.languages)}"
        )
    return [*lines, ""]
