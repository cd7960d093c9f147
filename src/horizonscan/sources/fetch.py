"""Polite, bounded and SSRF-safe HTTP fetching for sources and articles.

Why this is more than ``httpx.get``: URLs come from untrusted newsletters and feeds, so
every hop must be checked (scheme, resolved addresses, robots.txt), bodies must be bounded
(on the wire *and* after decompression, so a gzip bomb cannot exhaust memory), and sites
must not be hammered (per-host concurrency and delay, retries with backoff).

DNS rebinding: the host is resolved once per hop (``getaddrinfo`` in a thread, or the
injected ``resolver``); every address is checked, and the connection is then made to the
checked IP itself (the URL is rewritten to the IP, the ``Host`` header and TLS SNI /
certificate check keep the real name). So the name cannot resolve to a different, private
address between check and connect. Keep-alive is off because connections are keyed by IP,
and environment proxies are ignored (a proxy would do its own resolution).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from horizonscan.retry import RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_KINDS",
    "USER_AGENT",
    "AddressPolicy",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "Kind",
    "Resolver",
    "address_problem",
    "sniff_kind",
    "system_resolver",
]

Kind = Literal["html", "pdf", "text", "xml"]
DEFAULT_KINDS: frozenset[Kind] = frozenset({"html", "pdf", "text", "xml"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
AddressPolicy = Callable[[IPAddress], "str | None"]
MB = 1024 * 1024


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("horizonscan")
    except Exception:
        return "0.1.0"


USER_AGENT = f"horizonscan/{_version()} (+https://github.com/horizonscan/horizonscan)"
_ROBOTS_AGENT = "horizonscan"
_ACCEPT = (
    "text/html,application/xhtml+xml;q=0.9,application/pdf;q=0.9,application/rss+xml;q=0.8,"
    "application/atom+xml;q=0.8,application/xml;q=0.7,text/xml;q=0.7,text/plain;q=0.6,*/*;q=0.1"
)
_REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """A fetch that failed; ``reason`` is phrased so a user can act on it."""

    def __init__(self, reason: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.url = url
        self.status = status

    def __repr__(self) -> str:
        return f"FetchError({self.reason!r}, url={self.url!r})"


class _Transient(Exception):
    """A failure worth retrying (connect error, timeout, 429, 5xx)."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A successful fetch. ``not_modified`` results (HTTP 304) have an empty body and no kind."""

    url: str
    final_url: str
    status: int
    content_type: str
    kind: Kind | None
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    charset: str | None = None
    redirects: tuple[str, ...] = ()

    def text(self) -> str:
        """Body decoded with the declared charset (UTF-8 fallback, errors replaced)."""
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- address safety

_LABELS = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private"),
    ("is_reserved", "reserved"),
)


