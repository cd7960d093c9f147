"""Trend pages, charts and radar, and the trend commands end to end against the protocol-level
mock model (real HTTP, real SQLite, real files)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from horizonscan.config import Settings
from horizonscan.models import RadarView, TrendMember, TrendPeriod, TrendsOverview, TrendView
from horizonscan.publish.charts import label, radar_bytes, timeline_bytes
from horizonscan.publish.trends import write_trend_pages
from horizonscan.store import Store
from horizonscan.trends import interpret, radar, rank, refresh_trends, review
from horizonscan.trends.config import TrendSettings
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer, trends_responder
from tests.test_trends_corpus import add_article, corpus_responder, generate, write_corpus

HOSTILE = "Evil | <script>alert(1)</script> $\\frac{1}{0}$ [x](javascript:alert(1)) **bold**\n# heading"


def _period(start: date, docs: int, pop: float, status: str | None) -> TrendPeriod:
    return TrendPeriod(
        period=start.isoformat(), start=start, documents=docs, sources=docs, popularity=pop, status=status
    )  # type: ignore[arg-type]


def _trend(tid: int, name: str, status: str, dimension: str | None, moved: int = 0) -> TrendView:
    start = date(2024, 1, 1)
    periods = [
        _period(start + timedelta(weeks=w), w % 3, float(w), ("noise", "weak", "emerging", status)[min(w, 3)])
        for w in range(10)
    ]
    member = TrendMember(
        item_id=tid * 10, article_id=tid, document_id=tid, kind="signal", name=name,
        description=f"{name} grows",
        evidence=f"Quote with | pipe and <b>tag</b> for {tid}", evidence_found=tid % 2 == 0,
        date=datetime(2024, 3, 1), title=f"Title {name}", url="javascript:alert(1)", site="evil.example",
    )  # fmt: skip
    return TrendView(
        id=tid, name=name, status=status, previous_status="weak", moved=moved, dimension=dimension,  # type: ignore[arg-type]
        horizon="H2", items=3, documents=5, sources=3, first_seen=datetime(2024, 1, 1),
        last_seen=datetime(2024, 3, 4), popularity=9.0, periods=periods, members=[member],
    )  # fmt: skip


def test_pages_charts_and_radar_escape_hostile_names(tmp_path: Path) -> None:
    trends = [
        _trend(1, HOSTILE, "strong", "technological", moved=2),
        _trend(2, "Heat pumps replace boilers", "emerging", "environmental", moved=1),
        _trend(3, "Four-day week", "fading", None, moved=-1),
        _trend(4, "One old mention", "noise", "social"),
    ]
    ov = TrendsOverview(as_of=datetime(2024, 3, 4), period="2024-W10", period_days=7, low_threshold=0.5,
                        high_threshold=4.0, trends=trends)  # fmt: skip
    view = radar(ov)
    assert [e.trend_id for e in view.entries] == [1, 2, 3]  # noise is off the radar; numbered by sector
    assert view.sectors[-1] == "unclassified" and view.entries[-1].sector == "unclassified"
    for fmt in ("svg", "png"):
        out = tmp_path / fmt
        index = write_trend_pages(out, ov, trends, view, ranked=rank(trends), chart_format=fmt)  # type: ignore[arg-type]
        folder = index.parent
        pages = {p.name for p in folder.glob("*.md")}
        assert pages == {"index.md", "radar.md", "trend-1.md", "trend-2.md", "trend-3.md", "trend-4.md"}
        charts = sorted(p.name for p in (folder / "charts").iterdir())
        assert any(c.startswith("radar-") for c in charts) and any(c.startswith("overview-") for c in charts)
        assert sum(c.startswith("trend-") for c in charts) == 4 and all(c.endswith(fmt) for c in charts)
        text = "".join(p.read_text(encoding="utf-8") for p in folder.glob("*.md"))
        assert "<script" not in text and "<b>" not in text
        assert not re.search(r"(?<!\\)\]\(javascript:", text)  # no link: the bracket is escaped
        assert "Evil \\| &lt;script&gt;" in text  # escaped, one line, table intact
        index_text = index.read_text(encoding="utf-8")
        assert "Heat pumps replace boilers" in index_text and "## Noise (1)" in index_text
        assert "★ new" in index_text and "▼ moved out" in index_text
        radar_page = (folder / "radar.md").read_text(encoding="utf-8")
        assert "## Unclassified" in radar_page and "1. [Evil" in radar_page
        page = (folder / "trend-1.md").read_text(encoding="utf-8")
        assert "## Members" in page and "*(not found in the text)*" in page and "![Timeline" in page
        if fmt == "svg":
            svg = "".join(p.read_text(encoding="utf-8") for p in (folder / "charts").glob("*.svg"))
            # Text is drawn as paths; matplotlib keeps it only in escaped XML comments.
            assert "<script" not in svg and "<text" not in svg
        else:
            assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in (folder / "charts").glob("*.png"))
    # Charts are redrawn only when what they show changes; stale pages and charts go.
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "svg/trends/charts").iterdir()}
    write_trend_pages(tmp_path / "svg", ov, trends[:2], radar(ov.model_copy(update={"trends": trends[:2]})),
                      ranked=rank(trends[:2]))  # fmt: skip
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "svg/trends/charts").iterdir()}
    assert not (tmp_path / "svg/trends/trend-3.md").exists()
    assert all(after[n] == before[n] for n in after if n.startswith("trend-"))


def test_chart_labels_cannot_break_matplotlib() -> None:
    assert label("$x$ costs $5 \x1b[31m") == r"\$x\$ costs \$5 [31m"
    assert len(label("a" * 200, 20)) == 20
    trend = _trend(9, "$\\frac{unclosed", "weak", "values")
    assert timeline_bytes(trend).startswith(b"<?xml")  # mathtext would raise on the raw name
    empty = RadarView(
        as_of=datetime(2024, 1, 1), period="2024-W01", sectors=["values"], rings=["weak"], entries=[]
    )
    assert radar_bytes(empty, fmt="png")[:4] == b"\x89PNG"


# ----- LLM calls against the protocol-level mock -------------------------------------------------
@pytest.fixture
def corpus_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockLLMServer]:
    with MockLLMServer(responder=corpus_responder) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-key-0123456789")
        yield srv


def _purposes(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    return dict(con.execute("select purpose, count(*) from llm_calls where status='ok' group by purpose"))


def test_trend_commands_end_to_end(corpus_llm: MockLLMServer, tmp_path: Path) -> None:
    """A dated corpus analyzed through the mock; then trends, interpret, review and explore."""
    dirs = write_corpus(tmp_path / "articles", generate(seed=3, scale=0.15))
    db, pages = tmp_path / "hs.db", tmp_path / "pages"
    common = ["--llm", "openai:gpt-4o-mini", "--db", str(db), "--out", str(pages)]
    for origin, folder in dirs.items():
        assert run_cli("analyze", str(folder), "--origin", origin, *common).code == 0
    # The batch already placed the items in trends (publishing calls the incremental update).
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from trend_members").fetchone()[0] > 0

    listing = run_cli("trends", "--db", str(db), "--json")
    assert listing.code == 0, listing.stderr
    data = listing.json()
    trends = {t["id"]: t for t in data["trends"]}
    assert {"id", "name", "status", "dimension", "horizon", "periods", "sources", "members"} <= set(
        next(iter(trends.values()))
    )
    batteries = next(t for t in data["trends"] if any("batter" in m["name"].lower() for m in t["members"]))
    assert (
        batteries["documents"] >= 5
        and batteries["sources"] >= 3
        and batteries["dimension"] == "technological"
    )
    assert all(m["evidence"] and m["article_id"] for m in batteries["members"])
    assert sum(p["documents"] for p in batteries["periods"]) == batteries["documents"]
    cbdc = next(t for t in data["trends"] if any("digital" in m["name"].lower() for m in t["members"]))
    assert cbdc["documents"] == 1 and cbdc["status"] == "noise"  # a syndicated release counts once
    strong = run_cli("trends", "--db", str(db), "--json", "--status", "strong,emerging").json()["trends"]
    assert strong and all(t["status"] in ("strong", "emerging") for t in strong)
    assert run_cli("trends", "--db", str(db), "--status", "hot").code == 2

    table = run_cli("trends", "--db", str(db), "--out", str(pages))
    assert table.code == 0 and str(batteries["id"]) in table.stdout
    assert (pages / "trends" / "index.md").is_file() and (pages / "trends" / "radar.md").is_file()
    assert (pages / "trends" / f"trend-{batteries['id']}.md").is_file()
    index = (pages / "trends" / "index.md").read_text(encoding="utf-8")
    assert batteries["name"] in index

    # interpret: one call, cited; cached until the members change; thin evidence: no call.
    before = len(corpus_llm.requests)
    run = run_cli("trends", "interpret", str(batteries["id"]), *common, "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    assert len(corpus_llm.requests) == before + 1
    assert result["sections"]["what_is_new"][0]["cites"] and result["sources"]
    assert {s["article_id"] for s in result["sources"]} <= {m["document_id"] for m in batteries["members"]}
    prompt = corpus_llm.requests[-1]["body"]["messages"][-1]["content"]
    assert "<<<MEMBERS" in prompt and "<<<END MEMBERS" in prompt
    page = (pages / "trends" / f"trend-{batteries['id']}.md").read_text(encoding="utf-8")
    assert "## Interpretation" in page and "### Drivers" in page
    again = run_cli("trends", "interpret", str(batteries["id"]), *common, "--json")
    assert again.json()["cached"] is True and len(corpus_llm.requests) == before + 1
    thin = run_cli("trends", "interpret", str(cbdc["id"]), *common)
    assert thin.code == 0 and "Too thin to interpret" in thin.stdout
    assert len(corpus_llm.requests) == before + 1
    assert run_cli("trends", "interpret", "99999", *common).code == 2

    # review: counts, trend movements, one cited narrative; a page.
    rev = run_cli("review", "--period", "2024-Q3", *common, "--json")
    assert rev.code == 0, rev.stderr
    report = rev.json()
    assert report["counts"]["documents"] > 0 and report["narrative"] and report["headline"]
    assert all(1 <= n <= len(report["sources"]) for p in report["narrative"] for n in p["cites"])
    assert Path(report["page"]).is_file() and Path(report["page"]).name == "review-2024-Q3.md"
    assert len(corpus_llm.requests) == before + 2
    empty = run_cli("review", "--period", "2019-03", *common, "--json").json()
    assert empty["counts"]["documents"] == 0 and "nothing to review" in empty["note"]
    assert len(corpus_llm.requests) == before + 2  # nothing to narrate: no call
    assert run_cli("review", "--period", "2024-Q5", *common).code == 2

    # explore: embedding + keywords, one cited digest; a page.
    exp = run_cli("explore", "solar batteries at home", *common, "--json")
    assert exp.code == 0, exp.stderr
    found = exp.json()
    assert found["items"] and found["sources"] and found["summary"]
    home_storage = ("batter", "solar", "storage")

    def about_storage(hit: dict[str, Any]) -> bool:
        text = f"{hit['member']['name']} {hit['member']['description']}".lower()
        return any(w in text for w in home_storage)

    assert all(about_storage(h) for h in found["items"][:3]), found["items"][:3]
    assert Path(found["page"]).read_text(encoding="utf-8").startswith("# Exploring")
    assert len(corpus_llm.requests) == before + 3
    # A topic in another language finds the same items by meaning (multilingual embeddings).
    fr = run_cli("explore", "batteries domestiques et autoconsommation solaire", *common, "--json").json()
    assert about_storage(fr["items"][0]), fr["items"][:3]
    purposes = _purposes(db)
    assert (
        purposes["trend-interpret"] == 1 and purposes["trend-review"] == 1 and purposes["trend-explore"] == 2
    )


def _small_corpus(store: Store) -> None:
    """Two trends with enough evidence (3+ articles, 3 sites), straight into the database."""
    from horizonscan.trends.calibration import PARAPHRASES

    for concept, offset in ((3, 0), (22, 40)):
        for k, para in enumerate(PARAPHRASES[concept][:4]):
            name, desc = para.split(": ", 1)
            add_article(store, url=f"https://site{k}.example/{concept}/{k}", day=date(2024, 2, 1) + timedelta(
                days=offset + 7 * k), items=[("signal", name, desc)])  # fmt: skip


def test_invalid_citations_are_dropped_and_marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def liar(prompt: str) -> dict[str, Any]:
        out = trends_responder(prompt)
        out["what_is_new"][0]["cites"] = [1, 99, -3]  # 99 and -3 are not members
        out["drivers"] = [{"text": "Nothing supports this.", "cites": [42]}]
        out["connections"] = [{"trend_id": 123456, "text": "An invented trend.", "cites": [1]}]
        return out

    with MockLLMServer(responder=liar) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-key-0123456789")
        store = Store.open(tmp_path / "hs.db")
        _small_corpus(store)
        settings = Settings(llm="openai:gpt-4o-mini", db=tmp_path / "hs.db", out=tmp_path / "pages")
        refresh_trends(store, settings)
        import asyncio

        result = asyncio.run(interpret(store, settings, 1, trend_settings=TrendSettings()))
        assert len(srv.requests) == 1
    new = result.sections["what_is_new"][0]
    assert new.cites == [1] and new.dropped == [-3, 99]
    assert result.sections["drivers"][0].cites == [] and result.sections["drivers"][0].dropped == [42]
    assert result.sections["connections"] == []  # a connection to a trend that was not offered
    from horizonscan.publish.trends import ArticleLinks, render_interpretation

    lines = "\n".join(render_interpretation(result, ArticleLinks(tmp_path / "pages")))
    assert "removed citations -3, 99: not among the sources" in lines
    assert "*(no valid source cited)*" in lines


def test_review_and_explore_make_no_call_without_material(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from horizonscan.similarity.embed import get_embedder
    from horizonscan.trends import explore

    with MockLLMServer(responder=trends_responder) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-key-0123456789")
        store = Store.open(tmp_path / "hs.db")
        settings = Settings(llm="openai:gpt-4o-mini", db=tmp_path / "hs.db", out=tmp_path / "pages")
        emb = get_embedder("use")
        nothing = asyncio.run(
            explore(store, settings, "heat pumps", trend_settings=TrendSettings(), embedder=emb)
        )
        assert nothing.note and "no analyzed items" in nothing.note
        _small_corpus(store)
        refresh_trends(store, settings)
        far = asyncio.run(explore(store, settings, "zzqx", trend_settings=TrendSettings(), embedder=emb))
        assert far.note and "No LLM call" in far.note and not far.items
        quiet = asyncio.run(review(store, settings, "2023-W05", trend_settings=TrendSettings()))
        assert quiet.note and not quiet.narrative
        assert srv.requests == []
        busy = asyncio.run(review(store, settings, "2024-Q1", trend_settings=TrendSettings()))
        assert busy.narrative and len(srv.requests) == 1
        cached = asyncio.run(review(store, settings, "2024-Q1", trend_settings=TrendSettings()))
        assert cached.cached and len(srv.requests) == 1
    assert json.loads(busy.model_dump_json())["counts"]["documents"] == 7  # the 8th is dated April
