"""A synthetic, dated corpus with known trend patterns, and the mock model that analyzes it.

Used by the trend tests (small) and by `bench/make_corpus.py` (the demo: a few hundred articles
over 12 months). Each topic is one concept of `trends/calibration.py`; an article about it
contains one of the concept's paraphrases as a sentence, and `corpus_responder` (the mock model)
returns that paraphrase as an item, quoting the sentence. Patterns over the year:
spreading (more articles from more sites every week), steady, fading (busy, then silent), late
(starts in the last weeks), one-off (a single mention), and a syndicated press release (one text
copied on several sites: near-duplicates that must count once).
"""

from __future__ import annotations

import hashlib
import html
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from horizonscan.trends.calibration import PARAPHRASES
from tests.support.mock_llm import fake_analysis, trends_responder

YEAR_START = date(2024, 1, 1)  # a Monday
SITES = [
    f"{name}.example"
    for name in [
        "greenwire",
        "techdaily",
        "futurescan",
        "citylab",
        "energypost",
        "workshift",
        "healthbeat",
        "policyhub",
        "agrinews",
        "money-matters",
        "lenouvel",
        "dieweltwoche",
        "elpais-tech",
        "ilfuturo",
        "nordicpulse",
        "asiaforward",
        "campus-news",
        "localgazette",
        "industryweek",
        "climatedesk",
        "mobility-now",
        "retailtrends",
        "labnotes",
        "civicfuture",
        "datasphere",
    ]
]
ORIGINS = ["Futures Weekly", "Climate Signals", "Tech Radar Digest"]
CITIES = ["Lyon", "Hamburg", "Valencia", "Turin", "Leeds", "Gdansk", "Porto", "Utrecht", "Malmo", "Brno"]
FILLERS = [
    "Officials in {city} said the first results would be published within {n} months.",
    "The project involves about {m} people and a budget of {n} million euros.",
    "Critics in {city} warned that the costs could be passed on to residents.",
    "Local companies welcomed the decision but asked for clearer rules.",
    "A survey of {m} residents found mixed feelings about the plan.",
    "Experts expect similar initiatives in other cities by {y}.",
    "Unions asked to be consulted before the next phase starts.",
    "The announcement follows a year of debate in {city}.",
]


@dataclass(frozen=True)
class Topic:
    key: str
    concept: int  # index into PARAPHRASES
    kind: str  # signal, behavior, technology or issue
    dimension: str
    horizon: str
    pattern: str  # spreading, steady, fading, late, one-off, syndicated
    start: int = 0  # week
    rate: float = 0.0


TOPICS = [
    Topic("home-batteries", 0, "technology", "technological", "H1", "spreading", start=6, rate=0.07),
    Topic("heat-pumps", 3, "signal", "environmental", "H1", "spreading", start=14, rate=0.08),
    Topic("four-day-week", 5, "behavior", "social", "H2", "spreading", start=22, rate=0.09),
    Topic("ai-copilots", 7, "technology", "technological", "H1", "steady", rate=0.6),
    Topic("gig-unions", 8, "issue", "political", "H2", "steady", rate=0.45),
    Topic("micro-forests", 14, "behavior", "environmental", "H2", "steady", rate=0.4),
    Topic("remote-exodus", 6, "behavior", "social", "H2", "fading", start=0, rate=1.4),
    Topic("bnpl-debt", 22, "issue", "economic", "H1", "fading", start=22, rate=1.1),
    Topic("cultivated-meat", 19, "signal", "values", "H3", "late", start=43, rate=0.35),
    Topic("climate-litigation", 29, "signal", "political", "H2", "late", start=44, rate=0.3),
    Topic("vertical-farming", 17, "technology", "technological", "H2", "one-off", start=4),
    Topic("drought-insurance", 18, "signal", "economic", "H2", "one-off", start=9),
    Topic("smartphone-bans", 27, "behavior", "values", "H1", "one-off", start=12),
    Topic("cbdc", 23, "signal", "economic", "H3", "syndicated", start=30),
]


@dataclass
class DemoArticle:
    name: str
    day: date
    site: str
    origin: str
    topics: list[str]
    text: str = ""
    copies: list[str] = field(default_factory=list)  # extra sites carrying the same text

    @property
    def url(self) -> str:
        return f"https://{self.site}/{self.day.isoformat()}/{self.name}"

    def html(self, site: str | None = None) -> str:
        where = site or self.site
        url = f"https://{where}/{self.day.isoformat()}/{self.name}"
        title, _, body = self.text.partition("\n\n")
        paras = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n\n"))
        return (
            f"<!doctype html><html><head><title>{html.escape(title)}</title>"
            f'<link rel="canonical" href="{url}">'
            f'<meta property="article:published_time" content="{self.day.isoformat()}T09:00:00Z">'
            f"</head><body><article><h1>{html.escape(title)}</h1>{paras}</article></body></html>"
        )