def address_problem(ip: IPAddress) -> str | None:
    """Default policy: why ``ip`` must not be contacted (``None`` = public, allowed)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is not None:
            return address_problem(inner)
        if ip.teredo is not None:
            return "reserved"
        if ip.is_site_local:
            return "site-local"
    for attr, label in _LABELS:
        if getattr(ip, attr):
            return label
    if not ip.is_global:
        return "non-public"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the OS resolver (``loop.getaddrinfo`` runs it in a worker thread)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    return out


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


# --------------------------------------------------------------------------- content sniffing

_BINARY_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x7fELF", "application/x-executable"),
    (b"MZ", "application/x-msdownload"),
    (b"BM", "image/bmp"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
]
_XML_ROOTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<opml", b"<urlset", b"<sitemapindex", b"<channel")
_HTML_MARKERS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<body",
    b"<meta",
    b"<title",
    b"<div",
    b"<p>",
    b"<a ",
)
_HEADER_KINDS: dict[str, Kind] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "text/plain": "text",
    "text/markdown": "text",
    "application/rss+xml": "xml",
    "application/atom+xml": "xml",
    "application/rdf+xml": "xml",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/x-opml": "xml",
    "text/x-opml+xml": "xml",
    "application/x-opml": "xml",
    "application/feed+json": "text",
    "application/json": "text",
}
_REJECT_PREFIXES = ("image/", "audio/", "video/", "font/", "model/")
_REJECT_TYPES = {
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/x-7z-compressed",
    "application/vnd.rar",
    "application/x-msdownload",
    "application/vnd.android.package-archive",
    "application/x-apple-diskimage",
    "application/wasm",
    "application/javascript",
    "text/css",
    "text/javascript",
}


def _split_content_type(value: str) -> tuple[str, str | None]:
    mime, _, params = value.partition(";")
    charset = None
    for p in params.split(";"):
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset" and v.strip():
            charset = v.strip().strip("\"'")
    return mime.strip().lower(), charset


def _header_rejects(mime: str) -> bool:
    return mime.startswith(_REJECT_PREFIXES) or mime in _REJECT_TYPES


def sniff_kind(body: bytes, content_type: str = "") -> tuple[Kind | None, str]:
    """Classify a body from its magic bytes first, then its declared type.

    Returns ``(kind, mime)``; ``kind`` is ``None`` for unsupported content, with ``mime``
    naming what it looked like. Magic wins over the header because servers often lie
    (``application/octet-stream`` PDFs, ``text/html`` feeds).
    """
    mime, _ = _split_content_type(content_type)
    head = body[:1024]
    if head.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    for magic, name in _BINARY_MAGIC:
        if head.startswith(magic):
            return None, name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return None, "image/webp"
    if head[4:8] == b"ftyp":
        return None, "video/mp4"
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"\x00" in head[:512] and not lowered.startswith(b"<"):
        return None, mime or "application/octet-stream"
    if lowered.startswith(b"<?xml") or lowered.startswith(_XML_ROOTS):
        body_l = body[:4096].lower()
        if b"<html" in body_l and not any(r in body_l for r in _XML_ROOTS):
            return "html", "application/xhtml+xml"
        if lowered.startswith(b"<svg") or (b"<svg" in body_l[:300] and b"<rss" not in body_l):
            return None, "image/svg+xml"
        return "xml", mime if mime in _HEADER_KINDS else "application/xml"
    if lowered.startswith(b"<svg"):
        return None, "image/svg+xml"
    if lowered.startswith(_HTML_MARKERS) or (
        mime in ("", "application/octet-stream") and b"<html" in body[:4096].lower()
    ):
        return "html", "text/html"
    if mime in _HEADER_KINDS:
        return _HEADER_KINDS[mime], mime
    if mime.startswith("text/") or mime in ("", "application/octet-stream"):
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            # a multi-byte char may be cut at 1024; only reject clearly binary data
            if sum(b < 9 or 13 < b < 32 for b in head) > 8:
                return None, mime or "application/octet-stream"
        return "text", mime or "text/plain"
    return None, mime


# --------------------------------------------------------------------------- bounded decoding


class _Decoder:
    """Incremental Content-Encoding decoder with a hard cap on output size."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.buf = bytearray()
        self._d: zlib._Decompress | None = None
        self._deflate_raw_tried = False
        if encoding in ("gzip", "x-gzip"):
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._d = zlib.decompressobj(zlib.MAX_WBITS)
        elif encoding not in ("", "identity", "none"):
            raise FetchError(f"unsupported content encoding {encoding}")

    def _emit(self, data: bytes) -> None:
        if len(self.buf) + len(data) > self.limit:
            raise FetchError(f"too large: over {_fmt_size(self.limit)} after decompression")
        self.buf += data

    def feed(self, chunk: bytes) -> None:
        if self._d is None:
            self._emit(chunk)
            return
        data = chunk
        while data:
            room = self.limit - len(self.buf) + 1
            try:
                out = self._d.decompress(data, room)
            except zlib.error as exc:
                if self.encoding == "deflate" and not self._deflate_raw_tried and not self.buf:
                    self._deflate_raw_tried = True  # some servers send raw deflate without zlib header
                    self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise FetchError(f"corrupt {self.encoding} response: {exc}") from None
            self._emit(out)
            if self._d.unconsumed_tail:
                data = self._d.unconsumed_tail
            elif self._d.eof and self._d.unused_data.strip(b"\x00"):
                data = self._d.unused_data  # concatenated gzip members
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                data = b""

    def finish(self) -> bytes:
        if self._d is not None:
            self._emit(self._d.flush())
        return bytes(self.buf)


