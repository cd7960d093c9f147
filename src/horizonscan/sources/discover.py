"""Turn a source (newsletter issue, Substack archive, feed, sitemap, OPML, URL list, folder)
into the article links it points at, each with the origin it was found in.

Origins matter downstream: a foresight page cites where a signal was spotted, so every
``FoundLink`` keeps the issue/feed title and URL it came from. Links are canonicalised,
deduplicated within one discovery, and filtered by ``links.classify_link`` (skipped links
are reported with their reason rather than silently dropped).

Source kinds (``detect_source_kind``): ``issue`` (a newsletter issue or any HTML page: links
in its body), ``archive`` (Substack-style ``/archive``), ``feed`` (RSS/Atom), ``sitemap``
(urlset or sitemap index), ``opml`` (a list of feeds), ``url_list`` (text, one URL a line,
``#`` comments), ``email`` (a saved ``.eml`` newsletter), ``pdf`` (the source is itself an
article), ``folder`` (a local directory: its ``.html/.htm/.pdf/.txt/.md`` files are articles,
given as ``file://`` URLs; ``.eml``, ``.opml``, feed files and URL lists inside it are expanded).
"""

from __future__ import annotations

import calendar
import email
import email.policy
import email.utils
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import feedparser
import lxml.etree
import lxml.html

from .fetch import Fetcher, FetchError, FetchResult, sniff_kind
from .links import canonicalize_url, classify_link, same_site

__all__ = ["DiscoveryResult", "FoundLink", "detect_source_kind", "discover", "extract_issue"]

_ARTICLE_SUFFIXES = {".html", ".htm", ".pdf", ".txt", ".md"}
_LIST_SUFFIXES = {".urls", ".list"}
_FEED_SUFFIXES = {".rss", ".atom", ".xml"}


@dataclass(slots=True)
class FoundLink:
    """An article link and where it was found (``published`` is the entry's or the issue's date)."""

    url: str
    origin_label: str
    origin_url: str
    published: datetime | None = None
    title: str | None = None


@dataclass(slots=True)
class DiscoveryResult:
    """Links found in one source, plus what failed or was skipped, and refresh validators."""

    source: str
    kind: str
    links: list[FoundLink] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    title: str | None = None


