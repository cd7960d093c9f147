"""Domain types shared by every stage, kept in one place so stages agree on shapes.

Two families live here:
* what the LLM must return (`AnalysisOutput` and its items) — its JSON schema is what we send;
* what the pipeline moves around and stores (`Document`, `Analysis`, `CallRecord`, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

SCHEMA_VERSION = "1"

MAX_KEYWORDS = 10
MAX_THEMES = 6
MAX_ITEMS = 8  # per section: the seed page has up to 8 behaviors
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


class Dimension(StrEnum):
    """STEEP+V: the sector of the radar an item belongs to."""

    social = "social"
    technological = "technological"
    economic = "economic"
    environmental = "environmental"
    political = "political"
    values = "values"


class Horizon(StrEnum):
    """When a signal may matter: H1 0-3 years, H2 3-7, H3 7-10+."""

    H1 = "H1"
    H2 = "H2"
    H3 = "H3"


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


_DIMENSION_WORDS = {
    "social": "social", "society": "social", "societal": "social", "demographic": "social",
    "technological": "technological", "technology": "technological", "technical": "technological",
    "economic": "economic", "economy": "economic", "economical": "economic", "business": "economic",
    "environmental": "environmental", "environment": "environmental", "ecological": "environmental",
    "political": "political", "politics": "political", "policy": "political", "legal": "political",
    "regulatory": "political", "values": "values", "value": "values", "ethical": "values",
    "ethics": "values", "cultural": "values",
}  # fmt: skip


def _dimension(v: Any) -> Any:
    """A near-miss ('Technology', 'policy') is mapped; anything else is left empty, and marked."""
    if isinstance(v, str):
        return _DIMENSION_WORDS.get(_clean(v).lower().split(" ")[0].strip(".,;:()"))
    return None if v is None else v


def _horizon(v: Any) -> Any:
    """'H2', 'h2', '2', 'H2 (3-7 years)' → 'H2'; anything else is left empty, and marked."""
    if isinstance(v, int):
        v = str(v)
    if isinstance(v, str):
        m = re.match(r"^\s*h?\s*([123])\b", v, re.I)
        return f"H{m.group(1)}" if m else None
    return None if v is None else v


def _relevancy(v: Any) -> Any:
    """Out-of-range scores are clamped to 0-5 rather than re-asked (so the schema needs no bounds)."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        v = int(v.strip())
    return max(0, min(5, v)) if isinstance(v, int) and not isinstance(v, bool) else v


# The schema sent to providers shows the full enums, with their meaning, while validation stays
# lenient: a missing or odd value is kept as None and shown as a problem, not re-asked.
DimensionField = Annotated[
    Dimension | None,
    BeforeValidator(_dimension),
    WithJsonSchema({"type": "string", "enum": [d.value for d in Dimension]}),
]
HorizonField = Annotated[
    Horizon | None,
    BeforeValidator(_horizon),
    WithJsonSchema(
        {
            "type": "string",
            "enum": [h.value for h in Horizon],
            "description": "H1 0-3 years, H2 3-7, H3 7-10+",
        },
    ),
]
Relevancy = Annotated[int, BeforeValidator(_relevancy)]  # its rubric is in the system prompt
Evidence = Annotated[
    str,
    Field(
        description=(
            "5-40 consecutive words copied exactly from the article, in its language, never translated"
        )
    ),
]


def _fold_all(v: Any) -> Any:
    return _clean(v) if isinstance(v, str) else v


class Item(_Out):
    """An emerging behavior, technology or issue."""

    name: str = Field(min_length=1, max_length=120, description="2-6 words")
    description: str = Field(min_length=1, description="10-20 words")
    dimension: DimensionField = None
    relevancy: Relevancy
    evidence: Evidence = ""

    @field_validator("name", "description", "evidence", mode="before")
    @classmethod
    def _fold(cls, v: Any) -> Any:
        return _fold_all(v)


class Signal(_Out):
    """A weak signal of change; fields in the order a model should think them through."""

    name: str = Field(min_length=1, max_length=120, description="2-6 words")
    description: str = Field(min_length=1, description="10-20 words")
    # Missing or empty, these are kept empty and shown as the item's problem, not re-asked.
    change: str = Field("", description="from X to Y, 15-20 words")
    ten_year: str = Field("", description="what may differ in 10 years")
    driving_force: str = Field("", description="what pushes the change")
    horizon: HorizonField = None
    dimension: DimensionField = None
    relevancy: Relevancy
    evidence: Evidence = ""

    @field_validator("name", "description", "change", "ten_year", "driving_force", "evidence", mode="before")
    @classmethod
    def _fold(cls, v: Any) -> Any:
        return _fold_all(v)


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


