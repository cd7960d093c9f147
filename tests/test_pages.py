"""Pages follow the seed layout exactly, and hostile text cannot break them."""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt

from horizonscan.models import Analysis, CheckedItem, Origin
from horizonscan.publish.markdown import ITEM_COLUMNS, SIGNAL_COLUMNS, render_page
from tests.conftest import SEED_PAGE, needs_seeds

HOSTILE = 'A | B\nC <script>alert("x")</script> [click](javascript:alert(1)) # not a heading `code` *bold*'


def _analysis(text: str = "Plain text", **over: object) -> Analysis:
    def item(kind: str, name: str) -> CheckedItem:
        extra = (
            {"change": f"from x to y {text}", "ten_year": text, "driving_force": text}
            if kind == "signal"
            else {}
        )
        return CheckedItem(
            kind=kind,
            name=name,
            description=f"desc {text}",
            relevancy=4,  # type: ignore[arg-type]
            evidence="quote",
            evidence_found=True,
            evidence_score=1.0,
            **extra,
        )

    data: dict[str, object] = dict(
        text_hash="h" * 64,
        model="openai:m",
        prompt_version="v1-x",
        title=f"Title {text}",
        summary=f"Summary {text}",
        keywords=["k1", f"k2 {text}"],
        themes=["t1"],
        category="technology",
        type="news",
        language="fr",
        items=[
            item("signal", "S1"),
            item("signal", "S2"),
            item("behavior", "B1"),
            item("technology", "T1"),
            item("issue", "I1"),
        ],
    )
    data.update(over)
    return Analysis.model_validate(data)


def _headings(md: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^## (.+)$", md, re.M)]


def _table_after(md: str, heading: str) -> list[list[str]]:
    block = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in block.strip().splitlines() if ln.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]


@needs_seeds
def test_layout_matches_the_seed_page() -> None:
    seed = SEED_PAGE.read_text(encoding="utf-8")
    page = render_page(
        _analysis(),
        url="https://example.org/a",
        origin=Origin(label="6102.0", url="https://kghosh.substack.com/p/6102.0"),
    )
    seed_heads = _headings(seed)
    ours = [h for h in _headings(page) if h in seed_heads]
    assert ours == seed_heads
    # Same title line and link line shapes as the seed.
    assert re.match(r"^# __.+__, from \(\[.+\]\(https://.+\)\.\)$", seed.splitlines()[0])
    assert re.match(r"^# __.+__, from \(\[.+\]\(https://.+\)\.\)$", page.splitlines()[0])
    assert (
        page.splitlines()[0]
        == "# __Title Plain text__, from ([6102.0](https://kghosh.substack.com/p/6102.0).)"
    )
    assert "__[External link](https://example.org/a)__" in page
    for heading, columns in (
        ("Signals", SIGNAL_COLUMNS),
        ("Behaviors", ITEM_COLUMNS),
        ("Technologies", ITEM_COLUMNS),
        ("Issues", ITEM_COLUMNS),
    ):
        seed_columns = _table_after(seed, heading)[0]
        table = _table_after(page, heading)
        assert tuple(table[0]) == columns
        # The seed's columns, in the seed's order, relevancy last; ours add STEEP+V, horizon, evidence.
        assert [c for c in columns if c in seed_columns] == seed_columns and columns[-1] == "relevancy"
        assert table[1][-1].endswith(":") and table[1][0].startswith(":")  # alignment like the seed
    assert "* Category: technology" in page and "* Type: news" in page and "* Language: French (fr)" in page


def test_empty_sections_are_left_out_and_no_origin_means_plain_title() -> None:
    page = render_page(_analysis(items=[], keywords=[]))
    assert "## Signals" not in page and "## Behaviors" not in page and "## Keywords" not in page
    assert page.splitlines()[0] == "# __Title Plain text__"
    assert "External link" not in page


