"""`horizonscan site OUT/`: the web app's pages as static files, for GitHub Pages or any host.

The same templates as the web app, rendered with relative links (`StaticLinker`), so the site
works from any folder or sub-path, and from the disk. Curation decides what is published:
hidden articles and items are left out, stars and notes are shown. Added: an Atom feed of the
newest analyses (feedgen) and a client-side search index (pagefind, whose binary ships in the
`pagefind[bin]` wheel and runs offline). Everything is escaped by the templates' autoescaping.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from horizonscan.config import Settings
from horizonscan.store import Store
from horizonscan.store.search import ArticleFilter, DocHit, ResultPage
from horizonscan.web.data import WebData
from horizonscan.web.render import STATIC, StaticLinker, external_url, make_env
from horizonscan.web.trends_view import TrendsView

MARKER = ".horizonscan-site"
PER_PAGE = 50
FEED_ENTRIES = 50
ASSETS = ("app.css", "app.js", "favicon.svg", "site.js")
PAGEFIND_TIMEOUT = 600


class SiteError(Exception):
    """The site cannot be written where asked."""


@dataclass
class BuiltSite:
    articles: int
    stories: int
    trends: int
    searchable: bool
    feed: Path


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SiteError(
            f"{out} is not empty and was not written by `horizonscan site`: choose an empty or new folder"
        )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _visible_hits(data: WebData) -> list[DocHit]:
    """Every article that is not hidden, newest first."""
    hits: list[DocHit] = []
    offset = 0
    while True:
        page = data.search.search(ArticleFilter(sort="newest"), limit=500, offset=offset)
        hits += page.hits
        offset += len(page.hits)
        if not page.hits or not page.has_more:
            return hits


def build_site(
    store: Store,
    settings: Settings,
    out: Path,
    *,
    base_url: str | None = None,
    search: bool = True,
    log: Callable[[str], None] | None = None,
) -> BuiltSite:
    out = out.expanduser()
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by horizonscan site\n", encoding="utf-8")
    (out / ".nojekyll").write_text("", encoding="utf-8")
    base = external_url(base_url.rstrip("/") + "/") if base_url else None
    if base_url and base is None:
        raise SiteError("--base-url must be an http(s) URL")
    env = make_env()
    data = WebData(store)
    data.search.sync()
    trends = TrendsView(store, settings)

    def render(name: str, depth: int, **context: Any) -> str:
        return env.get_template(name).render(
            link=StaticLinker(depth), static_site=True, csrf="", here="", nav=context.pop("nav", ""),
            title=context.pop("title", "horizonscan"), **context,
        )  # fmt: skip

    hits = _visible_hits(data)
    facets = data.search.facets()
    # Lists: index.html, index-2.html, …
    pages = max(1, -(-len(hits) // PER_PAGE))
    for n in range(1, pages + 1):
        chunk = hits[(n - 1) * PER_PAGE : n * PER_PAGE]
        name = "index.html" if n == 1 else f"index-{n}.html"
        _write(
            out / name,
            render(
                "articles.html", 0, title="Articles", nav="articles",
                result=ResultPage(chunk, len(hits), (n - 1) * PER_PAGE, PER_PAGE), facets=facets,
                f=ArticleFilter(), active={}, page_number=n, pages=pages,
                prev_url=(None if n == 1 else ("index.html" if n == 2 else f"index-{n - 1}.html")),
                next_url=f"index-{n + 1}.html" if n < pages else None,
            ),
        )  # fmt: skip
    _prune(out, "index-*.html", {f"index-{n}.html" for n in range(2, pages + 1)})

    written: set[str] = set()
    feed_rows: list[tuple[datetime, Any]] = []
    for h in hits:
        detail = data.article_page(h.article_id)
        if detail is None:
            continue
        detail.trends = trends.trends_of_article(h.article_id)
        name = f"{h.article_id}.html"
        _write(
            out / "articles" / name,
            render("article.html", 1, title=detail.analysis.title, nav="articles", a=detail),
        )
        written.add(name)
        feed_rows.append((detail.analysis.created_at or datetime(1970, 1, 1), detail))
    _prune(out / "articles", "*.html", written)

    stories = data.stories()
    story_names: set[str] = set()
    _write(
        out / "stories" / "index.html",
        render("stories.html", 1, title="Stories", nav="stories", stories=stories),
    )
    story_names.add("index.html")
    for s in stories:
        detail_s = data.story_page(s.id)
        if detail_s is None:
            continue
        name = f"{s.id}.html"
        _write(
            out / "stories" / name, render("story.html", 1, title=detail_s.title, nav="stories", s=detail_s)
        )
        story_names.add(name)
    _prune(out / "stories", "*.html", story_names)

    trend_count = _write_trends(out, trends, render)
    _write(out / "404.html", render("error.html", 0, title="Not found", status=404, message="No such page."))
    for asset in ASSETS:
        src = STATIC / asset
        if src.is_file():
            (out / "static").mkdir(exist_ok=True)
            shutil.copyfile(src, out / "static" / asset)
    feed = _write_feed(out, feed_rows, base, log)
    searchable = _pagefind(out, log) if search else False
    return BuiltSite(len(written), len(story_names) - 1, trend_count, searchable, feed)


def _write_trends(out: Path, trends: TrendsView, render: Callable[..., str]) -> int:
    listing = trends.listing()
    _write(out / "trends" / "index.html", render("trends.html", 1, title="Trends", nav="trends", t=listing,
                                                status=None, dimension=None))  # fmt: skip
    names = {"index.html"}
    for t in listing.trends:
        detail = trends.trend(t.id)
        if detail is None:
            continue
        name = f"{t.id}.html"
        _write(out / "trends" / name, render("trend.html", 1, title=detail.view.name, nav="trends", t=detail))
        names.add(name)
        svg = trends.timeline_svg(t.id)
        if svg is not None:
            (out / "trends" / f"{t.id}-timeline.svg").write_bytes(svg)
            names.add(f"{t.id}-timeline.svg")
    _prune(out / "trends", "*", names)
    for ring, page in (("status", "radar.html"), ("horizon", "radar-horizon.html")):
        _write(out / page, render("radar.html", 0, title="Radar", nav="radar", r=trends.radar(ring=ring)))
        svg = trends.radar_svg(ring=ring)
        if svg is not None:
            (out / f"radar-{ring}.svg").write_bytes(svg)
        else:
            (out / f"radar-{ring}.svg").unlink(missing_ok=True)
    return len(names) - 1


def _prune(folder: Path, pattern: str, keep: set[str]) -> None:
    """Files of an earlier build that this one did not write (a hidden or removed article)."""
    if not folder.is_dir():
        return
    for path in folder.glob(pattern):
        if path.is_file() and path.name not in keep:
            path.unlink()


def _write_feed(
    out: Path, rows: list[tuple[datetime, Any]], base: str | None, log: Callable[[str], None] | None
) -> Path:
    """Atom feed of the newest analyses; links are absolute with --base-url, else relative to
    the feed (which sits at the site's root, so they resolve the same)."""
    from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]

    fg = FeedGenerator()
    root = base or "./"
    fg.id(base or "urn:horizonscan:site")
    fg.title("horizonscan: new analyses")
    fg.subtitle("English foresight pages from articles in any language")
    fg.link(href=root, rel="alternate")
    if base:
        fg.link(href=f"{base}feed.xml", rel="self")
    fg.language("en")
    rows = sorted(rows, key=lambda r: (r[0], r[1].view.id), reverse=True)[:FEED_ENTRIES]
    newest = rows[0][0] if rows else datetime(1970, 1, 1)
    fg.updated(_utc(newest))
    for created, detail in reversed(rows):
        a = detail.analysis
        entry = fg.add_entry()
        entry.id(f"{base}articles/{detail.view.id}.html#analysis-{a.id}" if base else
                 f"urn:horizonscan:analysis:{a.text_hash[:16]}:{a.id}")  # fmt: skip
        entry.title(a.title)
        entry.link(href=f"{root}articles/{detail.view.id}.html", rel="alternate")
        entry.summary(a.summary)
        entry.updated(_utc(created))
        entry.published(_utc(created))
        for theme in a.themes[:6]:
            entry.category(term=theme)
    path = out / "feed.xml"
    fg.atom_file(str(path), pretty=True)
    if log and not base:
        log("feed.xml links are relative: pass --base-url https://… for absolute ones")
    return path


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _pagefind(out: Path, log: Callable[[str], None] | None) -> bool:
    """Build the search index with pagefind (offline binary from the `pagefind[bin]` wheel)."""
    cmd = [sys.executable, "-m", "pagefind", "--site", str(out), "--output-subdir", "pagefind"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PAGEFIND_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        if log:
            log(f"search index not built: {exc}")
        return False
    if proc.returncode != 0:
        if log:
            log(f"search index not built: pagefind said {(proc.stderr or proc.stdout).strip()[-400:]}")
        return False
    return (out / "pagefind" / "pagefind-ui.js").is_file()