class _Collector:
    """Canonicalises, dedupes, classifies and caps the links of one discovery."""

    def __init__(self, result: DiscoveryResult, limit: int | None, since: datetime | None) -> None:
        self.result = result
        self.limit = limit
        self.since = since
        self.seen: set[str] = set()

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.result.links) >= self.limit

    def too_old(self, when: datetime | None) -> bool:
        return self.since is not None and when is not None and when < self.since

    def add(
        self,
        url: str,
        *,
        origin_label: str,
        origin_url: str,
        published: datetime | None = None,
        title: str | None = None,
        source_url: str | None = None,
        classify: bool = True,
    ) -> None:
        if self.full:
            return
        canon = canonicalize_url(url)
        if canon in self.seen:
            return
        self.seen.add(canon)
        reason = classify_link(canon, source_url=source_url) if classify else None
        if not classify and urlsplit(canon).scheme not in ("http", "https", "file"):
            reason = f"not a web link ({urlsplit(canon).scheme or 'relative'})"
        if reason:
            self.result.skipped.append((canon, reason))
            return
        self.result.links.append(FoundLink(canon, origin_label, origin_url, published, _clean(title)))


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def _aware(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    text = text.strip()
    try:
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    try:
        return _aware(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError):
        return None


def _is_web(s: str) -> bool:
    return s.lower().startswith(("http://", "https://"))


def _local_path(source: str) -> Path | None:
    if source.lower().startswith("file://"):
        return Path(unquote(urlsplit(source).path))
    if _is_web(source):
        return None
    p = Path(source).expanduser()
    return p if p.exists() else None


# --------------------------------------------------------------------------- kind detection


def _xml_root(body: bytes) -> str:
    m = re.search(
        rb"<([A-Za-z][\w:.-]*)[\s>/]",
        re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", body[:8192], flags=re.S),
    )
    return m.group(1).decode("ascii", "replace").split(":")[-1].lower() if m else ""


def _looks_like_url_list(text: str) -> bool:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and sum(_is_web(ln.split()[0]) for ln in lines) >= max(1, len(lines) * 0.5)


def detect_source_kind(url_or_path: str, body: bytes | None = None, content_type: str | None = None) -> str:
    """Guess the source kind from its body if given, else from the path or URL shape."""
    local = _local_path(url_or_path)
    path = str(local) if local is not None else urlsplit(url_or_path).path
    lpath = path.lower().rstrip("/")
    if body is None and local is not None:
        if local.is_dir():
            return "folder"
        suffix = local.suffix.lower()
        if suffix == ".eml":
            return "email"
        if suffix == ".opml":
            return "opml"
        if suffix in _LIST_SUFFIXES:
            return "url_list"
        body = local.read_bytes()[:65536]
    if body is None:
        if lpath.endswith("/archive"):
            return "archive"
        if lpath.endswith(".opml"):
            return "opml"
        if "sitemap" in lpath.rsplit("/", 1)[-1]:
            return "sitemap"
        if lpath.endswith((".rss", ".atom", "/feed", "/rss", "/atom", ".xml", "/feed.xml", "/rss.xml")):
            return "feed"
        if lpath.endswith(".pdf"):
            return "pdf"
        if lpath.endswith((".txt", ".urls")):
            return "url_list"
        return "issue"
    kind, _mime = sniff_kind(body, content_type or "")
    if kind == "xml":
        root = _xml_root(body)
        if root in ("urlset", "sitemapindex"):
            return "sitemap"
        if root == "opml":
            return "opml"
        return "feed"
    if kind == "pdf":
        return "pdf"
    if kind == "html":
        return "archive" if lpath.endswith("/archive") else "issue"
    if kind == "text":
        if body.lstrip()[:1] in (b"[", b"{"):
            return "json"
        return "url_list" if _looks_like_url_list(body.decode("utf-8", "replace")) else "text"
    return "unknown"


# --------------------------------------------------------------------------- HTML issues

_CONTAINERS = [
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' available-content ')]",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' body ')"
    " and contains(concat(' ', normalize-space(@class), ' '), ' markup ')]",
    "//article",
    "//main",
    "//*[@role='main']",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' post-content ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' entry-content ')"
    " or @id='content']",
]
_DROP_TAGS = ("nav", "footer", "header", "aside", "form", "script", "style", "noscript", "button", "template")
_DROP_TOKENS = (
    "subscribe",
    "subscription",
    "share",
    "social",
    "footer",
    "comment",
    "navbar",
    "menu",
    "byline",
    "post-meta",
    "paywall",
    "cookie",
    "signup",
    "sign-up",
    "breadcrumb",
    "sidebar",
)


def _meta(doc: Any, *names: str) -> str | None:
    for name in names:
        for el in doc.xpath(f"//meta[@property='{name}' or @name='{name}']"):
            content = el.get("content")
            if content and content.strip():
                return str(content).strip()
    return None


def _strip_chrome(root: Any) -> None:
    for el in list(root.iter()):
        if not isinstance(el.tag, str) or el is root:
            continue
        marker = f"{el.get('class', '')} {el.get('id', '')}".lower()
        if el.tag in _DROP_TAGS or any(tok in marker for tok in _DROP_TOKENS):
            parent = el.getparent()
            if parent is not None:
                parent.remove(el)


def extract_issue(
    body: bytes, base_url: str
) -> tuple[str | None, datetime | None, list[tuple[str, str | None]]]:
    """Return ``(title, published, [(absolute_url, anchor_text)])`` for a newsletter/HTML page.

    Links are taken from the post body (Substack ``.available-content``/``.body.markup``, else
    ``article``/``main``/known content classes, else ``<body>``) after removing navigation,
    headers, footers, share and subscribe widgets.
    """
    try:
        doc = lxml.html.document_fromstring(body)
    except (lxml.etree.ParserError, ValueError):
        return None, None, []
    base = base_url
    for b in doc.xpath("//base[@href]"):
        base = urljoin(base_url, b.get("href").strip())
    if not _is_web(base):
        canon = doc.xpath("//link[@rel='canonical']/@href") or [_meta(doc, "og:url") or ""]
        if canon and _is_web(str(canon[0])):
            base = str(canon[0])
    title = _meta(doc, "og:title", "twitter:title")
    if not title:
        for xp in ("//h1[contains(@class, 'post-title')]", "//h1", "//title"):
            els = doc.xpath(xp)
            if els and els[0].text_content().strip():
                title = els[0].text_content().strip()
                break
    published = _parse_date(_meta(doc, "article:published_time", "datePublished", "date"))
    if published is None:
        times = doc.xpath("//time[@datetime]/@datetime")
        published = _parse_date(str(times[0])) if times else None
    container = None
    for xp in _CONTAINERS:
        found = doc.xpath(xp)
        if found:
            container = found[0]
            break
    if container is None:
        container = doc.find("body") if doc.find("body") is not None else doc
    _strip_chrome(container)
    links: list[tuple[str, str | None]] = []
    for a in container.xpath(".//a[@href]"):
        href = a.get("href", "").strip()
        if not href or href.startswith("#"):
            continue
        text = _clean(a.text_content()) or _clean(a.get("title"))
        links.append((urljoin(base, href), text))
    return _clean(title), published, links