def keep_items(v: Any) -> Any:
    """At most MAX_ITEMS; an item that repeats an earlier one's description, or that has no name
    or description to show, is dropped (one bad item never sinks the answer)."""
    if not isinstance(v, list):
        return v
    kept: list[Any] = []
    seen: set[str] = set()
    for item in v:
        if not isinstance(item, dict):
            continue
        name, desc = item.get("name"), item.get("description")
        if not (isinstance(name, str) and name.strip() and isinstance(desc, str) and desc.strip()):
            continue
        key = _clean(desc).lower()
        if key in seen:
            continue
        seen.add(key)
        kept.append(item)
    return kept[:MAX_ITEMS]


class AnalysisOutput(_Out):
    """Exactly what one LLM call returns for one article: English, except the verbatim evidence."""

    title: str = Field(min_length=1, max_length=300)
    summary: Annotated[Summary, Field(description="at most 150 words")]
    keywords: list[str] = Field(
        min_length=1, description="up to 10", json_schema_extra={"maxItems": MAX_KEYWORDS}
    )
    themes: list[str] = Field(min_length=1, description="up to 6", json_schema_extra={"maxItems": MAX_THEMES})
    category: Category
    type: ArticleType
    # Not min_length=1: an article without signals is kept (and marked), never failed for it.
    signals: list[Signal] = Field(json_schema_extra={"maxItems": MAX_ITEMS})
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
        return keep_items(v)

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


# "quote": the model copied the evidence itself; "picked": a constrained (local) model chose one of
# the article's sentences from a list, so the evidence is the article's but not the model's quote.
EvidenceMode = Literal["quote", "picked"]

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
    dimension: str | None = None  # a Dimension value
    horizon: str | None = None  # a Horizon value (signals)
    evidence_mode: EvidenceMode = "quote"
    evidence_note: str | None = None  # why the evidence was not found (e.g. "a number differs")
    problems: list[str] = Field(default_factory=list)  # imperfections kept, and shown, not re-asked


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
    reused_from: int | None = None  # the article whose (near-duplicate) analysis this copies
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
    # Filled only when the audit log is on: the request as sent (JSON) and the raw answer.
    prompt: str | None = None
    response: str | None = None


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


@dataclass
class ArticleView:
    """An article with its newest analysis, as publishers, exporters and the web app read it.

    A plain dataclass, not a pydantic model: the store builds thousands of them per page run
    from rows it validated when writing them."""

    id: int
    source: str
    url: str | None
    origin: Origin | None
    title: str | None
    language: str | None
    status: str
    error: str | None
    text_hash: str | None
    analysis: Analysis | None


# ----- asking the corpus (`horizonscan ask` and the web app) ------------------------------------
class AskClaim(_Out):
    """One statement of an answer, with the numbered sources it comes from."""

    text: str = Field(min_length=1, description="one statement that answers the question")
    sources: list[int] = Field(description="numbers of the sources that support the statement")

    @field_validator("text", mode="before")
    @classmethod
    def _fold_text(cls, v: Any) -> Any:
        return _clean(v) if isinstance(v, str) else v


class AskOutput(_Out):
    """What the one LLM call of `ask` returns; `in_corpus` false means "the sources do not say"."""

    in_corpus: bool = Field(description="false when the sources do not answer the question")
    claims: list[AskClaim] = Field(json_schema_extra={"maxItems": 8})


class AskSource(BaseModel):
    """A retrieved article, numbered as the model saw it."""

    number: int
    article_id: int
    title: str
    url: str | None = None
    language: str | None = None
    date: str | None = None
    summary: str = ""
    items: list[str] = Field(default_factory=list)  # the items sent with it, "kind: name: description"
    via: list[str] = Field(default_factory=list)  # "words" (full text), "meaning" (embedding)


class AskAnswerClaim(BaseModel):
    text: str
    sources: list[int]  # source numbers, all among the retrieved ones
    article_ids: list[int]


class AskResult(BaseModel):
    """The answer, or why there is none; the retrieved sources are kept either way."""

    question: str
    sources: list[AskSource] = Field(default_factory=list)
    in_corpus: bool | None = None  # None: not answered (no sources, or the call failed)
    claims: list[AskAnswerClaim] = Field(default_factory=list)
    error: str | None = None
    model: str | None = None


