"""The HTML pages. Sync routes (SQLite reads) run in the threadpool; only `ask` awaits the LLM."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from horizonscan.models import Curation
from horizonscan.web.app import check_csrf, page, state_of
from horizonscan.web.filters import local_path, page_number, parse_filter

router = APIRouter(include_in_schema=False)
PER_PAGE = 30
MAX_QUESTION_CHARS = 1000


@router.get("/", response_class=HTMLResponse)
def articles(request: Request) -> HTMLResponse:
    st = state_of(request)
    params = dict(request.query_params)
    f = parse_filter(params)
    number = page_number(params)
    result = st.data.search.search(f, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
    facets = st.data.search.facets()
    active = f.active()
    return page(
        request,
        "articles.html",
        title="Articles",
        nav="articles",
        result=result,
        facets=facets,
        f=f,
        active=active,
        page_number=number,
        pages=max(1, -(-result.total // PER_PAGE)),
        prev_url=st.link.home(**{**active, "page": number - 1}) if number > 1 else None,
        next_url=st.link.home(**{**active, "page": number + 1}) if result.has_more else None,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article(request: Request, article_id: int) -> HTMLResponse:
    st = state_of(request)
    data = st.data.article_page(article_id)
    if data is None:
        raise HTTPException(404, f"No analyzed article {article_id}.")
    data.trends = st.trends.trends_of_article(article_id)
    return page(
        request, "article.html", title=data.analysis.title, nav="articles", a=data,
        here=request.url.path,
    )  # fmt: skip


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "on", "yes")


def _curation_response(request: Request, cur: Curation, default: str, next_: Any, *, item: bool) -> Response:
    if _wants_json(request):
        return JSONResponse(cur.as_dict(item=item))
    return RedirectResponse(local_path(next_ if isinstance(next_, str) else None, default), status_code=303)


@router.post("/articles/{article_id}/curate")
async def curate_article(request: Request, article_id: int) -> Response:
    form = await request.form()
    await check_csrf(request, form.get("csrf") if isinstance(form.get("csrf"), str) else None)  # type: ignore[arg-type]
    st = state_of(request)
    if article_id not in await run_in_threadpool(st.data.search.docs, [article_id]):
        raise HTTPException(404, f"No analyzed article {article_id}.")
    field, value = form.get("field"), form.get("value")
    repo = st.data.curation
    if field == "starred":
        cur = await run_in_threadpool(lambda: repo.set_article(article_id, starred=_flag(value)))
    elif field == "hidden":
        cur = await run_in_threadpool(lambda: repo.set_article(article_id, hidden=_flag(value)))
    elif field == "note":
        note = value if isinstance(value, str) else ""
        cur = await run_in_threadpool(lambda: repo.set_article(article_id, note=note, clear_note=True))
    else:
        raise HTTPException(400, "field must be starred, hidden or note")
    return _curation_response(request, cur, st.link.article(article_id), form.get("next"), item=False)


@router.post("/articles/{article_id}/items/curate")
async def curate_item(request: Request, article_id: int) -> Response:
    form = await request.form()
    await check_csrf(request, form.get("csrf") if isinstance(form.get("csrf"), str) else None)  # type: ignore[arg-type]
    st = state_of(request)
    key = form.get("key")
    detail = await run_in_threadpool(st.data.article_page, article_id)
    if detail is None or not isinstance(key, str) or key not in {i.key for i in detail.items}:
        raise HTTPException(404, "No such item in this article.")
    field, value = form.get("field"), form.get("value")
    repo = st.data.curation
    if field in ("starred", "hidden", "reviewed"):
        flags = {str(field): _flag(value)}
        cur = await run_in_threadpool(lambda: repo.set_item(article_id, key, **flags))  # type: ignore[arg-type]
    elif field == "note":
        note = value if isinstance(value, str) else ""
        cur = await run_in_threadpool(lambda: repo.set_item(article_id, key, note=note, clear_note=True))
    else:
        raise HTTPException(400, "field must be starred, hidden, reviewed or note")
    return _curation_response(request, cur, st.link.article(article_id), form.get("next"), item=True)


@router.get("/stories", response_class=HTMLResponse)
def stories(request: Request) -> HTMLResponse:
    st = state_of(request)
    return page(request, "stories.html", title="Stories", nav="stories", stories=st.data.stories())


@router.get("/stories/{story_id}", response_class=HTMLResponse)
def story(request: Request, story_id: int) -> HTMLResponse:
    st = state_of(request)
    data = st.data.story_page(story_id)
    if data is None:
        raise HTTPException(404, f"No story {story_id}.")
    return page(request, "story.html", title=data.title, nav="stories", s=data)


@router.get("/trends", response_class=HTMLResponse)
def trends(request: Request) -> HTMLResponse:
    st = state_of(request)
    status = (request.query_params.get("status") or "").strip()[:20] or None
    dimension = (request.query_params.get("dimension") or "").strip()[:20] or None
    data = st.trends.listing(status=status, dimension=dimension)
    return page(
        request, "trends.html", title="Trends", nav="trends", t=data, status=status, dimension=dimension
    )


@router.get("/trends/{trend_id}", response_class=HTMLResponse)
def trend(request: Request, trend_id: int) -> HTMLResponse:
    st = state_of(request)
    data = st.trends.trend(trend_id)
    if data is None:
        raise HTTPException(404, f"No trend {trend_id}.")
    return page(request, "trend.html", title=data.view.name, nav="trends", t=data, here=request.url.path)


# matplotlib's SVG styles itself inline; shown through <img>, an SVG never runs scripts.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"


@router.get("/trends/{trend_id}/timeline.svg")
def trend_timeline(request: Request, trend_id: int) -> Response:
    svg = state_of(request).trends.timeline_svg(trend_id)
    if svg is None:
        raise HTTPException(404, f"No trend {trend_id}.")
    return Response(svg, media_type="image/svg+xml", headers={"content-security-policy": SVG_CSP})


@router.get("/radar", response_class=HTMLResponse)
def radar(request: Request) -> HTMLResponse:
    st = state_of(request)
    ring = "horizon" if request.query_params.get("ring") == "horizon" else "status"
    data = st.trends.radar(ring=ring)
    return page(request, "radar.html", title="Radar", nav="radar", r=data)


@router.get("/radar.svg")
def radar_svg(request: Request) -> Response:
    ring = "horizon" if request.query_params.get("ring") == "horizon" else "status"
    svg = state_of(request).trends.radar_svg(ring=ring)
    if svg is None:
        raise HTTPException(404, "Nothing on the radar yet.")
    return Response(svg, media_type="image/svg+xml", headers={"content-security-policy": SVG_CSP})


@router.get("/review", response_class=HTMLResponse)
def review(request: Request) -> HTMLResponse:
    st = state_of(request)
    period = (request.query_params.get("period") or "").strip()[:20]
    data = st.trends.review(period or None)
    return page(request, "review.html", title="Review", nav="review", rv=data, period=period)


@router.post("/review", response_class=HTMLResponse)
async def review_run(request: Request) -> HTMLResponse:
    form = await request.form()
    await check_csrf(request, form.get("csrf") if isinstance(form.get("csrf"), str) else None)  # type: ignore[arg-type]
    raw = form.get("period")
    period = raw.strip()[:20] if isinstance(raw, str) else ""
    st = state_of(request)
    data = await st.trends.run_review(period) if period else st.trends.review(None)
    return page(request, "review.html", title="Review", nav="review", rv=data, period=period)


@router.get("/explore", response_class=HTMLResponse)
def explore(request: Request) -> HTMLResponse:
    st = state_of(request)
    topic = " ".join((request.query_params.get("topic") or "").split())[:200]
    data = st.trends.explore(topic) if topic else None
    return page(request, "explore.html", title="Explore", nav="explore", ex=data, topic=topic)


@router.post("/explore", response_class=HTMLResponse)
async def explore_run(request: Request) -> HTMLResponse:
    form = await request.form()
    await check_csrf(request, form.get("csrf") if isinstance(form.get("csrf"), str) else None)  # type: ignore[arg-type]
    raw = form.get("topic")
    topic = " ".join(raw.split())[:200] if isinstance(raw, str) else ""
    st = state_of(request)
    data = await st.trends.run_explore(topic) if topic else None
    return page(request, "explore.html", title="Explore", nav="explore", ex=data, topic=topic)


@router.get("/usage", response_class=HTMLResponse)
def usage(request: Request) -> HTMLResponse:
    st = state_of(request)
    return page(request, "usage.html", title="Usage and cost", nav="usage", u=st.data.usage())


@router.get("/ask", response_class=HTMLResponse)
def ask_form(request: Request) -> HTMLResponse:
    return page(request, "ask.html", title="Ask the corpus", nav="ask", question="", result=None)


@router.post("/ask", response_class=HTMLResponse)
async def ask(request: Request) -> HTMLResponse:
    from horizonscan.web.asking import ask_corpus

    form = await request.form()
    await check_csrf(request, form.get("csrf") if isinstance(form.get("csrf"), str) else None)  # type: ignore[arg-type]
    raw = form.get("question")
    question = raw.strip()[:MAX_QUESTION_CHARS] if isinstance(raw, str) else ""
    if not question:
        return page(request, "ask.html", title="Ask the corpus", nav="ask", question="", result=None,
                    problem="Type a question first.")  # fmt: skip
    st = state_of(request)
    result = await ask_corpus(
        st.store, st.data.search, st.settings, question, client_factory=st.ask_client_factory
    )
    docs = await run_in_threadpool(st.data.search.docs, [s.article_id for s in result.sources])
    return page(
        request, "ask.html", title="Ask the corpus", nav="ask", question=question, result=result, docs=docs
    )


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    endpoints = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            endpoints.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary") or "",
                    "description": op.get("description") or "",
                    "parameters": [
                        {
                            "name": p.get("name"),
                            "in": p.get("in"),
                            "required": p.get("required", False),
                            "type": (p.get("schema") or {}).get("type")
                            or " | ".join(
                                str(s.get("type"))
                                for s in (p.get("schema") or {}).get("anyOf", [])
                                if s.get("type")
                            ),
                            "description": p.get("description") or "",
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": _body_schema(op),
                }
            )
    return page(request, "api_docs.html", title="API", nav="api", spec=spec, endpoints=endpoints)


def _body_schema(op: dict[str, Any]) -> str | None:
    content = (op.get("requestBody") or {}).get("content") or {}
    for media in content.values():
        ref = (media.get("schema") or {}).get("$ref")
        if ref:
            return str(ref).rsplit("/", 1)[-1]
    return None
