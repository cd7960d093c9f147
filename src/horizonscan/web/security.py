"""The guards in front of every request of the web app.

* Host check: bound to loopback without a token, only loopback host names are served, so a
  web page elsewhere cannot reach the app through DNS rebinding.
* Token: bound to any other address, every request (static files included) must carry the
  token: `Authorization: Bearer`, the `X-HorizonScan-Token` header, or the cookie set when the
  printed `?token=` URL is opened. Compared in constant time.
* CSRF: a state-changing request (POST, PUT, PATCH, DELETE) needs an Origin header naming this
  host, and the per-browser CSRF token (cookie `hs_csrf`, SameSite=Strict) echoed in a form
  field or the `X-CSRF-Token` header (`csrf_ok`, checked by the routes that change state).
* Headers: a Content-Security-Policy with scripts from our own files only (no inline script,
  no `unsafe-inline`, no `eval`), nosniff, no framing, no referrer to other sites (same-origin:
  with no-referrer, Chromium sends `Origin: null` on form posts, which the Origin check refuses).

A pure ASGI middleware (no per-request task switching): it costs microseconds per request.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_COOKIE = "hs_csrf"
TOKEN_COOKIE = "hs_token"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two secrets (False when either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class SecurityConfig:
    token: str | None = None  # required on every request when set
    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES  # Host names served; None: any
    secure_cookies: bool = False


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _cookies(raw: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is treated as no cookies
        return {}
    return {k: m.value for k, m in jar.items()}


def _cookie(name: str, value: str, *, secure: bool, same_site: str, max_age: int | None = None) -> bytes:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", f"SameSite={same_site}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode()


async def _plain(
    send: Send, status: int, body: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(data)).encode()),
                *SECURITY_HEADERS,
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, config: SecurityConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for k, v in scope.get("headers") or []:
            headers.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
        cfg = self.config
        host = headers.get("host", "")
        if cfg.allowed_hosts is not None and _host_name(host) not in cfg.allowed_hosts:
            await _plain(
                send, 400, "Unknown host: open the app at the address `horizonscan serve` printed.\n"
            )
            return
        cookies = _cookies(headers.get("cookie", ""))
        method = scope.get("method", "GET").upper()
        if cfg.token:
            auth = headers.get("authorization", "")
            bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if same(query.get("token"), cfg.token) and method == "GET":
                # The printed URL: remember the token in a cookie and drop it from the address bar.
                rest = urlencode(
                    [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode()) if k != "token"]
                )
                location = scope.get("path", "/") + (f"?{rest}" if rest else "")
                cookie = _cookie(TOKEN_COOKIE, cfg.token, secure=cfg.secure_cookies, same_site="Lax")
                await _plain(send, 303, "", [(b"location", location.encode()), (b"set-cookie", cookie)])
                return
            supplied = bearer or headers.get("x-horizonscan-token") or cookies.get(TOKEN_COOKIE)
            if not same(supplied, cfg.token):
                await _plain(
                    send,
                    401,
                    "A token is required: open the URL that `horizonscan serve` printed, or send "
                    "`Authorization: Bearer TOKEN`.\n",
                    [(b"www-authenticate", b'Bearer realm="horizonscan"')],
                )
                return
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if not origin or origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
                await _plain(
                    send, 403, "Cross-origin request refused: the Origin header must name this site.\n"
                )
                return
        csrf = cookies.get(CSRF_COOKIE, "")
        fresh = not _TOKEN_SHAPE.match(csrf)
        if fresh:
            csrf = new_token()
        scope.setdefault("state", {})["csrf"] = csrf
        set_cookie = (
            _cookie(CSRF_COOKIE, csrf, secure=cfg.secure_cookies, same_site="Strict") if fresh else None
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                # A route may narrow or adapt the policy for one response (an SVG chart's styles).
                extra = [h for h in SECURITY_HEADERS if h[0] not in names]
                if b"cache-control" not in names:
                    static = str(scope.get("path", "")).startswith("/static/")
                    extra.append((b"cache-control", b"public, max-age=3600" if static else b"no-store"))
                if set_cookie is not None:
                    extra.append((b"set-cookie", set_cookie))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_ok(cookie: str | None, supplied: str | None) -> bool:
    """The token sent with a form or header must be this browser's CSRF cookie (double submit:
    another site can make the browser send the cookie, but cannot read it to echo it)."""
    return bool(cookie and _TOKEN_SHAPE.match(cookie)) and same(cookie, supplied)
