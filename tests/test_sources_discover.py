"""Discovery: issue pages, Substack archives (HTML and JSON), feeds, OPML, sitemaps, lists, folders."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from horizonscan.sources.discover import DiscoveryResult, detect_source_kind, discover
from tests.support.web_sites import FIXTURES, Server, make_fetcher, serve

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with serve() as srv:
        yield srv


def run_discover(source: str, **kw: Any) -> DiscoveryResult:
    async def go() -> DiscoveryResult:
        async with make_fetcher() as f:
            return await discover(source, f, **kw)

    return asyncio.run(go())


def test_issue_page_links(server: Server) -> None:
    url = f"{server.base}/p/weekly-signals-42"
    res = run_discover(url)
    assert res.kind == "issue" and not res.errors
    assert [link.url for link in res.links] == [
        "https://research.example.org/report/Quantum-2024?a=1&b=2",
        "https://bit.ly/3abcDEF",
        "http://blog.example.net/posts/ai-agents",
        "https://example.com/paper.pdf",
        f"{server.base}/p/relative/story.html",
    ]
    first = res.links[0]
    assert first.origin_label == "Weekly Signals #42" and first.origin_url == url
    assert first.title == "a quantum report"
    assert first.published == datetime(2024, 5, 6, 8, tzinfo=UTC)
    reasons = dict(res.skipped)
    assert reasons["https://example.com/chart.png"] == "image file (.png)"
    assert reasons["mailto:editor@example.com"].startswith("not a web link")
    assert reasons["https://twitter.com/intent/tweet?text=hi"].startswith("social share")
    assert reasons["https://www.linkedin.com/in/janedoe"].startswith("social profile")
    assert reasons["https://t.me/futurenotes"].startswith("social media")
    assert reasons[f"{server.base}/p/weekly-signals-42/comments"] == "newsletter comments page"
    assert reasons[f"{server.base}/p/weekly-signals-41"] == "another issue of the same newsletter"
    assert reasons["https://apps.apple.com/app/substack/id1"].startswith("app store")
    assert reasons["https://substackcdn.com/image/fetch/x.jpg"].startswith("image file")
    all_urls = {link.url for link in res.links} | set(reasons)
    assert not any("elsewhere.org" in u for u in all_urls)  # nav, footer and post-footer were removed
    assert f"{server.base}/subscribe" not in all_urls  # subscribe widget removed


def test_issue_label_override_and_limit(server: Server) -> None:
    res = run_discover(f"{server.base}/p/weekly-signals-42", origin_label="My label", limit=2)
    assert len(res.links) == 2 and {link.origin_label for link in res.links} == {"My label"}


def test_substack_archive(server: Server) -> None:
    res = run_discover(f"{server.base}/archive")
    assert res.kind == "archive"
    by_url = {link.url: link for link in res.links}
    # the quantum report appears in both issues; it is kept once, from the newest issue
    quantum = by_url["https://research.example.org/report/Quantum-2024?a=1&b=2"]
    assert quantum.origin_label == "Weekly Signals #42"
    grid = by_url["https://energy.example.org/grid-batteries"]
    assert grid.origin_url == f"{server.base}/p/weekly-signals-41"
    assert grid.origin_label == "Weekly Signals #41"
    assert res.errors == [(f"{server.base}/p/missing-issue", "HTTP 404")]


def test_substack_archive_since(server: Server) -> None:
    res = run_discover(f"{server.base}/archive", since=datetime(2024, 5, 1, tzinfo=UTC))
    assert {link.origin_label for link in res.links} == {"Weekly Signals #42"}
    assert not res.errors  # the old and missing issues were never fetched


def test_substack_archive_json_fallback(server: Server) -> None:
    res = run_discover(f"{server.base}/empty/archive")
    assert res.links and {link.origin_label for link in res.links} == {"Weekly Signals #42"}
    assert any(p.startswith("/empty/api/v1/archive?sort=new&offset=0&limit=12") for p, _ in server.requests)


def test_rss_and_atom(server: Server) -> None:
    rss = run_discover(f"{server.base}/feed.rss", since=datetime(2024, 1, 1))
    assert rss.kind == "feed" and rss.title == "Tech Horizons"
    assert [(link.url, link.title) for link in rss.links] == [
        ("https://science.example.org/fusion", "Fusion milestone"),
        ("https://care.example.org/robots", "Robots in care homes"),
    ]
    assert rss.links[0].published == datetime(2024, 5, 6, 10, tzinfo=UTC)
    assert (
        rss.links[0].origin_label == "Tech Horizons" and rss.links[0].origin_url == f"{server.base}/feed.rss"
    )
    atom = run_discover(f"{server.base}/feed.atom")
    assert [link.url for link in atom.links] == [
        "https://bio.example.org/synbio",
        "https://science.example.org/fusion",
    ]


def test_opml_continues_past_broken_feed(server: Server) -> None:
    res = run_discover(f"{server.base}/feeds.opml")
    assert res.kind == "opml"
    assert res.errors == [(f"{server.base}/nope.rss", "HTTP 404")]
    labels = {link.url: link.origin_label for link in res.links}
    assert labels["https://bio.example.org/synbio"] == "Atom Signals"
    assert labels["https://science.example.org/fusion"] == "Tech Horizons RSS"  # deduped across feeds
    assert len(res.links) == 4


def test_sitemap_index(server: Server) -> None:
    res = run_discover(f"{server.base}/sitemap.xml", since=datetime(2024, 1, 1, tzinfo=UTC))
    assert res.kind == "sitemap"
    assert [link.url for link in res.links] == [
        f"{server.base}/2024/05/vertical-farms",
        f"{server.base}/2024/05/heat-pumps",
    ]
    assert res.links[1].published == datetime(2024, 5, 4, tzinfo=UTC)
    assert (f"{server.base}/", "home page") in res.skipped
    assert "/sitemap-old.xml" not in server.hits  # filtered by lastmod before fetching


def test_url_list_remote_and_local(server: Server, tmp_path: Path) -> None:
    remote = run_discover(f"{server.base}/urls.txt")
    expected = ["https://a.example.org/one", "https://b.example.org/two"]
    assert remote.kind == "url_list" and [link.url for link in remote.links] == expected
    assert ("ftp://files.example.org/x", "not a web link") in remote.skipped
    local = run_discover(str(FIXTURES / "urls.txt"))
    assert [link.url for link in local.links] == expected and local.links[0].origin_label == "urls.txt"


def test_conditional_refresh(server: Server) -> None:
    first = run_discover(f"{server.base}/etag")
    assert first.etag == '"v1"'
    again = run_discover(f"{server.base}/etag", etag=first.etag)
    assert again.not_modified and not again.links and not again.errors


def test_unreachable_source_reports_error() -> None:
    res = run_discover("http://internal.example.com/feed")
    assert not res.links and "private address 10.1.2.3" in res.errors[0][1]
    assert run_discover("/no/such/path-anywhere").errors


def test_local_folder(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4\n")
    (tmp_path / "b.html").write_text("<html><body>article</body></html>")
    (tmp_path / "reading.txt").write_text("https://c.example.org/x\n# c\n")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / ".hidden.html").write_text("x")
    (tmp_path / "issue.eml").write_text(
        "Subject: Signals by email\nDate: Mon, 06 May 2024 10:00:00 +0000\nContent-Type: text/html\n\n"
        "<html><body><a href='https://d.example.org/story?utm_source=email'>story</a>"
        "<a href='https://example.com/unsubscribe?id=1'>unsubscribe</a></body></html>\n"
    )
    res = run_discover(str(tmp_path))
    assert res.kind == "folder"
    urls = [link.url for link in res.links]
    assert urls == [
        (tmp_path / "a.pdf").as_uri(),
        (tmp_path / "b.html").as_uri(),
        "https://d.example.org/story",
        "https://c.example.org/x",
    ]
    email_link = res.links[2]
    assert email_link.origin_label == "Signals by email" and email_link.published == datetime(
        2024, 5, 6, 10, tzinfo=UTC
    )
    assert any(reason.startswith("unsupported file type") for _, reason in res.skipped)


def test_detect_source_kind() -> None:
    assert detect_source_kind("https://x.substack.com/archive") == "archive"
    assert detect_source_kind("https://x.org/sitemap.xml") == "sitemap"
    assert detect_source_kind("https://x.org/feed") == "feed"
    assert detect_source_kind("https://x.org/p/hello") == "issue"
    assert detect_source_kind("https://x.org/a", b"<?xml version='1.0'?><opml></opml>") == "opml"
    assert detect_source_kind("https://x.org/a", b"<urlset></urlset>", "text/xml") == "sitemap"
    assert detect_source_kind("https://x.org/a", b"<feed xmlns='http://www.w3.org/2005/Atom'>") == "feed"
    assert (
        detect_source_kind("https://x.org/a", b"https://a.org/1\nhttps://b.org/2\n", "text/plain")
        == "url_list"
    )
    assert detect_source_kind(str(FIXTURES)) == "folder"
    assert detect_source_kind(str(FIXTURES / "feeds.opml")) == "opml"
    assert detect_source_kind(str(FIXTURES / "feed.atom")) == "feed"