def _weekly_counts(topic: Topic, weeks: int, rng: random.Random) -> list[int]:
    def poisson(lam: float) -> int:
        n, p, limit = 0, 1.0, pow(2.718281828, -lam)
        while True:
            p *= rng.random()
            if p < limit:
                return n
            n += 1

    out = [0] * weeks
    for w in range(weeks):
        if topic.pattern == "spreading" and w >= topic.start:
            out[w] = max(1 if w - topic.start < 3 else 0, poisson(topic.rate * (w - topic.start + 1)))
        elif topic.pattern == "steady":
            out[w] = poisson(topic.rate)
        elif topic.pattern == "fading" and topic.start <= w < topic.start + 20:
            out[w] = max(1, poisson(topic.rate))
        elif topic.pattern == "late" and w >= topic.start:
            out[w] = max(1, poisson(topic.rate * (w - topic.start + 1)))
        elif topic.pattern in ("one-off", "syndicated") and w == topic.start:
            out[w] = 1
    return out


def _text(topic: Topic, secondary: Topic | None, rng: random.Random, serial: int) -> str:
    para = PARAPHRASES[topic.concept]
    name, _, desc = para[rng.randrange(len(para))].partition(": ")
    city = rng.choice(CITIES)
    fill = [
        f.format(city=city, n=rng.randint(2, 40), m=rng.randint(20, 900), y=rng.randint(2026, 2032))
        for f in rng.sample(FILLERS, 4)
    ]
    body = [f"{desc} {fill[0]} {fill[1]}", f"{fill[2]} {fill[3]}"]
    if secondary is not None:
        s_para = PARAPHRASES[secondary.concept]
        body.append(s_para[rng.randrange(len(s_para))].partition(": ")[2] + f" (Report {serial}.)")
    else:
        body.append(f"The report (number {serial}) was published in {city}.")
    return f"{name} in {city}\n\n" + "\n\n".join(body)