# ----- trends (trends/, publish/trends.py, web) ------------------------------------------------

TrendStatus = Literal["noise", "weak", "emerging", "strong", "fading"]
TREND_STATUSES: tuple[TrendStatus, ...] = ("noise", "weak", "emerging", "strong", "fading")
RadarRing = Literal["status", "horizon"]


class TrendPeriod(BaseModel):
    """One period of a trend's timeline (default one week)."""

    period: str  # "2024-W07" for weekly periods, else the period's first day
    start: date
    documents: int  # new distinct documents in the period (copies and reused analyses count once)
    sources: int  # distinct sites so far
    popularity: float
    status: TrendStatus | None = None  # None before the trend's first document


class TrendMember(BaseModel):
    """One item of a trend, with the article it comes from and its evidence."""

    item_id: int
    article_id: int
    document_id: int  # the article counted for it: copies and near-duplicates share one
    copies: list[int] = Field(default_factory=list)  # other articles of the same document
    kind: ItemKind
    name: str
    description: str
    evidence: str = ""
    evidence_found: bool = False
    relevancy: int = 0
    dimension: str | None = None
    horizon: str | None = None
    similarity: float | None = None  # cosine to the trend's centroid
    date: datetime
    title: str | None = None  # the article's English title
    url: str | None = None
    site: str | None = None
    origin: str | None = None
    language: str | None = None


class TrendView(BaseModel):
    """A trend as listed, filtered, charted and placed on the radar."""

    id: int
    name: str
    status: TrendStatus
    previous_status: TrendStatus | None = None  # at the end of the previous period
    moved: int = 0  # radar convention: 2 new, 1 moved in, -1 moved out, 0 unchanged
    dimension: str | None = None  # majority STEEP+V dimension of its members
    horizon: str | None = None  # majority horizon of its signals
    dimensions: dict[str, int] = Field(default_factory=dict)
    horizons: dict[str, int] = Field(default_factory=dict)
    kinds: dict[str, int] = Field(default_factory=dict)
    items: int = 0
    documents: int = 0  # distinct documents
    sources: int = 0  # distinct sites (domains; the origin when there is no URL)
    origins: int = 0  # distinct origins (newsletters, feeds)
    site_names: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    first_seen: datetime
    last_seen: datetime
    popularity: float = 0.0
    periods: list[TrendPeriod] = Field(default_factory=list)
    members: list[TrendMember] = Field(default_factory=list)


class TrendsOverview(BaseModel):
    """Every trend as of a date, with the thresholds the statuses were decided with."""

    as_of: datetime
    period: str
    period_days: int
    low_threshold: float
    high_threshold: float
    trends: list[TrendView]


class RadarEntry(BaseModel):
    number: int  # the label on the radar and in its legend
    trend_id: int
    name: str
    sector: str  # a Dimension value, or "unclassified"
    ring: str  # a status (strong, emerging, weak, fading) or a horizon (H1, H2, H3)
    status: TrendStatus
    horizon: str | None = None
    moved: int = 0  # 2 new, 1 moved in, -1 moved out, 0 unchanged (zalando/tech-radar)
    popularity: float = 0.0


class RadarView(BaseModel):
    as_of: datetime
    period: str
    ring_by: RadarRing = "status"
    sectors: list[str]
    rings: list[str]  # inner first
    entries: list[RadarEntry]


class CitedPoint(_Out):
    """One statement and the numbers of the sources it rests on."""

    text: str = Field(min_length=1)
    cites: list[int] = Field(description="numbers of the sources listed in the prompt")


class TrendConnection(_Out):
    trend_id: int = Field(description="id of another trend from the list given")
    text: str = Field(min_length=1)
    cites: list[int]


class TrendInterpretationOutput(_Out):
    """What one `trends interpret` call returns."""

    what_is_new: list[CitedPoint]
    short_term: list[CitedPoint] = Field(description="implications within 1-3 years")
    long_term: list[CitedPoint] = Field(description="implications in 5-10 years")
    optimistic: CitedPoint
    pessimistic: CitedPoint
    drivers: list[CitedPoint]
    inhibitors: list[CitedPoint]
    connections: list[TrendConnection]
    caveat: str = Field(default="", description="empty, or what the evidence cannot support")


class ReviewOutput(_Out):
    """What one `review` call returns."""

    headline: str = Field(min_length=1, max_length=200)
    narrative: list[CitedPoint]
    watch: list[CitedPoint] = Field(description="what to watch in the next period")


