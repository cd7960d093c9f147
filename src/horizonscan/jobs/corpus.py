"""The corpus stage after every batch: signatures, stories and closest articles, then the pages,
story pages and index; and the optional story synthesis (one LLM call per story)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from horizonscan.analysis.analyzer import make_analyzer
from horizonscan.config import Settings
from horizonscan.llm.client import LLMFailure
from horizonscan.models import ArticleView
from horizonscan.publish.markdown import Neighbour
from horizonscan.publish.site import page_name, write_if_changed, write_index, write_pages
from horizonscan.publish.stories import StoryView, render_story, stories_index_lines, story_file
from horizonscan.similarity.cache import CachedEmbedder
from horizonscan.similarity.corpus import update_stories
from horizonscan.similarity.embed import get_embedder
from horizonscan.similarity.items import merge_items
from horizonscan.store import Store


@dataclass
class Published:
    pages: dict[int, Path]
    index: Path
    stories: list[StoryView]


def publish_corpus(
    store: Store,
    settings: Settings,
    *,
    prompt_version: str | None = None,
    model: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Published:
    """Similarity stage (signatures, stories, closest articles), then every page, story page and the index."""
    out = settings.out
    closest_map: dict[int, list[tuple[int, float]]] = {}
    story_views: list[StoryView] = []
    if settings.similarity:
        # One read of the corpus: the analyzed articles are the pages, all of them the stories'.
        by_id = {
            v.id: v
            for v in store.views.articles(only_analyzed=False, prompt_version=prompt_version, model=model)
        }
        views = [v for v in by_id.values() if v.status == "analyzed"]
    else:
        views = store.views.articles(prompt_version=prompt_version, model=model)
        by_id = {v.id: v for v in views}
    page_of = {v.id: page_name(v) for v in views if v.analysis}
    if settings.similarity and views:
        closest_map, stories = _similarity(store, settings, log)
        from horizonscan.trends import refresh_trends

        refresh_trends(store, settings, log=log)  # new items join their trends (incremental)
        story_views = build_story_views(store, stories, by_id)

    def closest(view: ArticleView) -> list[Neighbour]:
        out_list = []
        for other, score in closest_map.get(view.id, []):
            o = by_id.get(other)
            if o is None:
                continue
            title = o.analysis.title if o.analysis else (o.title or o.source)
            out_list.append(Neighbour(title, page_of.get(other), score, o.language, o.url))
        return out_list

    pages = write_pages(out, views, closest=closest)
    _write_story_pages(store, settings, story_views, page_of)
    index = write_index(out, views, sections=stories_index_lines(story_views))
    return Published(pages=pages, index=index, stories=story_views)


def _write_story_pages(
    store: Store, settings: Settings, story_views: list[StoryView], page_of: dict[int, str]
) -> None:
    """One page per story whose fingerprint changed; pages of stories that are gone removed."""
    story_dir = settings.out / "stories"
    wanted = {story_file(s.id) for s in story_views}
    if story_views:
        story_dir.mkdir(parents=True, exist_ok=True)
        # Item vectors are read back from the database (embedded as the analyses landed).
        item_embedder = CachedEmbedder(get_embedder(settings.embedder), store)
        for story in story_views:
            path = story_dir / story_file(story.id)
            if not (path.is_file() and story.fingerprint in path.read_text(encoding="utf-8")):
                story.merged = merge_items(story.items, embedder=item_embedder)
                write_if_changed(path, render_story(story, page_of))
    if story_dir.is_dir():
        for stale in story_dir.glob("story-*.md"):
            if stale.name not in wanted:
                stale.unlink()


def current_stories(
    store: Store, settings: Settings, *, log: Callable[[str], None] | None = None
) -> list[StoryView]:
    """The stories as they stand, for listing: grouping refreshed, but no page or index written
    (a listing changes nothing a user published)."""
    if not settings.similarity or not store.views.articles():
        return []
    _, stories = _similarity(store, settings, log)
    everyone = {v.id: v for v in store.views.articles(only_analyzed=False)}
    return build_story_views(store, stories, everyone)


def list_stories(
    store: Store,
    settings: Settings,
    *,
    single: bool = False,
    publish: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[StoryView]:
    """What `stories` lists: the stories of 2+ articles (with `single`, every story, one-article
    ones included), grouping refreshed. A listing writes nothing; with `publish` (new story
    titles were synthesized) the story pages and the index are rewritten, and no article page."""
    listed = current_stories(store, settings, log=log)
    if publish:
        everyone = {v.id: v for v in store.views.articles(only_analyzed=False)}
        views = [v for v in everyone.values() if v.status == "analyzed"]
        page_of = {v.id: page_name(v) for v in views if v.analysis}
        _write_story_pages(store, settings, listed, page_of)
        write_index(settings.out, views, sections=stories_index_lines(listed))
    if not single:
        return listed
    groups: dict[int, list[int]] = {}
    for article, story in sorted(store.stories.story_members().items()):
        groups.setdefault(story, []).append(article)
    everyone = {v.id: v for v in store.views.articles(only_analyzed=False)}
    return build_story_views(store, groups, everyone, min_size=1)


def _similarity(
    store: Store, settings: Settings, log: Callable[[str], None] | None
) -> tuple[dict[int, list[tuple[int, float]]], dict[int, list[int]]]:
    """Closest articles and stories; both are reused as they are while the corpus is unchanged."""
    import json

    from horizonscan.similarity.pairs import get_scorer

    threshold = settings.story_threshold if settings.story_threshold is not None else get_scorer().threshold
    corpus_key = hashlib.sha256(
        "".join(f"{a}:{h};" for a, h, _ in store.articles.articles_with_text()).encode()
        + f"{threshold:.6f}{settings.embedder}".encode()
    ).hexdigest()
    cached = store.meta.get("closest")
    if cached is not None:
        data = json.loads(cached)
        members = store.stories.story_members()
        if data.get("key") == corpus_key and members:
            stories: dict[int, list[int]] = {}
            for article, story in sorted(members.items()):
                stories.setdefault(story, []).append(article)
            return {int(k): [(int(a), float(s)) for a, s in v] for k, v in data["closest"].items()}, stories
    update = update_stories(
        store, threshold=settings.story_threshold, embedder=get_embedder(settings.embedder), log=log
    )
    closest = update.corpus.closest_all(k=5)
    store.meta.set("closest", json.dumps({"key": corpus_key, "closest": closest}))
    return closest, update.stories


def members_hash(article_ids: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, sorted(article_ids))).encode()).hexdigest()


def build_story_views(
    store: Store, stories: dict[int, list[int]], views: dict[int, ArticleView], *, min_size: int = 2
) -> list[StoryView]:
    """Stories with at least `min_size` articles, newest activity first, items merged."""
    out: list[StoryView] = []
    for story_id, members in stories.items():
        members_views = [views[a] for a in members if a in views]
        if len(members_views) < min_size:
            continue
        analyzed = [m for m in members_views if m.analysis is not None]
        items = [(m.id, item) for m in analyzed if m.analysis is not None for item in m.analysis.items]
        row = store.stories.story_row(story_id)
        synth = row if row is not None and row.members_hash == members_hash(members) else None
        title = (
            (synth.title if synth and synth.title else None)
            or (analyzed[0].analysis.title if analyzed and analyzed[0].analysis else members_views[0].title)
            or "Story"
        )
        parts = [*map(str, members), *(str(m.analysis.id) for m in analyzed if m.analysis)]
        if synth is not None:
            parts += [synth.title or "", synth.summary or ""]
        fingerprint = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
        out.append(
            StoryView(
                id=story_id,
                title=title,
                members=members_views,
                items=items,
                summary=synth.summary if synth else None,
                fingerprint=f"<!-- horizonscan story {fingerprint} -->",
            )
        )
    out.sort(key=lambda s: (-len(s.members), s.title.lower()))
    return out


async def synthesize_stories(
    store: Store, settings: Settings, *, log: Callable[[str], None] | None = None
) -> int:
    """One LLM call per story whose members changed since its last synthesis; returns how many."""
    from horizonscan.analysis.synthesis import story_prompt_version, synthesize_story
    from horizonscan.store.schema import StoryRow

    update = update_stories(
        store, threshold=settings.story_threshold, embedder=get_embedder(settings.embedder), log=log
    )
    views = {v.id: v for v in store.views.articles()}
    todo = []
    for story_id, members in update.stories.items():
        analyzed = [a for m in members if m in views and (a := views[m].analysis) is not None]
        row = store.stories.story_row(story_id)
        if len(analyzed) >= 2 and (row is None or row.members_hash != members_hash(members)):
            todo.append((story_id, members, analyzed))
    if not todo:
        return 0
    analyzer = make_analyzer(settings, log=log)
    client = analyzer.client
    client.on_call = lambda rec: store.ledger.record_calls([rec])
    version = story_prompt_version()
    done = 0
    try:
        for story_id, members, analyzed in todo:
            try:
                result = await synthesize_story(client, analyzed, repair_prompt=analyzer.prompts.repair)
            except LLMFailure as exc:
                if log:
                    log(f"story {story_id}: {exc}")
                continue
            store.stories.save_story_row(
                StoryRow(
                    id=story_id,
                    members_hash=members_hash(members),
                    title=result.title,
                    summary=result.summary,
                    model=client.provider.spec,
                    prompt_version=version,
                )
            )
            done += 1
    finally:
        await client.provider.aclose()
    return done
