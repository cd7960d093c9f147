"""Domain types shared by every stage, kept in one place so stages agree on shapes.

Two families live here:
* what the LLM must return (`AnalysisOutput` and its items) — its JSON schema is what we send;
* what the pipeline moves around and stores (`Document`, `Analysis`, `CallRecord`, ...).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = "1"

MAX_KEYWORDS = 10
MAX_THEMES = 6
MAX_ITEMS = 6
MAX_SUMMARY_WORDS = 150
# A summary a little over the limit is cut at its last full sentence rather than re-asked.
SUMMARY_MIN_KEPT_WORDS = 60


class Category(StrEnum):
    technology = "technology"
    science = "science"
    economy = "economy"
    politics = "politics"
    society = "society"
    environment = "environment"
    health = "health"
    culture = "culture"
    sport = "sport"
    other = "other"


class ArticleType(StrEnum):
    news = "news"
    blog_post = "blog post"
    research_article = "research article"
    opinion = "opinion"
    press_release = "press release"
    report = "report"
    social_post = "social post"
    other = "other"


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _enum_lenient(value: Any, enum: type[StrEnum]) -> Any:
    """Map 'Technology' / 'blog_post' onto the enum; unknown strings become 'other'.

    A wrong label is not worth a paid re-ask: 'other' is the documented fallback.
    """
    if not isinstance(value, str):
        return value
    norm = _clean(value).lower().replace("_", " ").replace("-", " ")
    for member in enum:
        if member.value == norm:
            return member.value
    return "other"


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class _Named(_Out):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(min_length=1)

    @field_validator("name", "description", mode="before")
    @classmethod
    def _fold(cls, v: Any) -> Any:
        return _clean(v) if isinstance(v, str) else v


class _Rated(_Out):
    relevancy: int = Field(ge=0, le=5)
    evidence: str = Field(description="short verbatim quote from the article")

    @field_validator("evidence", mode="before")
    @classmethod
    def _fold_evidence(cls, v: Any) -> Any:
        return _clean(v) if isinstance(v, str) else v


class Item(_Rated, _Named):
    """An emerging behavior, technology or issue."""


class _Change(_Named):
    change: str = Field(min_length=1, description="from what to what")
    ten_year: str = Field(min_length=1, description="what may differ in 10 years")
    driving_force: str = Field(min_length=1)

    @field_validator("change", "ten_year", "driving_force", mode="before")
    @classmethod
    def _fold_more(cls, v: Any) -> Any:
        return _clean(v) if isinstance(v, str) else v


class Signal(_Rated, _Change):
    """A weak signal of change; fields in the order a model should think them through."""


def _summary_words(v: str) -> str:
    """At most MAX_SUMMARY_WORDS words: an over-long summary keeps its sentences that fit.

    Only when that would leave too little (one endless sentence) is it refused, and re-asked.
    """
    words = v.split()
    if len(words) <= MAX_SUMMARY_WORDS:
        if v.rstrip()[-1:] in ".!?\"'”»)":
            return v
        # Cut off mid-sentence (an output limit): keep the complete sentences, if enough remain.
        cut = max(v.rfind(". "), v.rfind("! "), v.rfind("? "))
        kept = v[: cut + 1].strip() if cut > 0 else ""
        return kept if len(kept.split()) >= 15 else v
    head = " ".join(words[:MAX_SUMMARY_WORDS])
    cut = max(head.rfind(". "), head.rfind("! "), head.rfind("? "), head.rfind("."))
    kept = head[: cut + 1].strip() if cut > 0 else ""
    if len(kept.split()) < SUMMARY_MIN_KEPT_WORDS:
        raise ValueError(f"summary has {len(words)} words; at most {MAX_SUMMARY_WORDS} allowed")
    return kept


Summary = Annotated[str, Field(min_length=1), AfterValidator(_summary_words)]


def _cap(values: Any, limit: int) -> Any:
    """Extra list entries are dropped, not re-asked: the first ones are the model's best."""
    if isinstance(values, list):
        seen: list[Any] = []
        for v in values:
            key = _clean(v).lower() if isinstance(v, str) else v
            if isinstance(v, str) and (not key or key in [_clean(s).lower() for s in seen]):
                continue
            seen.append(_clean(v) if isinstance(v, str) else v)
        return seen[:limit]
    return values