class ExploreOutput(_Out):
    """What one `explore` call returns."""

    summary: list[CitedPoint]
    signals: list[CitedPoint] = Field(description="the changes the sources point to")
    questions: list[CitedPoint] = Field(description="open questions and tensions")


class CheckedPoint(BaseModel):
    """A cited statement after its citations were checked against the sources given."""

    text: str
    cites: list[int] = Field(default_factory=list)  # valid source numbers
    dropped: list[int] = Field(default_factory=list)  # cited numbers that were not sources
    trend_id: int | None = None  # for connections


class CitedSource(BaseModel):
    """A source as numbered for the model and on the page."""

    number: int
    article_id: int
    title: str
    url: str | None = None
    site: str | None = None
    date: datetime | None = None
    language: str | None = None


class TrendBrief(BaseModel):
    id: int
    name: str
    status: TrendStatus
    previous_status: TrendStatus | None = None
    dimension: str | None = None
    horizon: str | None = None
    documents: int = 0
    sources: int = 0
    period_documents: int = 0  # documents in the period looked at


class TrendInterpretation(BaseModel):
    """`trends interpret`: the checked answer, or why there is none."""

    trend: TrendBrief
    sources: list[CitedSource] = Field(default_factory=list)
    sections: dict[str, list[CheckedPoint]] = Field(default_factory=dict)
    caveat: str = ""
    thin: str | None = None  # set when the evidence is too thin for a call
    error: str | None = None
    model: str | None = None
    cached: bool = False
    created_at: datetime | None = None


class StoryBrief(BaseModel):
    id: int
    title: str
    articles: int
    languages: list[str] = Field(default_factory=list)
    first_seen: datetime | None = None


class ReviewReport(BaseModel):
    """`review --period P`: counts, trend movements, new stories and a cited narrative."""

    period: str
    start: datetime
    end: datetime
    counts: dict[str, int] = Field(default_factory=dict)
    new_trends: list[TrendBrief] = Field(default_factory=list)
    rising: list[TrendBrief] = Field(default_factory=list)
    fading: list[TrendBrief] = Field(default_factory=list)
    new_stories: list[StoryBrief] = Field(default_factory=list)
    sources: list[CitedSource] = Field(default_factory=list)
    headline: str = ""
    narrative: list[CheckedPoint] = Field(default_factory=list)
    watch: list[CheckedPoint] = Field(default_factory=list)
    note: str | None = None  # why there is no narrative
    model: str | None = None
    cached: bool = False


class ExploreHit(BaseModel):
    """An item found for a topic, with how it was found."""

    member: TrendMember
    trend_id: int | None = None
    score: float  # fused rank score
    cosine: float
    keyword: float  # BM25


class ExploreReport(BaseModel):
    """`explore "topic"`: the most relevant items, articles and trends, and a cited digest."""

    topic: str
    items: list[ExploreHit] = Field(default_factory=list)
    sources: list[CitedSource] = Field(default_factory=list)
    trends: list[TrendBrief] = Field(default_factory=list)
    summary: list[CheckedPoint] = Field(default_factory=list)
    signals: list[CheckedPoint] = Field(default_factory=list)
    questions: list[CheckedPoint] = Field(default_factory=list)
    note: str | None = None
    model: str | None = None
    cached: bool = False


# ----- curation: what a team decides about articles and items ---------------------------------
_SPACES = re.compile(r"\s+")


def item_key(kind: str, name: str) -> str:
    """`kind:name` with the name's whitespace folded and case dropped (at most 240 chars)."""
    return f"{kind}:{_SPACES.sub(' ', name).strip().casefold()}"[:240]


@dataclass
class Curation:
    starred: bool = False
    hidden: bool = False
    note: str | None = None
    reviewed: bool = False  # items only (a signal someone has looked at)

    @property
    def empty(self) -> bool:
        return not (self.starred or self.hidden or self.note or self.reviewed)

    def as_dict(self, *, item: bool = False) -> dict[str, object]:
        out: dict[str, object] = {"starred": self.starred, "hidden": self.hidden, "note": self.note}
        if item:
            out["reviewed"] = self.reviewed
        return out


@dataclass
class CurationMarks:
    """All of a corpus's decisions, read once: articles by id, items by (article id, item_key)."""

    articles: dict[int, Curation] = field(default_factory=dict)
    items: dict[tuple[int, str], Curation] = field(default_factory=dict)