def test_hostile_text_cannot_break_tables_or_inject_html() -> None:
    page = render_page(
        _analysis(HOSTILE),
        url="javascript:alert(1)",
        origin=Origin(label="Evil](javascript:x)", url="https://ok.example/x)y"),
    )
    for heading, columns in (("Signals", SIGNAL_COLUMNS), ("Behaviors", ITEM_COLUMNS)):
        rows = _table_after(page, heading)
        assert all(len(r) == len(columns) for r in rows), rows
    assert "External link" not in page  # javascript: URLs never become links
    html = MarkdownIt("commonmark").enable("table").render(page)
    assert "<script" not in html
    assert 'href="javascript' not in html
    # Each table renders with the right number of cells per row.
    for table in re.findall(r"<table>.*?</table>", html, re.S):
        widths = {len(re.findall(r"<t[dh][ >]", row)) for row in re.findall(r"<tr>.*?</tr>", table, re.S)}
        assert len(widths) == 1
    assert html.count("<h2>") == len(_headings(page))  # no heading injected from a cell or the summary
    assert html.count("<h1>") == 1


def test_index_groups_by_category(tmp_path: Path) -> None:
    from horizonscan.models import ArticleView
    from horizonscan.publish.site import write_index, write_pages

    views = [
        ArticleView(
            id=1,
            source="a",
            url=None,
            origin=None,
            title=None,
            language="fr",
            status="analyzed",
            error=None,
            text_hash="h",
            analysis=_analysis(title="Zeta"),
        ),
        ArticleView(
            id=2,
            source="b",
            url=None,
            origin=Origin(label="Weekly 3"),
            title=None,
            language="de",
            status="analyzed",
            error=None,
            text_hash="i",
            analysis=_analysis(title="Alpha", category="economy"),
        ),
    ]
    pages = write_pages(tmp_path, views)
    index = write_index(tmp_path, views).read_text(encoding="utf-8")
    assert index.index("## Economy") < index.index("## Technology")
    for page in pages.values():
        assert f"]({page.name})" in index
    assert "from Weekly 3" in index


def test_long_summaries_are_cut_at_a_sentence_and_never_exceed_150_words() -> None:
    from horizonscan.models import MAX_SUMMARY_WORDS, AnalysisOutput

    sentence = "The city tests driverless shuttles that residents book from an app at night."
    data = {
        "title": "T",
        "summary": " ".join([sentence] * 15),
        "keywords": ["k"],
        "themes": ["t"],
        "category": "Technology",
        "type": "blog_post",
        "behaviors": [],
        "technologies": [],
        "issues": [],
        "signals": [
            {
                "name": "n",
                "description": "d",
                "change": "c",
                "ten_year": "y",
                "driving_force": "f",
                "relevancy": 3,
                "evidence": "e",
            }
        ],
    }
    out = AnalysisOutput.model_validate(data)
    assert len(out.summary.split()) <= MAX_SUMMARY_WORDS and out.summary.endswith("night.")
    assert out.category == "technology" and out.type == "blog post"


def test_repeated_items_are_dropped_and_a_cut_summary_ends_on_a_full_sentence() -> None:
    from horizonscan.models import AnalysisOutput

    sig = {
        "description": "Microforests replace parking lots.",
        "change": "c",
        "ten_year": "y",
        "driving_force": "f",
        "relevancy": 4,
        "evidence": "e",
    }
    data = {
        "title": "T",
        "keywords": ["k"],
        "themes": ["t"],
        "category": "environment",
        "type": "news",
        "summary": (
            "Twelve Italian cities plant dense microforests on former car parks to cool streets. "
            "Volunteers, schools and pensioners look after the young trees for three years. "
            "The goal is to reduce the so-called"
        ),
        "signals": [
            {**sig, "name": "new technology"},
            {**sig, "name": "new policy"},
            {**sig, "name": "Cooler streets", "description": "Street temperatures drop."},
        ],
        "behaviors": [],
        "technologies": [],
        "issues": [],
    }
    out = AnalysisOutput.model_validate(data)
    assert [s.name for s in out.signals] == ["new technology", "Cooler streets"]
    assert out.summary.endswith("three years.")


def _item(kind: str, name: str, **over: object) -> CheckedItem:
    data: dict[str, object] = dict(
        kind=kind, name=name, description=f"{name} described", relevancy=3, evidence=f"quote of {name}",
        evidence_found=True, evidence_score=1.0, dimension="economic",
    )  # fmt: skip
    if kind == "signal":
        data.update(change="from a to b", ten_year="later", driving_force="force", horizon="H2")
    data.update(over)
    return CheckedItem.model_validate(data)