# --------------------------------------------------------------------------- the discoverer


class _Discovery:
    def __init__(
        self,
        source: str,
        fetcher: Fetcher,
        since: datetime | None,
        limit: int | None,
        origin_label: str | None,
    ) -> None:
        self.fetcher = fetcher
        self.label = origin_label
        self.result = DiscoveryResult(source=source, kind="unknown")
        self.col = _Collector(self.result, limit, _aware(since))

    def error(self, where: str, reason: str) -> None:
        self.result.errors.append((where, reason))

    async def fetch(self, url: str) -> FetchResult | None:
        try:
            return await self.fetcher.fetch(url)
        except FetchError as exc:
            self.error(url, exc.reason)
            return None

    # -- dispatch

    async def run_remote(self, url: str, etag: str | None, last_modified: str | None) -> None:
        try:
            res = await self.fetcher.fetch(url, etag=etag, last_modified=last_modified)
        except FetchError as exc:
            self.error(url, exc.reason)
            return
        self.result.etag, self.result.last_modified = res.etag, res.last_modified
        if res.not_modified:
            self.result.not_modified = True
            return
        await self.dispatch(res.final_url, res.body, res.content_type)

    async def dispatch(self, url: str, body: bytes, content_type: str = "", *, depth: int = 0) -> None:
        kind = detect_source_kind(url, body, content_type)
        if self.result.kind == "unknown":
            self.result.kind = kind
        if kind == "issue":
            self.issue(url, body)
        elif kind == "archive":
            await self.archive(url, body)
        elif kind == "feed":
            self.feed(url, body, self.label)
        elif kind == "sitemap":
            await self.sitemap(url, body, depth)
        elif kind == "opml":
            await self.opml(url, body)
        elif kind == "url_list":
            self.url_list(url, body.decode("utf-8", "replace"))
        elif kind in ("pdf", "text"):
            self.col.add(url, origin_label=self.label or url, origin_url=url, classify=False)
        else:
            self.error(url, f"cannot discover links in a {kind} source")

    # -- kinds

    def issue(
        self,
        url: str,
        body: bytes,
        *,
        label: str | None = None,
        published: datetime | None = None,
        fallback: str | None = None,
    ) -> None:
        title, date, links = extract_issue(body, url)
        self.result.title = self.result.title or title
        # The issue's own title names it best; the archive's anchor text is the fallback.
        origin = label or self.label or title or fallback or url
        when = date or published
        for href, text in links:
            self.col.add(
                href, origin_label=origin, origin_url=url, published=when, title=text, source_url=url
            )

    async def archive(self, url: str, body: bytes) -> None:
        parts = urlsplit(url)
        issues: list[tuple[str, str | None, datetime | None]] = []
        seen: set[str] = set()
        try:
            doc = lxml.html.document_fromstring(body)
            self.result.title = self.result.title or _clean(
                _meta(doc, "og:title") or doc.findtext(".//title")
            )
            for a in doc.xpath("//a[@href]"):
                href = canonicalize_url(urljoin(url, a.get("href").strip()))
                hp = urlsplit(href)
                if (
                    not same_site(hp.hostname or "", parts.hostname or "")
                    or not re.match(r"^/p/[^/]+/?$", hp.path)
                    or href in seen
                ):
                    continue
                seen.add(href)
                when = None
                node = a
                for _ in range(4):
                    times = node.xpath(".//time/@datetime")
                    if times:
                        when = _parse_date(str(times[0]))
                        break
                    node = node.getparent()
                    if node is None:
                        break
                issues.append((href, _clean(a.text_content()), when))
        except (lxml.etree.ParserError, ValueError):
            pass
        if not issues:
            issues = await self.archive_api(url)
        if not issues:
            self.error(url, "no issues found in the archive page or its /api/v1/archive endpoint")
            return
        issues = [i for i in issues if not self.col.too_old(i[2])]
        if self.col.limit is not None:
            issues = issues[: self.col.limit]
        fetched = await self.fetcher.fetch_many([i[0] for i in issues], accept={"html"})
        for (issue_url, title, when), res in zip(issues, fetched, strict=True):
            if isinstance(res, FetchError):
                self.error(issue_url, res.reason)
                continue
            self.issue(res.final_url, res.body, label=self.label, published=when, fallback=title)

    async def archive_api(self, url: str) -> list[tuple[str, str | None, datetime | None]]:
        parts = urlsplit(url)
        prefix = parts.path.rstrip("/").removesuffix("/archive")
        out: list[tuple[str, str | None, datetime | None]] = []
        for page in range(5):
            api = urlunsplit(
                (
                    parts.scheme,
                    parts.netloc,
                    f"{prefix}/api/v1/archive",
                    f"sort=new&offset={page * 12}&limit=12",
                    "",
                )
            )
            res = await self.fetch(api)
            if res is None:
                break
            try:
                posts = json.loads(res.body)
            except ValueError:
                self.error(api, "archive API did not return JSON")
                break
            if not isinstance(posts, list):
                break
            for post in posts:
                if not isinstance(post, dict):
                    continue
                link = post.get("canonical_url") or (
                    urljoin(url, f"{prefix}/p/{post['slug']}") if post.get("slug") else None
                )
                if link:
                    out.append(
                        (canonicalize_url(str(link)), post.get("title"), _parse_date(post.get("post_date")))
                    )
            # more pages only while they could still hold wanted issues
            wanted = (self.col.limit or 12) > len(out) or (
                self.col.since is not None and not any(self.col.too_old(o[2]) for o in out)
            )
            if len(posts) < 12 or not wanted or (self.col.limit is None and self.col.since is None):
                break
        return out

    def feed(self, url: str, body: bytes, label: str | None) -> None:
        parsed = feedparser.parse(body)
        entries = parsed.get("entries") or []
        if not entries and parsed.get("bozo"):
            self.error(url, f"not a readable feed: {parsed.get('bozo_exception')}")
            return
        feed_title = _clean(parsed.get("feed", {}).get("title"))
        self.result.title = self.result.title or feed_title
        origin = label or feed_title or url
        for entry in entries:
            link = entry.get("link")
            if not link:
                alts = [lk.get("href") for lk in entry.get("links", []) if lk.get("href")]
                link = alts[0] if alts else None
            if not link:
                continue
            stamp = entry.get("published_parsed") or entry.get("updated_parsed")
            when = datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None
            if self.col.too_old(when):
                continue
            self.col.add(
                urljoin(url, link),
                origin_label=origin,
                origin_url=url,
                published=when,
                title=entry.get("title"),
            )

    async def sitemap(self, url: str, body: bytes, depth: int) -> None:
        try:
            parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
            root = lxml.etree.fromstring(body, parser)
        except lxml.etree.XMLSyntaxError as exc:
            self.error(url, f"not a readable sitemap: {exc}")
            return
        host = urlsplit(url).hostname or url
        origin = self.label or f"{host} sitemap"

        def entries(tag: str) -> list[tuple[str, datetime | None]]:
            out = []
            for el in root.iter("{*}" + tag):
                loc = el.findtext("{*}loc")
                if loc and loc.strip():
                    out.append((loc.strip(), _parse_date(el.findtext("{*}lastmod"))))
            return out

        if lxml.etree.QName(root).localname == "sitemapindex":
            if depth >= 2:
                self.error(url, "sitemap index nested too deeply")
                return
            children = [c for c in entries("sitemap") if not self.col.too_old(c[1])]
            fetched = await self.fetcher.fetch_many([c[0] for c in children], accept={"xml"})
            for (child, _), res in zip(children, fetched, strict=True):
                if isinstance(res, FetchError):
                    self.error(child, res.reason)
                elif not self.col.full:
                    await self.sitemap(res.final_url, res.body, depth + 1)
            return
        for loc, when in entries("url"):
            if not self.col.too_old(when):
                self.col.add(urljoin(url, loc), origin_label=origin, origin_url=url, published=when)

    async def opml(self, url: str, body: bytes) -> None:
        try:
            parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
            root = lxml.etree.fromstring(body, parser)
        except lxml.etree.XMLSyntaxError as exc:
            self.error(url, f"not a readable OPML file: {exc}")
            return
        if root is None:
            self.error(url, "empty OPML file")
            return
        self.result.title = self.result.title or _clean(root.findtext(".//title"))
        feeds: list[tuple[str, str | None]] = []
        for el in root.iter("outline"):
            attrs = {k.lower(): v for k, v in el.attrib.items()}
            xml_url = attrs.get("xmlurl")
            if xml_url:
                feeds.append((urljoin(url, xml_url.strip()), _clean(attrs.get("title") or attrs.get("text"))))
        fetched = await self.fetcher.fetch_many([f[0] for f in feeds], accept={"xml", "html", "text"})
        for (feed_url, title), res in zip(feeds, fetched, strict=True):
            if isinstance(res, FetchError):
                self.error(feed_url, res.reason)
            elif not self.col.full:
                self.feed(res.final_url, res.body, self.label or title)

    def url_list(self, origin_url: str, text: str) -> None:
        origin = self.label or Path(urlsplit(origin_url).path).name or origin_url
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            token = line.split()[0]
            if not _is_web(token):
                self.result.skipped.append((token, "not a web link"))
                continue
            self.col.add(token, origin_label=origin, origin_url=origin_url, classify=False)

    def email_file(self, path: Path) -> None:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        subject = _clean(str(msg.get("subject", ""))) or path.name
        when = _parse_date(str(msg.get("date", ""))) if msg.get("date") else None
        origin_url = path.resolve().as_uri()
        part = msg.get_body(preferencelist=("html", "plain"))
        if part is None:
            self.error(origin_url, "email has no readable body")
            return
        content = part.get_content()
        if part.get_content_subtype() == "html":
            _title, _date, links = extract_issue(content.encode("utf-8"), origin_url)
        else:
            links = [
                (m.group(0).rstrip(".,;)>]"), None) for m in re.finditer(r"https?://[^\s<>\"']+", content)
            ]
        for href, text in links:
            self.col.add(
                href, origin_label=self.label or subject, origin_url=origin_url, published=when, title=text
            )

    # -- local

    async def run_local(self, path: Path) -> None:
        kind = detect_source_kind(str(path))
        self.result.kind = kind
        if kind == "folder":
            await self.folder(path)
        elif kind == "email":
            self.email_file(path)
        else:
            await self.local_file(path)

    async def local_file(self, path: Path) -> None:
        data = path.read_bytes()
        uri = path.resolve().as_uri()
        kind = detect_source_kind(str(path), data)
        if kind == "url_list":
            self.url_list(uri, data.decode("utf-8", "replace"))
        elif kind in ("feed", "sitemap", "opml", "issue", "archive"):
            await self.dispatch(uri, data)
        else:
            self.col.add(uri, origin_label=self.label or path.name, origin_url=uri, classify=False)

    async def folder(self, root: Path) -> None:
        origin = self.label or root.name
        origin_url = root.resolve().as_uri()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if self.col.full:
                break
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            suffix = path.suffix.lower()
            try:
                if suffix == ".eml":
                    self.email_file(path)
                elif suffix in (".opml", *_FEED_SUFFIXES, *_LIST_SUFFIXES):
                    await self.local_file(path)
                elif suffix == ".txt" and _looks_like_url_list(path.read_text("utf-8", "replace")):
                    self.url_list(path.resolve().as_uri(), path.read_text("utf-8", "replace"))
                elif suffix in _ARTICLE_SUFFIXES:
                    self.col.add(
                        path.resolve().as_uri(),
                        origin_label=origin,
                        origin_url=origin_url,
                        title=path.stem,
                        classify=False,
                    )
                else:
                    self.result.skipped.append((path.resolve().as_uri(), f"unsupported file type {suffix}"))
            except (OSError, ValueError) as exc:
                self.error(str(path), f"cannot read: {exc}")


async def discover(
    source: str,
    fetcher: Fetcher,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    origin_label: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
) -> DiscoveryResult:
    """Discover article links in ``source`` (a URL, a file path or a folder).

    Never raises for network or parse problems: they land in ``result.errors``. ``since``
    drops dated entries older than it (undated ones are kept); ``limit`` caps the links.
    Pass the ``etag``/``last_modified`` stored from the previous run to get a cheap
    ``not_modified`` result when a remote source has not changed.
    """
    d = _Discovery(source, fetcher, since, limit, origin_label)
    local = _local_path(source)
    try:
        if local is not None:
            await d.run_local(local)
        elif _is_web(source):
            await d.run_remote(source, etag, last_modified)
        else:
            d.error(source, "not a URL and no such file or folder")
    except (OSError, ValueError) as exc:
        d.error(source, f"{type(exc).__name__}: {exc}")
    return d.result
