"""The JSON API (/api): the same data as the pages, for scripts and other tools."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from horizonscan.models import AskResult
from horizonscan.web.app import check_csrf, state_of
from horizonscan.web.data import hit_json
from horizonscan.web.filters import parse_filter

router = APIRouter(tags=["corpus"])


async def _csrf(request: Request) -> None:
    await check_csrf(request)


class ArticleCurationPatch(BaseModel):
    """Only the fields given change; `note: ""` removes the note."""

    starred: bool | None = None
    hidden: bool | None = None
    note: str | None = Field(default=None, max_length=4000)


class ItemCurationPatch(ArticleCurationPatch):
    key: str = Field(description="the item's key, as listed in GET /api/articles/{id}", max_length=240)
    reviewed: bool | None = None


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=1000)


@router.get("/csrf", summary="This browser's CSRF token (send it back as X-CSRF-Token)")
def csrf(request: Request) -> dict[str, str]:
    return {"csrf_token": getattr(request.state, "csrf", "")}


@router.get("/articles", summary="Analyzed articles, newest first, searched and filtered")
def articles(
    request: Request,
    q: str = Query("", description='full-text search: words (prefixes) and "quoted phrases"'),
    category: str | None = None,
    theme: str | None = None,
    dimension: str | None = Query(None, description="STEEP+V: social, technological, …, values"),
    horizon: str | None = Query(None, description="H1, H2 or H3"),
    language: str | None = Query(None, description="ISO 639-1 code"),
    origin: str | None = None,
    min_relevancy: int | None = Query(None, ge=0, le=5),
    date_from: str | None = Query(None, description="YYYY-MM-DD"),
    date_to: str | None = Query(None, description="YYYY-MM-DD"),
    evidence: str | None = Query(None, description="found (all items' evidence found) or missing"),
    curation: str | None = Query(
        None, description="starred, noted, hidden or all (default: hidden left out)"
    ),
    sort: str | None = Query(None, description="relevance, newest or oldest"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    params = {k: v for k, v in request.query_params.items()}
    f = parse_filter(params)
    result = state_of(request).data.search.search(f, limit=limit, offset=offset)
    return {
        "total": result.total,
        "offset": result.offset,
        "limit": result.limit,
        "articles": [hit_json(h) for h in result.hits],
    }


@router.get("/facets", summary="Values the filters offer, with counts")
def facets(request: Request) -> dict[str, Any]:
    f = state_of(request).data.search.facets()
    return {
        "total": f.total, "categories": f.categories, "languages": f.languages, "origins": f.origins,
        "themes": f.themes, "dimensions": f.dimensions, "horizons": f.horizons,
        "first_date": f.first_date, "last_date": f.last_date,
    }  # fmt: skip


@router.get("/articles/{article_id}", summary="One article: analysis, items with evidence, curation")
def article(request: Request, article_id: int) -> dict[str, Any]:
    data = state_of(request).data.article_page(article_id)
    if data is None:
        raise HTTPException(404, f"No analyzed article {article_id}.")
    return data.as_json()


@router.patch(
    "/articles/{article_id}/curation",
    summary="Star, hide or annotate an article",
    dependencies=[Depends(_csrf)],
)
def curate_article(request: Request, article_id: int, body: ArticleCurationPatch) -> dict[str, object]:
    st = state_of(request)
    if article_id not in st.data.search.docs([article_id]):
        raise HTTPException(404, f"No analyzed article {article_id}.")
    cur = st.data.curation.set_article(
        article_id, starred=body.starred, hidden=body.hidden, note=body.note, clear_note=body.note == ""
    )
    return cur.as_dict()


@router.patch(
    "/articles/{article_id}/items/curation",
    summary="Star, hide, annotate or mark reviewed an item of an article",
    dependencies=[Depends(_csrf)],
)
def curate_item(request: Request, article_id: int, body: ItemCurationPatch) -> dict[str, object]:
    st = state_of(request)
    detail = st.data.article_page(article_id)
    if detail is None or body.key not in {i.key for i in detail.items}:
        raise HTTPException(404, "No such item in this article.")
    cur = st.data.curation.set_item(
        article_id, body.key, starred=body.starred, hidden=body.hidden, reviewed=body.reviewed,
        note=body.note, clear_note=body.note == "",
    )  # fmt: skip
    return cur.as_dict(item=True)


@router.get("/stories", summary="Stories of two or more articles")
def stories(request: Request) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "title": s.title,
            "languages": s.languages,
            "articles": [hit_json(m) for m in s.members],
        }
        for s in state_of(request).data.stories()
    ]


@router.get("/stories/{story_id}", summary="One story: its sources and merged items")
def story(request: Request, story_id: int) -> dict[str, Any]:
    s = state_of(request).data.story_page(story_id)
    if s is None:
        raise HTTPException(404, f"No story {story_id}.")
    return {
        "id": s.id,
        "title": s.title,
        "summary": s.summary,
        "articles": [
            {"number": n, "id": m.id, "url": m.url, "language": m.language}
            for n, m in enumerate(s.members, 1)
        ],
        "items": [
            {**m.item.model_dump(), "sources": m.sources, "starred": m.starred}
            for _kind, _label, rows in s.sections
            for m in rows
        ],
    }


@router.get("/trends", summary="Trends, with status, STEEP+V dimension and horizon")
def trends(request: Request, status: str | None = None, dimension: str | None = None) -> dict[str, Any]:
    return state_of(request).trends.listing_json(status=status, dimension=dimension)


@router.get("/trends/{trend_id}", summary="One trend with its members and timeline")
def trend(request: Request, trend_id: int) -> dict[str, Any]:
    data = state_of(request).trends.trend_json(trend_id)
    if data is None:
        raise HTTPException(404, f"No trend {trend_id}.")
    return data


@router.get("/usage", summary="LLM calls, tokens and cost by model (the call ledger)")
def usage(request: Request) -> dict[str, Any]:
    u = state_of(request).data.usage(recent=0)
    return {"models": u["models"], "total": u["total"], "purposes": u["purposes"]}


@router.post(
    "/ask",
    summary="Ask the corpus: one LLM call over the retrieved articles; every claim cites them",
    dependencies=[Depends(_csrf)],
)
async def ask(request: Request, body: Question) -> AskResult:
    from horizonscan.web.asking import ask_corpus

    st = state_of(request)
    return await ask_corpus(
        st.store, st.data.search, st.settings, body.question.strip(), client_factory=st.ask_client_factory
    )
