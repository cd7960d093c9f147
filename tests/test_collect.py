"""Collect end to end: a newsletter archive, a feed and an OPML file become analyzed articles with
their origin; known articles are not fetched or analyzed twice; bad links get reasons."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.articles import article_text
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer


class Site:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.headers: list[tuple[str, dict[str, str]]] = []
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page(self, path: str, req_headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        b = self.base
        if path.startswith("/articles/") and path != "/articles/gone":
            n = int(path.rsplit("a", 1)[1])
            text = article_text(100 + n)
            title, *paras = text.split("\n\n")
            body = "".join(f"<p>{html.escape(p)}</p>" for p in paras if p.strip())
            doc = (
                f"<html><head><title>{html.escape(title)}</title></head>"
                f"<body><nav><a href='/'>Home</a></nav><article><h1>{html.escape(title)}</h1>{body}</article>"
                "</body></html>"
            )
            return 200, {"Content-Type": "text/html; charset=utf-8"}, doc.encode()
        if path == "/archive":
            doc = (
                f"<html><head><title>Archive - Futures Weekly</title></head><body>"
                f"<div class='post-preview'><a href='{b}/p/issue-1'>Issue 1</a></div>"
                f"<div class='post-preview'><a href='{b}/p/issue-2'>Issue 2</a></div></body></html>"
            )
            return 200, {"Content-Type": "text/html"}, doc.encode()
        if path.startswith("/p/issue-"):
            n = path.rsplit("-", 1)[1]
            links = {
                "1": ["/articles/a1?utm_source=newsletter", "/articles/a2#top"],
                "2": ["/articles/a2", "/articles/a3", "/articles/gone", "/images/chart.png"],
            }[n]
            anchors = "".join(f"<p>Read <a href='{b}{u}'>this story</a>.</p>" for u in links)
            doc = (
                f"<html><head><title>Issue {n} - Futures Weekly</title>"
                f"<meta property='og:title' content='Futures Weekly {n}'></head><body>"
                f"<nav><a href='{b}/archive'>Archive</a></nav><article><div class='body markup'>{anchors}"
                f"<p><a href='https://twitter.com/intent/tweet?text=x'>Share</a> "
                f"<a href='mailto:ed@example.org'>Write to us</a></p></div></article></body></html>"
            )
            return 200, {"Content-Type": "text/html"}, doc.encode()
        if path == "/feed.rss":
            if req_headers.get("if-none-match") == '"feed-v1"':
                return 304, {"ETag": '"feed-v1"'}, b""
            items = "".join(
                f"<item><title>Story {i}</title><link>{b}/articles/a{i}</link>"
                f"<pubDate>Mon, 0{i} Nov 2026 08:00:00 GMT</pubDate></item>"
                for i in (1, 4)
            )
            doc = (
                f"<?xml version='1.0'?><rss version='2.0'><channel><title>Signals Feed</title>"
                f"<link>{b}/</link>{items}</channel></rss>"
            )
            return 200, {"Content-Type": "application/rss+xml", "ETag": '"feed-v1"'}, doc.encode()
        return 404, {"Content-Type": "text/html"}, b"<html>not found</html>"


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            state.hits[path] = state.hits.get(path, 0) + 1
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.headers.append((path, headers))
            status, hdrs, body = state.page(path, headers)
            self.send_response(status)
            for k, v in hdrs.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_host_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HORIZONSCAN_PER_HOST_DELAY", "0")


def _args(tmp_path: Path) -> list[str]:
    return [
        "--db",
        str(tmp_path / "hs.db"),
        "--out",
        str(tmp_path / "pages"),
        "--allow-private-network",
        "--json",
    ]


def test_archive_feed_and_opml_collect_into_analyzed_pages_with_origins(
    site: Site, openai_env: MockLLMServer, tmp_path: Path
) -> None:
    run = run_cli(
        "collect", f"{site.base}/archive", "--analyze", "--llm", "openai:gpt-4o-mini", *_args(tmp_path)
    )
    data = run.json()
    assert run.code == 1  # one link is gone: reported, and the rest went on
    assert sorted(Path(u).name for u in data["new_articles"]) == ["a1", "a2", "a3"]
    assert [f["reason"] for f in data["failed"]] == ["HTTP 404"]
    skipped = {s["url"]: s["reason"] for src in data["sources"] for s in src["skipped"]}
    assert any("twitter.com" in u for u in skipped) and any(u.startswith("mailto:") for u in skipped)
    assert data["analysis"]["summary"]["analyzed"] == 3
    pages = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "pages").glob("*-*.md")}
    assert len(pages) == 3
    first_lines = sorted(t.splitlines()[0] for t in pages.values())
    assert all(
        re_line.endswith(f"({site.base}/p/issue-1).)") or re_line.endswith(f"({site.base}/p/issue-2).)")
        for re_line in first_lines
    )
    a1 = next(t for t in pages.values() if "/articles/a1" in t)
    assert "Futures Weekly 1" in a1.splitlines()[0]
    assert f"__[External link]({site.base}/articles/a1)__" in a1

    # An OPML file listing the feed: a1 is known (neither fetched nor analyzed again), a4 is new.
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        f"<?xml version='1.0'?><opml version='2.0'><body><outline text='Signals' type='rss' "
        f"xmlUrl='{site.base}/feed.rss'/></body></opml>",
        encoding="utf-8",
    )
    requests_before = len(openai_env.requests)
    run = run_cli("collect", str(opml), "--analyze", "--llm", "openai:gpt-4o-mini", *_args(tmp_path))
    data = run.json()
    assert run.code == 0, data
    assert [Path(u).name for u in data["new_articles"]] == ["a4"]
    assert site.hits["/articles/a1"] == 1
    assert len(openai_env.requests) - requests_before == 1
    page = next(
        p for p in (tmp_path / "pages").glob("*.md") if "/articles/a4" in p.read_text(encoding="utf-8")
    )
    assert f"from ([Signals]({site.base}/feed.rss).)" in page.read_text(encoding="utf-8").splitlines()[0]


def test_recurring_sources_refresh_with_conditional_get(site: Site, tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "hs.db")]
    assert run_cli("sources", "add", f"{site.base}/feed.rss", "--label", "Signals", *db).code == 0
    listed = json.loads(run_cli("sources", "list", "--json", *db).stdout)
    assert listed[0]["source"] == f"{site.base}/feed.rss" and listed[0]["label"] == "Signals"
    first = run_cli("collect", *_args(tmp_path)).json()
    assert sorted(Path(u).name for u in first["new_articles"]) == ["a1", "a4"]
    second = run_cli("collect", *_args(tmp_path)).json()
    assert second["sources"][0]["not_modified"] is True and second["new_articles"] == []
    feed_requests = [h for p, h in site.headers if p == "/feed.rss"]
    assert feed_requests[-1].get("if-none-match") == '"feed-v1"'
    assert "horizonscan/" in feed_requests[-1]["user-agent"]
    assert run_cli("sources", "remove", "1", *db).code == 0
    assert run_cli("collect", *db).code == 2  # nothing to refresh: a usage error with a hint


def test_private_addresses_are_refused_by_default(site: Site, tmp_path: Path) -> None:
    run = run_cli("collect", f"{site.base}/archive", "--db", str(tmp_path / "hs.db"), "--json")
    data = run.json()
    assert run.code == 1
    reasons = " ".join(f["reason"] for f in data["failed"])
    assert "private" in reasons or "loopback" in reasons
    assert "--allow-private-network" in reasons
    assert site.hits == {}  # refused before any connection


def test_analyze_refuses_private_urls_with_a_reason(tmp_path: Path, openai_env: MockLLMServer) -> None:
    run = run_cli(
        "analyze",
        "http://127.0.0.1:9/article",
        "--llm",
        "openai:gpt-4o-mini",
        "--db",
        str(tmp_path / "hs.db"),
        "--json",
    )
    assert run.code == 1
    error = run.json()["results"][0]["error"]
    assert "--allow-private-network" in error
    assert openai_env.requests == []


def test_extract_jsonl(tmp_path: Path) -> None:
    from tests.conftest import EXAMPLES

    bad = tmp_path / "x.pdf"
    bad.write_bytes(b"nope")
    run = run_cli("extract", str(EXAMPLES / "desalacion-canarias.es.html"), str(bad))
    lines = [json.loads(x) for x in run.stdout.splitlines()]
    assert run.code == 1
    assert set(lines[0]) == {"path", "url", "title", "author", "date", "language", "text"}
    assert lines[0]["language"] == "es" and lines[1]["error"]


def test_analyze_a_url_archives_it_and_never_refetches(
    site: Site, openai_env: MockLLMServer, tmp_path: Path
) -> None:
    url = f"{site.base}/articles/a7?utm_source=mail&fbclid=x"
    args = ["--llm", "openai:gpt-4o-mini", *_args(tmp_path)]
    run = run_cli("analyze", url, *args)
    assert run.code == 0, run.stdout
    result = run.json()["results"][0]
    assert result["source"] == f"{site.base}/articles/a7" and result["status"] == "analyzed"
    assert len(list((tmp_path / "hs-raw").rglob("*"))) >= 2  # one shard folder and one compressed object
    again = run_cli("analyze", url, *args)
    assert again.json()["results"][0]["status"] == "reused"
    assert site.hits["/articles/a7"] == 1 and len(openai_env.requests) == 1
