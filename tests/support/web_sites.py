"""Shared helpers for the sources tests: a loopback HTTP server and a safe test Fetcher.

The server only ever binds 127.0.0.1. Test fetchers map ``news.example.com`` to 127.0.0.1
(treated as public by a test address policy) and ``internal.example.com`` to 10.1.2.3,
which is refused before any connection is attempted; unknown names fail to resolve, so the
system resolver and the real network are never used.
"""

from __future__ import annotations

import gzip
import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from horizonscan.sources.fetch import Fetcher, address_problem

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
HOST = "news.example.com"

TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

Response = tuple[int, dict[str, str], bytes]


@dataclass
class Server:
    port: int
    hits: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"


def _fixture(name: str, base: str) -> bytes:
    return (FIXTURES / name).read_text("utf-8").replace("{base}", base).encode("utf-8")


def _routes(srv: Server) -> dict[str, Callable[[dict[str, str]], Response]]:
    html = {"Content-Type": "text/html; charset=utf-8"}

    def fixture(name: str, ctype: str) -> Callable[[dict[str, str]], Response]:
        return lambda h: (200, {"Content-Type": ctype}, _fixture(name, srv.base))

    def flaky(h: dict[str, str]) -> Response:
        n = srv.hits.get("/flaky", 0)
        return (503, {}, b"busy") if n <= 2 else (200, html, b"<html><body><p>ok</p></body></html>")

    def ratelimited(h: dict[str, str]) -> Response:
        n = srv.hits.get("/ratelimited", 0)
        return (429, {"Retry-After": "0"}, b"slow down") if n <= 1 else (200, html, b"<html><p>ok</p></html>")

    def etag(h: dict[str, str]) -> Response:
        if h.get("if-none-match") == '"v1"':
            return 304, {"ETag": '"v1"'}, b""
        return (
            200,
            {**html, "ETag": '"v1"', "Last-Modified": "Mon, 06 May 2024 10:00:00 GMT"},
            b"<html>v1</html>",
        )

    def slow(h: dict[str, str]) -> Response:
        time.sleep(1.5)
        return 200, html, b"<html>late</html>"

    json_api = (
        b'[{"canonical_url": "%s/p/weekly-signals-42", "title": "Weekly Signals #42",'
        b' "post_date": "2024-05-06T08:00:00.000Z"}]'
    ) % srv.base.encode()
    return {
        "/robots.txt": lambda h: (
            200,
            {"Content-Type": "text/plain"},
            b"User-agent: *\nDisallow: /private/\n",
        ),
        "/private/secret": lambda h: (200, html, b"<html>secret</html>"),
        "/page": lambda h: (200, html, b"<html><body><p>hello</p></body></html>"),
        "/p/weekly-signals-42": fixture("issue.html", "text/html; charset=utf-8"),
        "/p/weekly-signals-41": fixture("issue41.html", "text/html"),
        "/archive": fixture("archive.html", "text/html"),
        "/empty/archive": lambda h: (200, html, b"<html><body><div id=app></div></body></html>"),
        "/empty/api/v1/archive": lambda h: (200, {"Content-Type": "application/json"}, json_api),
        "/feed.rss": fixture("feed.rss", "application/rss+xml"),
        "/feed.atom": fixture("feed.atom", "application/atom+xml"),
        "/feeds.opml": fixture("feeds.opml", "text/x-opml"),
        "/sitemap.xml": fixture("sitemap_index.xml", "application/xml"),
        "/sitemap-posts.xml": fixture("sitemap-posts.xml", "application/xml"),
        "/sitemap-old.xml": fixture("sitemap-old.xml", "application/xml"),
        "/urls.txt": fixture("urls.txt", "text/plain"),
        "/redirect/1": lambda h: (302, {"Location": "/redirect/2"}, b""),
        "/redirect/2": lambda h: (301, {"Location": f"{srv.base}/page"}, b""),
        "/loop": lambda h: (302, {"Location": "/loop"}, b""),
        "/to-internal": lambda h: (302, {"Location": f"http://internal.example.com:{srv.port}/x"}, b""),
        "/to-private-ip": lambda h: (302, {"Location": "http://10.0.0.1/admin"}, b""),
        "/to-ftp": lambda h: (302, {"Location": "ftp://files.example.com/x"}, b""),
        "/slow": slow,
        "/big": lambda h: (200, {"Content-Type": "text/plain"}, b"a" * (2 * 1024 * 1024)),
        "/bomb": lambda h: (
            200,
            {**html, "Content-Encoding": "gzip"},
            gzip.compress(b"<html>" + b" " * 3_000_000),
        ),
        "/gzip-page": lambda h: (
            200,
            {**html, "Content-Encoding": "gzip"},
            gzip.compress(b"<html><p>zipped</p>"),
        ),
        "/image.png": lambda h: (200, {"Content-Type": "image/png"}, PNG),
        "/disguised.html": lambda h: (200, html, PNG),
        "/doc.pdf": lambda h: (200, {"Content-Type": "application/pdf"}, TINY_PDF),
        "/octet": lambda h: (200, {"Content-Type": "application/octet-stream"}, TINY_PDF),
        "/etag": etag,
        "/flaky": flaky,
        "/ratelimited": ratelimited,
        "/gone": lambda h: (404, html, b"<html>not found</html>"),
    }


@contextmanager
def serve() -> Iterator[Server]:
    """Run the fixture server on 127.0.0.1 in a daemon thread."""
    srv = Server(port=0)
    routes: dict[str, Callable[[dict[str, str]], Response]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            srv.requests.append((self.path, headers))
            srv.hits[path] = srv.hits.get(path, 0) + 1
            route = routes.get(path)
            status, hdrs, body = route(headers) if route else (404, {}, b"no such page")
            self.send_response(status)
            for k, v in hdrs.items():
                self.send_header(k, v)
            if path != "/big":  # /big streams without a length, like many real servers
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    srv.port = httpd.server_address[1]
    routes.update(_routes(srv))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        httpd.shutdown()
        httpd.server_close()


NAMES = {
    HOST: ["127.0.0.1"],
    "internal.example.com": ["10.1.2.3"],
    "mixed.example.com": ["127.0.0.1", "192.168.1.9"],
}


async def fake_resolver(host: str, port: int) -> list[str]:
    try:
        return NAMES[host]
    except KeyError:
        raise OSError(f"test resolver: unknown host {host}") from None


def loopback_is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Treat exactly 127.0.0.1 as public so the fixture server counts as an outside site."""
    return None if str(ip) == "127.0.0.1" else address_problem(ip)


def make_fetcher(**kw: Any) -> Fetcher:
    opts: dict[str, Any] = {
        "resolver": fake_resolver,
        "address_policy": loopback_is_public,
        "per_host_delay": 0.0,
        "backoff_base": 0.01,
        "timeout": 3.0,
    }
    opts.update(kw)
    return Fetcher(**opts)
