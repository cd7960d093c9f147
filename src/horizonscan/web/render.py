"""Jinja2 rendering shared by the web app and the static site.

Autoescaping is on for every template, and no template marks content `|safe`: article and model
text is hostile. The only Markup built here is the search snippet, escaped first and then given
<mark> tags for the matched words. Links go through `Linker`, so the same templates produce
absolute paths for the server and relative file links for the static site; external links pass
`safe_url` (http(s) only) and carry rel="noopener noreferrer nofollow".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from horizonscan.extract.language import language_name
from horizonscan.models import Dimension, Horizon
from horizonscan.publish.markdown import safe_url
from horizonscan.store.search import MARK_END, MARK_START

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
EXTERNAL_REL = "noopener noreferrer nofollow"

DIMENSIONS = [d.value for d in Dimension]
HORIZONS = [h.value for h in Horizon]
HORIZON_LABELS = {"H1": "H1 · 0–3 years", "H2": "H2 · 3–7 years", "H3": "H3 · 7–10+ years"}
KIND_LABELS = {"signal": "Signals", "behavior": "Behaviors", "technology": "Technologies", "issue": "Issues"}


class Linker:
    """URLs of the web app (absolute paths)."""

    static_site = False

    def home(self, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return "/" + (f"?{query}" if query else "")

    def filter(self, **params: Any) -> str | None:
        """The articles list narrowed by one value (no such list on the static site)."""
        return self.home(**params)

    def article(self, article_id: int) -> str:
        return f"/articles/{int(article_id)}"

    def stories(self) -> str:
        return "/stories"

    def story(self, story_id: int) -> str:
        return f"/stories/{int(story_id)}"

    def trends(self, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return "/trends" + (f"?{query}" if query else "")

    def trend(self, trend_id: int | str) -> str:
        return f"/trends/{quote(str(trend_id), safe='')}"

    def radar(self, ring: str | None = None) -> str:
        return "/radar" + (f"?ring={quote(ring)}" if ring else "")

    def radar_svg(self, ring: str = "status") -> str:
        return f"/radar.svg?ring={quote(ring)}"

    def timeline(self, trend_id: int) -> str:
        return f"/trends/{int(trend_id)}/timeline.svg"

    def review(self) -> str | None:
        return "/review"

    def explore(self) -> str | None:
        return "/explore"

    def ask(self) -> str | None:
        return "/ask"

    def usage(self) -> str | None:
        return "/usage"

    def api_docs(self) -> str | None:
        return "/api/docs"

    def static(self, name: str) -> str:
        return f"/static/{name}"

    def feed(self) -> str | None:
        return None


class StaticLinker(Linker):
    """Relative links between the files of the static site, from a page `depth` folders down."""

    static_site = True

    def __init__(self, depth: int = 0) -> None:
        self.prefix = "../" * depth

    def home(self, **params: Any) -> str:
        return f"{self.prefix}index.html"

    def filter(self, **params: Any) -> str | None:
        return None

    def article(self, article_id: int) -> str:
        return f"{self.prefix}articles/{int(article_id)}.html"

    def stories(self) -> str:
        return f"{self.prefix}stories/index.html"

    def story(self, story_id: int) -> str:
        return f"{self.prefix}stories/{int(story_id)}.html"

    def trends(self, **params: Any) -> str:
        return f"{self.prefix}trends/index.html"

    def trend(self, trend_id: int | str) -> str:
        return f"{self.prefix}trends/{quote(str(trend_id), safe='')}.html"

    def radar(self, ring: str | None = None) -> str:
        return f"{self.prefix}radar.html" if ring in (None, "status") else f"{self.prefix}radar-{ring}.html"

    def radar_svg(self, ring: str = "status") -> str:
        return f"{self.prefix}radar-{ring}.svg"

    def timeline(self, trend_id: int) -> str:
        return f"{self.prefix}trends/{int(trend_id)}-timeline.svg"

    def review(self) -> str | None:
        return None

    def explore(self) -> str | None:
        return None

    def ask(self) -> str | None:
        return None

    def usage(self) -> str | None:
        return None

    def api_docs(self) -> str | None:
        return None

    def static(self, name: str) -> str:
        return f"{self.prefix}static/{name}"

    def feed(self) -> str | None:
        return f"{self.prefix}feed.xml"

    def pagefind(self, name: str) -> str:
        return f"{self.prefix}pagefind/{name}"


def highlight(snippet: str | None) -> Markup:
    """An FTS5 snippet: escaped, then its match markers turned into <mark> elements."""
    safe = escape(snippet or "")
    return Markup(str(safe).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def chip(link: Linker, label: str, params: Mapping[str, Any], cls: str = "") -> Markup:
    """A filter chip, built in Python: a list page has hundreds, and a macro call each is slow.
    Every value is escaped here, as autoescaping would."""
    return _chip(link.static_site, label, tuple(params.items()), cls)


@lru_cache(maxsize=8192)
def _chip(static: bool, label: str, params: tuple[tuple[str, Any], ...], cls: str) -> Markup:
    url = None if static else Linker().filter(**dict(params))  # no filtered lists on a static site
    klass = escape(f"chip {cls}".strip())
    if url:
        return Markup(f'<a class="{klass}" href="{escape(url)}">{escape(label)}</a>')
    return Markup(f'<span class="{klass}">{escape(label)}</span>')


def card_chips(link: Linker, hit: Any, themes: int = 5) -> Markup:
    """The chips of an article card: STEEP+V dimensions, horizons, then its first themes."""
    parts = [chip(link, d, {"dimension": d}, f"dim dim-{d}") for d in hit.dimensions]
    parts += [chip(link, h, {"horizon": h}, "hz") for h in hit.horizons]
    parts += [chip(link, t, {"theme": t}, "theme") for t in hit.themes[:themes]]
    return Markup(" ").join(parts)


def external_url(url: str | None) -> str | None:
    return safe_url(url)


def fmt_date(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)[:16]


def fmt_money(value: Any) -> str:
    v = float(value or 0.0)
    return f"${v:,.4f}" if v < 100 else f"${v:,.2f}"


def fmt_int(value: Any) -> str:
    return f"{int(value or 0):,}".replace(",", " ")


def paragraphs(text: str | None) -> list[str]:
    """An article's text as paragraphs (blank lines), for the original-text section."""
    return [p.strip() for p in (text or "").replace("\r\n", "\n").split("\n\n") if p.strip()]


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        highlight=highlight,
        language_name=language_name,
        external_url=external_url,
        fmt_date=fmt_date,
        money=fmt_money,
        num=fmt_int,
        paragraphs=paragraphs,
    )
    env.globals.update(
        card_chips=card_chips,
        DIMENSIONS=DIMENSIONS,
        HORIZONS=HORIZONS,
        HORIZON_LABELS=HORIZON_LABELS,
        KIND_LABELS=KIND_LABELS,
        EXTERNAL_REL=EXTERNAL_REL,
    )
    return env


def render(env: Environment, name: str, context: Mapping[str, Any]) -> str:
    return env.get_template(name).render(**context)
