"""Fetcher: safety refusals, caps, redirects, robots, retries, conditional GET, sniffing."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from horizonscan.sources.fetch import (
    USER_AGENT,
    Fetcher,
    FetchError,
    FetchResult,
    address_problem,
    sniff_kind,
)
from tests.support.web_sites import TINY_PDF, Server, make_fetcher, serve

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with serve() as srv:
        yield srv


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _fetch(url: str, **kw: Any) -> FetchResult:
    async with make_fetcher(**kw) as f:
        return await f.fetch(url)


async def _error(url: str, **kw: Any) -> FetchError:
    try:
        await _fetch(url, **kw)
    except FetchError as exc:
        return exc
    raise AssertionError("expected FetchError")


def test_fetch_html_sends_user_agent(server: Server) -> None:
    res = run(_fetch(f"{server.base}/page"))
    assert res.kind == "html" and res.status == 200 and b"hello" in res.body
    assert res.final_url == f"{server.base}/page"
    agents = {h.get("user-agent") for p, h in server.requests if p == "/page"}
    assert agents == {USER_AGENT} and USER_AGENT.startswith("horizonscan/")
    host_headers = {h.get("host") for p, h in server.requests if p == "/page"}
    assert host_headers == {f"news.example.com:{server.port}"}  # connected to the IP, named the host


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/", "refused: 10.0.0.1 is a private address"),
        (
            "http://internal.example.com/x",
            "refused: internal.example.com resolves to private address 10.1.2.3",
        ),
        ("http://mixed.example.com/x", "resolves to private address 192.168.1.9"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[::1]:9/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("ftp://news.example.com/file", "unsupported scheme 'ftp'"),
        ("file:///etc/passwd", "unsupported scheme 'file'"),
        ("javascript:alert(1)", "unsupported scheme 'javascript'"),
    ],
)
def test_refused_before_connecting(url: str, reason: str) -> None:
    exc = run(_error(url))
    assert reason in exc.reason
    if exc.reason.startswith("refused: ") and "scheme" not in exc.reason:
        assert "--allow-private-network" in exc.reason


def test_default_fetcher_refuses_loopback_server(server: Server) -> None:
    async def go() -> FetchError:
        async with Fetcher(per_host_delay=0) as f:
            try:
                await f.fetch(f"http://127.0.0.1:{server.port}/page")
            except FetchError as exc:
                return exc
        raise AssertionError

    before = len(server.requests)
    exc = run(go())
    assert "refused: 127.0.0.1 is a loopback address" in exc.reason
    assert len(server.requests) == before  # nothing reached the server


def test_allow_private_network(server: Server) -> None:
    async def go() -> FetchResult:
        async with Fetcher(per_host_delay=0, allow_private_network=True) as f:
            return await f.fetch(f"http://127.0.0.1:{server.port}/page")

    assert run(go()).kind == "html"


def test_address_policy_covers_ranges() -> None:
    bad = [
        "10.1.1.1",
        "172.16.0.1",
        "192.168.0.1",
        "127.0.0.2",
        "169.254.1.1",
        "224.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::",
        "::ffff:127.0.0.1",
        "2002:0a00:0001::1",
    ]
    for text in bad:
        assert address_problem(ipaddress.ip_address(text)), text
    for text in ["93.184.216.34", "2606:4700::6810:85e5", "8.8.8.8"]:
        assert address_problem(ipaddress.ip_address(text)) is None, text


def test_redirects(server: Server) -> None:
    res = run(_fetch(f"{server.base}/redirect/1"))
    assert res.final_url == f"{server.base}/page"
    assert res.redirects == (f"{server.base}/redirect/1", f"{server.base}/redirect/2")
    assert "too many redirects (over 5)" in run(_error(f"{server.base}/loop")).reason
    assert "too many redirects (over 1)" in run(_error(f"{server.base}/redirect/1", max_redirects=1)).reason


def test_redirect_hops_are_checked(server: Server) -> None:
    exc = run(_error(f"{server.base}/to-internal"))
    assert "internal.example.com resolves to private address 10.1.2.3" in exc.reason
    assert "10.0.0.1 is a private address" in run(_error(f"{server.base}/to-private-ip")).reason
    assert "unsupported scheme 'ftp'" in run(_error(f"{server.base}/to-ftp")).reason


def test_robots(server: Server) -> None:
    exc = run(_error(f"{server.base}/private/secret"))
    assert exc.reason.startswith("blocked by robots.txt")
    res = run(_fetch(f"{server.base}/private/secret", respect_robots=False))
    assert res.body == b"<html>secret</html>"


def test_timeout(server: Server) -> None:
    t0 = time.monotonic()
    exc = run(_error(f"{server.base}/slow", timeout=0.3, retries=0))
    assert exc.reason == "timed out after 0.3 s"
    assert time.monotonic() - t0 < 1.4


def test_size_caps(server: Server) -> None:
    assert run(_error(f"{server.base}/big", max_bytes=1024 * 1024)).reason == "too large: over 1 MB"
    bomb = run(_error(f"{server.base}/bomb", max_decompressed_bytes=1024 * 1024))
    assert bomb.reason == "too large: over 1 MB after decompression"
    assert run(_fetch(f"{server.base}/gzip-page")).body == b"<html><p>zipped</p>"


def test_content_types(server: Server) -> None:
    assert run(_error(f"{server.base}/image.png")).reason == "unsupported content type image/png"
    assert run(_error(f"{server.base}/disguised.html")).reason == "unsupported content type image/png"
    pdf = run(_fetch(f"{server.base}/doc.pdf"))
    assert pdf.kind == "pdf" and pdf.body == TINY_PDF
    assert run(_fetch(f"{server.base}/octet")).kind == "pdf"
    assert run(_fetch(f"{server.base}/feed.rss")).kind == "xml"
    assert run(_fetch(f"{server.base}/urls.txt")).kind == "text"


def test_sniff_kind() -> None:
    assert sniff_kind(b"<?xml version='1.0'?><rss></rss>", "text/html")[0] == "xml"
    assert sniff_kind(b"<!DOCTYPE html><html></html>", "application/octet-stream")[0] == "html"
    assert sniff_kind(b"GIF89a....", "text/html") == (None, "image/gif")
    assert sniff_kind(b"\x00\x01\x02binary", "application/octet-stream")[0] is None
    assert sniff_kind(b"plain words", "text/plain")[0] == "text"


def test_http_errors_and_retries(server: Server) -> None:
    exc = run(_error(f"{server.base}/gone"))
    assert exc.reason == "HTTP 404" and exc.status == 404
    assert b"ok" in run(_fetch(f"{server.base}/flaky", retries=3)).body
    assert server.hits["/flaky"] == 3
    assert b"ok" in run(_fetch(f"{server.base}/ratelimited", retries=2)).body
    server.hits["/flaky"] = 0
    assert run(_error(f"{server.base}/flaky", retries=1)).reason == "HTTP 503"


def test_connection_refused_is_retried_then_reported() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    exc = run(_error(f"http://news.example.com:{port}/", retries=1))
    assert "connection to news.example.com failed" in exc.reason


def test_conditional_get(server: Server) -> None:
    first = run(_fetch(f"{server.base}/etag"))
    assert first.etag == '"v1"' and first.last_modified and not first.not_modified

    async def again() -> FetchResult:
        async with make_fetcher() as f:
            return await f.fetch(f"{server.base}/etag", etag=first.etag, last_modified=first.last_modified)

    second = run(again())
    assert second.not_modified and second.status == 304 and second.body == b""
    sent = [h for p, h in server.requests if p == "/etag"][-1]
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == first.last_modified


def test_fetch_many_isolates_failures(server: Server) -> None:
    urls = [
        f"{server.base}/page",
        "http://10.0.0.1/",
        f"{server.base}/gone",
        "not a url",
        f"{server.base}/doc.pdf",
    ]

    async def go() -> list[FetchResult | FetchError]:
        async with make_fetcher() as f:
            return await f.fetch_many(urls)

    out = run(go())
    assert [type(o).__name__ for o in out] == [
        "FetchResult",
        "FetchError",
        "FetchError",
        "FetchError",
        "FetchResult",
    ]
    assert isinstance(out[3], FetchError) and "unsupported scheme" in out[3].reason


def test_per_host_delay(server: Server) -> None:
    async def go() -> float:
        async with make_fetcher(per_host_delay=0.2, respect_robots=False) as f:
            t0 = time.monotonic()
            await f.fetch_many([f"{server.base}/page"] * 3)
            return time.monotonic() - t0

    assert run(go()) >= 0.4
