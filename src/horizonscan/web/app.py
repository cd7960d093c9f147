"""The web app: FastAPI with server-rendered pages, a JSON API under /api, static CSS and JS.

`create_app` wires one Store into the routes; `horizonscan serve` runs it with uvicorn. The
OpenAPI description is at /api/openapi.json and rendered, without any script from elsewhere,
at /api/docs (FastAPI's own docs pages load Swagger UI from a CDN, which an offline machine
cannot reach; they are turned off).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment

from horizonscan import __version__
from horizonscan.config import Settings
from horizonscan.store import Store
from horizonscan.web.data import WebData
from horizonscan.web.render import STATIC, Linker, make_env
from horizonscan.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SecurityConfig,
    SecurityMiddleware,
    csrf_ok,
)
from horizonscan.web.trends_view import TrendsView


@dataclass
class AppState:
    store: Store
    settings: Settings
    data: WebData
    env: Environment
    trends: TrendsView
    link: Linker = field(default_factory=Linker)
    ask_client_factory: Any = None  # tests and embedders may swap how the ask LLM client is made


def state_of(request: Request) -> AppState:
    st: AppState = request.app.state.hs
    return st


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    st = state_of(request)
    ctx = {
        "link": st.link,
        "static_site": False,
        "csrf": getattr(request.state, "csrf", ""),
        "request_path": request.url.path,
        "nav": context.pop("nav", ""),
        "title": context.pop("title", "horizonscan"),
        **context,
    }
    html = st.env.get_template(template).render(**ctx)
    return HTMLResponse(html, status_code=status_code)


async def check_csrf(request: Request, supplied: str | None = None) -> None:
    """403 unless the request echoes this browser's CSRF token (form field or header)."""
    if supplied is None:
        supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        supplied = value if isinstance(value, str) else None
    if not csrf_ok(request.cookies.get(CSRF_COOKIE), supplied):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again.")


def create_app(
    store: Store,
    settings: Settings,
    *,
    token: str | None = None,
    allowed_hosts: frozenset[str] | None = None,
    secure_cookies: bool = False,
) -> FastAPI:
    """The app over `store`. `allowed_hosts` defaults to loopback names without a token and to
    any host with one (the token then guards every request)."""
    from horizonscan.web import api, pages
    from horizonscan.web.security import LOOPBACK_NAMES

    app = FastAPI(
        title="horizonscan",
        version=__version__,
        description="Browse, search, curate and ask a horizonscan corpus. State-changing calls need "
        "the CSRF token (GET /api/csrf, then the X-CSRF-Token header) and an Origin header naming "
        "this site; a server bound beyond localhost also needs `Authorization: Bearer TOKEN`.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    data = WebData(store)
    data.search.ensure_triggers()
    app.state.hs = AppState(
        store=store, settings=settings, data=data, env=make_env(), trends=TrendsView(store, settings)
    )
    app.include_router(pages.router)
    app.include_router(api.router, prefix="/api")
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    hosts = allowed_hosts if allowed_hosts is not None else (None if token else LOOPBACK_NAMES)
    app.add_middleware(
        SecurityMiddleware,
        config=SecurityConfig(token=token, allowed_hosts=hosts, secure_cookies=secure_cookies),
    )

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        titles = {404: "Not found", 403: "Refused", 400: "Bad request"}
        return page(
            request,
            "error.html",
            status_code=exc.status_code,
            title=titles.get(exc.status_code, "Error"),
            status=exc.status_code,
            message=str(exc.detail),
        )

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "Not found"}, status_code=404)
        return page(
            request, "error.html", status_code=404, title="Not found", status=404, message="No such page."
        )

    return app