def generate(seed: int = 7, weeks: int = 52, *, scale: float = 1.0) -> list[DemoArticle]:
    """Articles over `weeks` weeks from 2024-01-01; `scale` keeps that share of the articles of
    the recurring topics (for small tests)."""
    rng = random.Random(seed)
    articles: list[DemoArticle] = []
    serial = 0
    for topic in TOPICS:
        counts = _weekly_counts(topic, weeks, rng)
        for w, n in enumerate(counts):
            if topic.pattern not in ("one-off", "syndicated"):
                n = sum(1 for _ in range(n) if rng.random() < scale)
            for k in range(n):
                serial += 1
                day = YEAR_START + timedelta(weeks=w, days=rng.randrange(7))
                if topic.pattern == "spreading":
                    pool = SITES[: min(len(SITES), 2 + (w - topic.start) // 2)]
                elif topic.pattern in ("steady", "fading"):
                    pool = SITES[TOPICS.index(topic) % 5 :][:3]
                else:
                    pool = SITES
                others = [t for t in TOPICS if t is not topic and t.pattern in ("steady", "spreading")]
                secondary = rng.choice(others) if rng.random() < 0.15 else None
                art = DemoArticle(
                    name=f"{topic.key}-{w:02d}-{k}-{serial}",
                    day=day,
                    site=rng.choice(pool),
                    origin=ORIGINS[serial % len(ORIGINS)],
                    topics=[topic.key] + ([secondary.key] if secondary else []),
                )
                art.text = _text(topic, secondary, rng, serial)
                if topic.pattern == "syndicated":
                    art.copies = [s for s in SITES[5:10] if s != art.site]
                articles.append(art)
    articles.sort(key=lambda a: (a.day, a.name))
    return articles


def write_corpus(folder: Path, articles: list[DemoArticle]) -> dict[str, Path]:
    """HTML files in one sub-folder per origin; a syndicated text gets one file per site, each
    with a small site-specific footer (near-duplicates). Returns origin → folder."""
    dirs: dict[str, Path] = {}
    for art in articles:
        d = dirs.setdefault(art.origin, folder / re.sub(r"\W+", "-", art.origin.lower()))
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{art.name}.html").write_text(art.html(), encoding="utf-8")
        for site in art.copies:
            copy = DemoArticle(art.name, art.day, site, art.origin, art.topics, art.text)
            copy.text = art.text + f"\n\nRepublished by {site}."
            (d / f"{art.name}-{site.split('.')[0]}.html").write_text(copy.html(site), encoding="utf-8")
    return dirs


_ARTICLE = re.compile(r"<<<ARTICLE (\w+)>>>\n(.*?)\n<<<END ARTICLE \1>>>", re.S)
_KIND_FIELD = {"signal": "signals", "behavior": "behaviors", "technology": "technologies", "issue": "issues"}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s.strip()]


def corpus_responder(prompt: str) -> dict[str, Any]:
    """The mock model for this corpus: the paraphrases found in the article become its items
    (quoted verbatim); trend prompts get `trends_responder`; anything else `fake_analysis`."""
    m = _ARTICLE.search(prompt)
    if m is None:
        return trends_responder(prompt)
    text = m.group(2)
    flat = " ".join(text.split())
    out = fake_analysis(prompt)
    for key in _KIND_FIELD.values():
        out[key] = []
    found: list[tuple[Topic, str, str]] = []
    for topic in TOPICS:
        for para in PARAPHRASES[topic.concept]:
            name, _, desc = para.partition(": ")
            if desc in flat:
                found.append((topic, name, desc))
                break
    if not found:
        return fake_analysis(prompt)
    main = found[0]
    head = " ".join(text.split("\n", 1)[0].split())  # "<paraphrase name> in <city>"
    out["title"] = f"{head}: a report on {main[0].key.replace('-', ' ')}"
    out["summary"] = (
        f"The article reports that {main[2][0].lower()}{main[2][1:]} It describes the context in "
        f"{head.rsplit(' in ', 1)[-1]}, the people involved and the reactions of critics and supporters "
        f"({_sentences(text)[1][:80]})."
    )
    out["keywords"] = [main[0].key.replace("-", " "), "change", "cities"]
    for n, (topic, name, desc) in enumerate(found):
        item: dict[str, Any] = {"name": name, "description": desc, "dimension": topic.dimension,
                                "relevancy": 3, "evidence": desc}  # fmt: skip
        signal = {**item, "change": "From rare pilots to common practice.", "ten_year": "It may be the norm.",
                  "driving_force": "Costs and public pressure.", "horizon": topic.horizon}  # fmt: skip
        if topic.kind == "signal":
            out["signals"].append(signal)
        else:
            out[_KIND_FIELD[topic.kind]].append(item)
            if n == 0:  # every analysis has a signal, as the prompt asks: here, the same change
                out["signals"].append(signal)
    return out


def test_corpus_has_every_pattern() -> None:
    arts = generate(scale=1.0)
    by_topic: dict[str, list[DemoArticle]] = {}
    for a in arts:
        by_topic.setdefault(a.topics[0], []).append(a)
    assert 250 <= len(arts) <= 450
    assert len(by_topic["vertical-farming"]) == 1 and len(by_topic["cbdc"]) == 1
    assert by_topic["cbdc"][0].copies  # syndicated
    fading = by_topic["remote-exodus"]
    assert max(a.day for a in fading) < YEAR_START + timedelta(weeks=21)
    spread = by_topic["home-batteries"]
    early = [a for a in spread if a.day < YEAR_START + timedelta(weeks=20)]
    late = [a for a in spread if a.day >= YEAR_START + timedelta(weeks=40)]
    assert len(late) > 2 * len(early) and len({a.site for a in late}) > len({a.site for a in early})


def test_responder_quotes_the_article() -> None:
    art = generate()[0]
    out = corpus_responder(f"<<<ARTICLE abc>>>\n{art.text}\n<<<END ARTICLE abc>>>")
    items = [i for k in _KIND_FIELD.values() for i in out[k]]
    flat = " ".join(art.text.split())
    assert all(i["evidence"] in flat for i in items)
    assert any(i["dimension"] for i in items)


def add_article(
    store: Any,
    *,
    url: str,
    day: date,
    items: list[tuple[str, str, str]],
    origin: str | None = None,
    text: str | None = None,
    dimension: str | None = "technological",
    horizon: str | None = "H2",
    reused_from: int | None = None,
    prompt_version: str = "v-test",
) -> int:
    """Store an article and its analysis directly (no model): items are (kind, name, description)."""
    from horizonscan.models import Analysis, CheckedItem, Document, Origin

    body = text or f"{url}. " + " ".join(d for _, _, d in items) + " Some more words to make it an article."
    doc = Document(
        source=url, url=url, text=body, text_hash=hashlib.sha256(body.encode()).hexdigest(),
        date=day.isoformat(), language="en", origin=Origin(label=origin) if origin else None,
    )  # fmt: skip
    article_id = int(store.articles.upsert_article(doc))
    analysis = Analysis(
        text_hash=doc.text_hash, model="openai:test", prompt_version=prompt_version, title=f"About {url}",
        summary=f"Summary of {url}.", keywords=["k"], themes=["t"], category="technology", type="news",
        reused_from=reused_from,
        items=[
            CheckedItem(kind=k, name=n, description=d, relevancy=3, evidence=d, evidence_found=True,  # type: ignore[arg-type]
                        dimension=dimension, horizon=horizon if k == "signal" else None)
            for k, n, d in items
        ],
    )  # fmt: skip
    store.analyses.save_analysis(analysis, article_id)
    return article_id