def test_tables_show_dimension_horizon_and_mark_unfound_evidence() -> None:
    items = [
        _item("signal", "Good signal"),
        _item(
            "signal", "Bad signal", evidence_found=False, evidence_note="a number differs: 12 in the article",
            problems=["evidence not found in the article: a number differs"], horizon="H3",
        ),
        _item("behavior", "Good behavior", dimension="social"),
        _item("issue", "Bad issue", evidence_found=False, evidence_note="not in the article"),
    ]  # fmt: skip
    page = render_page(_analysis(items=items))
    signals = {
        row[0]: dict(zip(SIGNAL_COLUMNS, row, strict=True)) for row in _table_after(page, "Signals")[2:]
    }
    assert signals["Good signal"]["dimension"] == "economic" and signals["Good signal"]["horizon"] == "H2"
    assert signals["Good signal"]["evidence"] == "✓"
    assert signals["Bad signal"]["evidence"].startswith("⚠") and signals["Bad signal"]["horizon"] == "H3"
    behaviors = {
        row[0]: dict(zip(ITEM_COLUMNS, row, strict=True)) for row in _table_after(page, "Behaviors")[2:]
    }
    assert (
        behaviors["Good behavior"]["dimension"] == "social" and behaviors["Good behavior"]["evidence"] == "✓"
    )
    issues = _table_after(page, "Issues")[2:]
    assert dict(zip(ITEM_COLUMNS, issues[0], strict=True))["evidence"].startswith("⚠")
    evidence = page.split("## Evidence", 1)[1]
    assert "NOT found in the text (a number differs: 12 in the article)" in evidence
    assert "Evidence not found in the text for 2 of 4 items" in page


def test_picked_sentences_are_not_called_verified_quotes() -> None:
    items = [_item("signal", "Chosen", evidence_mode="picked"), _item("issue", "Quoted")]
    page = render_page(_analysis(items=items))
    row = dict(zip(SIGNAL_COLUMNS, _table_after(page, "Signals")[2], strict=True))
    assert row["evidence"] == "picked"
    lines = page.split("## Evidence", 1)[1].strip().splitlines()
    chosen = next(line for line in lines if "Chosen" in line)
    assert "sentence chosen from the article" in chosen and "verified" not in chosen
    assert "verified quote" in next(line for line in lines if "Quoted" in line)


def test_reused_analysis_says_where_it_comes_from_and_no_signal_is_flagged() -> None:
    page = render_page(_analysis(reused_from=12, items=[_item("issue", "Only an issue")]))
    other = page.split("## Other", 1)[1].split("\n## ", 1)[0]
    assert "Reused from article 12" in other
    assert "No signal was found in this article" in other


def test_csv_cells_cannot_run_as_formulas_while_json_and_parquet_keep_raw_values(tmp_path: Path) -> None:
    import csv
    import io
    import json

    import pyarrow.parquet as pq

    from horizonscan.models import ArticleView
    from horizonscan.publish.export import export

    hostile = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]
    items = [_item("issue", name) for name in hostile]
    view = ArticleView(
        id=1, source="=cmd|' /C calc'!A0", url=None, origin=Origin(label="@evil"), title=None,
        language="fr", status="analyzed", error=None, text_hash="h",
        analysis=_analysis(title="=1+2", items=items, keywords=["-k"]),
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(export([view], "csv", None) or "")))
    assert [r["item_name"] for r in rows] == [f"'{h}" for h in hostile]
    assert rows[0]["title"] == "'=1+2" and rows[0]["source"].startswith("'=") and rows[0]["keywords"] == "'-k"
    assert rows[0]["origin_label"] == "'@evil" and rows[0]["item_relevancy"] == "3"
    assert rows[0]["item_dimension"] == "economic" and rows[0]["item_evidence_status"] == "found"
    data = json.loads(export([view], "json", None) or "")
    assert [i["name"] for i in data[0]["items"]] == hostile and data[0]["title"] == "=1+2"
    export([view], "parquet", tmp_path / "x.parquet")
    table = pq.read_table(tmp_path / "x.parquet").to_pylist()
    assert [r["item_name"] for r in table] == hostile and table[0]["title"] == "=1+2"
    assert table[0]["item_dimension"] == "economic" and "item_horizon" in table[0]