def _fmt_size(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB else f"{n / 1024:g} KB"


# --------------------------------------------------------------------------- the fetcher


@dataclass(slots=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    ips: list[str]


@dataclass(slots=True)
class _Hop:
    """Internal outcome of one request: a redirect or a final result."""

    result: FetchResult | None = None
    location: str | None = None
    status: int = 0


class Fetcher:
    """Async HTTP fetcher; use as ``async with Fetcher() as f: await f.fetch(url)``."""

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        connect_timeout: float = 10.0,
        max_bytes: int = 15 * MB,
        max_decompressed_bytes: int = 50 * MB,
        max_redirects: int = 5,
        per_host_concurrency: int = 2,
        per_host_delay: float = 0.5,
        max_concurrency: int = 8,
        respect_robots: bool = True,
        retries: int = 2,
        backoff_base: float = 0.5,
        max_retry_after: float = 60.0,
        max_crawl_delay: float = 10.0,
        allow_private_network: bool = False,
        resolver: Resolver | None = None,
        address_policy: AddressPolicy | None = None,
        user_agent: str = USER_AGENT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.max_bytes = max_bytes
        self.max_decompressed_bytes = max_decompressed_bytes
        self.max_redirects = max_redirects
        self.per_host_concurrency = per_host_concurrency
        self.per_host_delay = per_host_delay
        self.max_concurrency = max_concurrency
        self.respect_robots = respect_robots
        self.retries = retries
        self.backoff_base = backoff_base
        self.max_retry_after = max_retry_after
        self._retry = RetryPolicy(base=backoff_base, cap=max_retry_after)
        self.max_crawl_delay = max_crawl_delay
        self.allow_private_network = allow_private_network
        self.resolver: Resolver = resolver or system_resolver
        self.address_policy: AddressPolicy = address_policy or address_problem
        self.user_agent = user_agent
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._host_sems: dict[str, asyncio.Semaphore] = {}
        self._host_locks: dict[str, asyncio.Lock] = {}
        self._host_last: dict[str, float] = {}
        self._robots: dict[str, RobotFileParser | None] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                limits=httpx.Limits(
                    max_keepalive_connections=0, max_connections=max(self.max_concurrency, 4)
                ),
                transport=self._transport,
            )
        return self._client

    # ----------------------------------------------------------------- public API

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: Iterable[Kind] = DEFAULT_KINDS,
    ) -> FetchResult:
        """Fetch ``url`` following checked redirects; raise ``FetchError`` on any failure.

        Pass the previous ``etag``/``last_modified`` for a conditional GET: an unchanged
        resource comes back as a result with ``not_modified=True`` and an empty body.
        """
        try:
            return await self._fetch(
                url,
                etag=etag,
                last_modified=last_modified,
                accept=frozenset(accept),
                check_robots=self.respect_robots,
                retries=self.retries,
                max_bytes=self.max_bytes,
            )
        except FetchError as exc:
            if not exc.url:
                exc.url = url
            raise
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise FetchError(f"invalid URL: {exc}", url=url) from None

    async def fetch_many(
        self,
        urls: Iterable[str],
        *,
        accept: Iterable[Kind] = DEFAULT_KINDS,
    ) -> list[FetchResult | FetchError]:
        """Fetch many URLs concurrently; failures come back as ``FetchError`` items, in order."""
        kinds = frozenset(accept)
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(u: str) -> FetchResult | FetchError:
            async with gate:
                try:
                    return await self.fetch(u, accept=kinds)
                except FetchError as exc:
                    return exc
                except Exception as exc:  # one bad URL must never sink the batch
                    return FetchError(f"unexpected error: {type(exc).__name__}: {exc}", url=u)

        return list(await asyncio.gather(*(one(u) for u in urls)))

    # ----------------------------------------------------------------- internals

    async def _fetch(
        self,
        url: str,
        *,
        etag: str | None,
        last_modified: str | None,
        accept: frozenset[Kind],
        check_robots: bool,
        retries: int,
        max_bytes: int,
    ) -> FetchResult:
        current = url
        chain: list[str] = []
        for _hop in range(self.max_redirects + 1):
            target = await self._check_url(current)
            if check_robots and not await self._robots_allowed(target):
                raise FetchError(
                    f"blocked by robots.txt: {current}; pass --ignore-robots to fetch anyway", url=url
                )
            headers = {"User-Agent": self.user_agent, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate"}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            hop = await self._with_retries(target, headers, accept, retries, max_bytes)
            if hop.result is not None:
                r = hop.result
                return FetchResult(
                    url=url,
                    final_url=current,
                    status=r.status,
                    content_type=r.content_type,
                    kind=r.kind,
                    body=r.body,
                    etag=r.etag,
                    last_modified=r.last_modified,
                    not_modified=r.not_modified,
                    fetched_at=r.fetched_at,
                    charset=r.charset,
                    redirects=tuple(chain),
                )
            assert hop.location is not None
            chain.append(current)
            current = urljoin(current, hop.location.strip())
        raise FetchError(f"too many redirects (over {self.max_redirects})", url=url)

    async def _check_url(self, url: str) -> _Target:
        """Validate scheme and every resolved address before any connection is made."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise FetchError(f"invalid URL: {exc}", url=url) from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(f"refused: unsupported scheme {scheme or '(none)'!r} in {url}", url=url)
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise FetchError(f"invalid URL: no host in {url}", url=url)
        port = port or (443 if scheme == "https" else 80)
        literal = _parse_ip(host)
        if literal is not None:
            ips = [str(literal)]
        else:
            try:
                ips = list(await asyncio.wait_for(self.resolver(host, port), self.connect_timeout))
            except TimeoutError:
                raise FetchError(f"DNS lookup for {host} timed out", url=url) from None
            except (OSError, UnicodeError) as exc:
                raise FetchError(f"cannot resolve host {host}: {exc}", url=url) from None
        if not ips:
            raise FetchError(f"cannot resolve host {host}", url=url)
        if not self.allow_private_network:
            for text in ips:
                ip = _parse_ip(text)
                problem = "unparseable" if ip is None else self.address_policy(ip)
                if problem:
                    what = (
                        f"{host} is a {problem} address"
                        if literal is not None
                        else (f"{host} resolves to {problem} address {text}")
                    )
                    raise FetchError(f"refused: {what}; pass --allow-private-network to allow", url=url)
        return _Target(url=url, scheme=scheme, host=host, port=port, ips=ips)

    async def _robots_allowed(self, target: _Target) -> bool:
        key = f"{target.scheme}://{target.host}:{target.port}"
        if key not in self._robots:
            lock = self._robots_locks.setdefault(key, asyncio.Lock())
            async with lock:
                if key not in self._robots:
                    self._robots[key] = await self._load_robots(target)
        parser = self._robots[key]
        return parser is None or parser.can_fetch(_ROBOTS_AGENT, target.url)

    async def _load_robots(self, target: _Target) -> RobotFileParser | None:
        """Fetch and parse robots.txt; anything but a readable 2xx means "all allowed"."""
        netloc = f"[{target.host}]" if ":" in target.host else target.host
        default = 443 if target.scheme == "https" else 80
        if target.port != default:
            netloc += f":{target.port}"
        url = urlunsplit((target.scheme, netloc, "/robots.txt", "", ""))
        try:
            res = await self._fetch(
                url,
                etag=None,
                last_modified=None,
                accept=frozenset({"text", "html"}),
                check_robots=False,
                retries=0,
                max_bytes=512 * 1024,
            )
        except FetchError:
            return None
        if res.kind != "text":
            return None
        parser = RobotFileParser()
        parser.parse(res.text().splitlines())
        return parser

    def _crawl_delay(self, host: str) -> float:
        delay = self.per_host_delay
        for key, parser in self._robots.items():
            if parser is not None and key.split("://", 1)[1].rsplit(":", 1)[0] == host:
                cd = parser.crawl_delay(_ROBOTS_AGENT)
                if cd:
                    delay = max(delay, min(float(cd), self.max_crawl_delay))
        return delay

    @contextlib.asynccontextmanager
    async def _host_slot(self, host: str) -> AsyncIterator[None]:
        sem = self._host_sems.setdefault(host, asyncio.Semaphore(self.per_host_concurrency))
        async with sem:
            lock = self._host_locks.setdefault(host, asyncio.Lock())
            async with lock:
                delay = self._crawl_delay(host)
                last = self._host_last.get(host)
                if last is not None and delay > 0:
                    wait = last + delay - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                self._host_last[host] = time.monotonic()
            yield

    async def _with_retries(
        self, target: _Target, headers: dict[str, str], accept: frozenset[Kind], retries: int, max_bytes: int
    ) -> _Hop:
        attempt = 0
        while True:
            try:
                async with self._host_slot(target.host):
                    return await self._request(target, headers, accept, max_bytes)
            except _Transient as exc:
                if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
                    raise FetchError(
                        f"{exc.reason} (server asks to retry after {exc.retry_after:g} s)",
                        url=target.url,
                        status=exc.status,
                    ) from None
                if attempt >= retries:
                    raise FetchError(exc.reason, url=target.url, status=exc.status) from None
                attempt += 1
                await asyncio.sleep(self._retry.delay(attempt, exc.retry_after))

    async def _request(
        self, target: _Target, headers: dict[str, str], accept: frozenset[Kind], max_bytes: int
    ) -> _Hop:
        """One GET to the checked IP(s); falls through to the next address on connect errors."""
        parts = urlsplit(target.url)
        default = 443 if target.scheme == "https" else 80
        host_header = target.host if target.port == default else f"{target.host}:{target.port}"
        if ":" in target.host and target.port == default:
            host_header = f"[{target.host}]"
        last_reason = "connection failed"
        for ip in target.ips:
            ip_netloc = f"[{ip}]" if ":" in ip else ip
            ip_url = urlunsplit(
                (target.scheme, f"{ip_netloc}:{target.port}", parts.path or "/", parts.query, "")
            )
            ext: dict[str, object] = {}
            if target.scheme == "https":
                ext["sni_hostname"] = target.host
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._exchange(
                        ip_url, {**headers, "Host": host_header}, ext, target, accept, max_bytes
                    )
            except httpx.ConnectTimeout:
                last_reason = f"connection to {target.host} timed out after {self.connect_timeout:g} s"
            except httpx.ConnectError as exc:
                last_reason = f"connection to {target.host} failed: {exc or type(exc).__name__}"
            except (TimeoutError, httpx.TimeoutException):
                raise _Transient(f"timed out after {self.timeout:g} s") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                raise _Transient(f"connection to {target.host} broke: {exc or type(exc).__name__}") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"HTTP error: {exc or type(exc).__name__}", url=target.url) from None
        raise _Transient(last_reason)

    async def _exchange(
        self,
        ip_url: str,
        headers: dict[str, str],
        ext: dict[str, object],
        target: _Target,
        accept: frozenset[Kind],
        max_bytes: int,
    ) -> _Hop:
        client = self._get_client()
        request = client.build_request("GET", ip_url, headers=headers, extensions=ext)
        response = await client.send(request, stream=True)
        try:
            status = response.status_code
            if status in _REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"HTTP {status} redirect without a Location header", status=status)
                return _Hop(location=location, status=status)
            etag = response.headers.get("etag")
            last_mod = response.headers.get("last-modified")
            ctype = response.headers.get("content-type", "")
            if status == 304:
                return _Hop(
                    result=FetchResult(
                        url=target.url,
                        final_url=target.url,
                        status=304,
                        content_type=ctype,
                        kind=None,
                        body=b"",
                        etag=etag,
                        last_modified=last_mod,
                        not_modified=True,
                    )
                )
            if status == 429:
                raise _Transient(
                    "HTTP 429 (rate limited)",
                    status=429,
                    retry_after=parse_retry_after(response.headers),
                )
            if status >= 500:
                raise _Transient(
                    f"HTTP {status}",
                    status=status,
                    retry_after=parse_retry_after(response.headers) if status == 503 else None,
                )
            if not 200 <= status < 300:
                raise FetchError(f"HTTP {status}", status=status)
            mime, charset = _split_content_type(ctype)
            if _header_rejects(mime):
                raise FetchError(f"unsupported content type {mime}", status=status)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"too large: over {_fmt_size(max_bytes)}", status=status)
            decoder = _Decoder(
                response.headers.get("content-encoding", "").strip().lower(), self.max_decompressed_bytes
            )
            received = 0
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > max_bytes:
                    raise FetchError(f"too large: over {_fmt_size(max_bytes)}", status=status)
                decoder.feed(chunk)
            body = decoder.finish()
        finally:
            await response.aclose()
        if not body:
            raise FetchError(f"empty response (HTTP {status})", status=status)
        kind, sniffed = sniff_kind(body, ctype)
        if kind is None:
            raise FetchError(f"unsupported content type {sniffed or 'unknown'}", status=status)
        if kind not in accept:
            raise FetchError(
                f"unsupported content type {sniffed} (expected {', '.join(sorted(accept))})", status=status
            )
        return _Hop(
            result=FetchResult(
                url=target.url,
                final_url=target.url,
                status=status,
                content_type=ctype,
                kind=kind,
                body=body,
                etag=etag,
                last_modified=last_mod,
                charset=charset,
            )
        )