class AnalysisOutput(_Out):
    """Exactly what one LLM call returns for one article (all in English)."""

    title: str = Field(min_length=1, max_length=300)
    summary: Summary
    keywords: list[str] = Field(min_length=1, json_schema_extra={"maxItems": MAX_KEYWORDS})
    themes: list[str] = Field(min_length=1, json_schema_extra={"maxItems": MAX_THEMES})
    category: Category
    type: ArticleType
    signals: list[Signal] = Field(min_length=1, json_schema_extra={"maxItems": MAX_ITEMS})
    behaviors: list[Item] = Field(json_schema_extra={"maxItems": MAX_ITEMS})
    technologies: list[Item] = Field(json_schema_extra={"maxItems": MAX_ITEMS})
    issues: list[Item] = Field(json_schema_extra={"maxItems": MAX_ITEMS})

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, v: Any) -> Any:
        return _clean(v).strip("_*# ") if isinstance(v, str) else v

    @field_validator("keywords", mode="before")
    @classmethod
    def _kw(cls, v: Any) -> Any:
        return _cap(v, MAX_KEYWORDS)

    @field_validator("themes", mode="before")
    @classmethod
    def _th(cls, v: Any) -> Any:
        return _cap(v, MAX_THEMES)

    @field_validator("signals", "behaviors", "technologies", "issues", mode="before")
    @classmethod
    def _items(cls, v: Any) -> Any:
        """At most MAX_ITEMS, and an item that repeats an earlier one's description is dropped."""
        if not isinstance(v, list):
            return v
        kept: list[Any] = []
        seen: set[str] = set()
        for item in v:
            desc = item.get("description") if isinstance(item, dict) else None
            key = _clean(desc).lower() if isinstance(desc, str) else None
            if key and key in seen:
                continue
            if key:
                seen.add(key)
            kept.append(item)
        return kept[:MAX_ITEMS]

    @field_validator("category", mode="before")
    @classmethod
    def _cat(cls, v: Any) -> Any:
        return _enum_lenient(v, Category)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> Any:
        return _enum_lenient(v, ArticleType)


class StorySynthesis(_Out):
    """One LLM call per story (`stories --synthesize`): a merged English title and summary."""

    title: str = Field(min_length=1, max_length=300)
    summary: Summary


ItemKind = Literal["signal", "behavior", "technology", "issue"]
KIND_FIELDS: dict[ItemKind, str] = {
    "signal": "signals",
    "behavior": "behaviors",
    "technology": "technologies",
    "issue": "issues",
}


class CheckedItem(BaseModel):
    """An item as stored: the model's words plus whether its evidence was found in the text."""

    kind: ItemKind
    name: str
    description: str
    relevancy: int
    evidence: str = ""
    evidence_found: bool = False
    evidence_score: float = 0.0
    change: str | None = None
    ten_year: str | None = None
    driving_force: str | None = None


class Origin(BaseModel):
    """Where a link came from, e.g. a newsletter issue."""

    label: str
    url: str | None = None

    @classmethod
    def parse(cls, spec: str) -> Origin:
        """`LABEL=URL` or `LABEL`; a bare URL is its own label."""
        spec = spec.strip()
        if not spec:
            raise ValueError("empty --origin")
        label, sep, url = spec.partition("=")
        if sep and url.strip().lower().startswith(("http://", "https://")):
            return cls(label=label.strip() or url.strip(), url=url.strip())
        if spec.lower().startswith(("http://", "https://")):
            return cls(label=spec, url=spec)
        return cls(label=spec)


class Document(BaseModel):
    """Clean text plus metadata, the output of `extract`."""

    source: str  # path or URL as given
    url: str | None = None  # canonical URL when known
    title: str | None = None
    author: str | None = None
    date: str | None = None
    language: str | None = None  # ISO 639-1
    text: str
    text_hash: str
    raw_hash: str | None = None
    content_type: str = "text"
    origin: Origin | None = None
    flags: list[str] = Field(default_factory=list)  # e.g. "too-short", "paywall"


class Analysis(BaseModel):
    """An analysis as stored and published."""

    id: int | None = None
    text_hash: str
    model: str  # provider:model
    prompt_version: str
    schema_version: str = SCHEMA_VERSION
    title: str
    summary: str
    keywords: list[str]
    themes: list[str]
    category: str
    type: str
    language: str | None = None
    items: list[CheckedItem]
    chunks: int = 1
    created_at: datetime | None = None

    def of_kind(self, kind: ItemKind) -> list[CheckedItem]:
        return [i for i in self.items if i.kind == kind]


CallStatus = Literal["ok", "invalid", "error", "truncated"]


class CallRecord(BaseModel):
    """One attempt at one LLM call, successful or not: the ledger's row."""

    provider: str
    model: str
    purpose: str = "analyze"
    text_hash: str | None = None
    attempt: int = 1
    status: CallStatus = "ok"
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    request_chars: int = 0


ResultStatus = Literal["analyzed", "reused", "failed", "skipped", "not started"]


class ArticleResult(BaseModel):
    """What `analyze` reports per input."""

    source: str
    status: ResultStatus
    article_id: int | None = None
    analysis_id: int | None = None
    title: str | None = None
    language: str | None = None
    page: str | None = None
    error: str | None = None
    note: str | None = None  # e.g. "near-duplicate of article 12"
    llm_calls: int = 0
