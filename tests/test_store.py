"""The database: migrations keep data, analyses are keyed for reuse, the ledger adds up."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from horizonscan.models import Analysis, CallRecord, CheckedItem, Document
from horizonscan.store import Store
from horizonscan.store.db import _alembic_config, head_revision, make_engine


def _doc(source: str, text: str = "Some article text. " * 30) -> Document:
    from horizonscan.extract import text_hash

    return Document(source=source, text=text, text_hash=text_hash(text), language="en")


def _analysis(text_hash: str, model: str = "openai:m") -> Analysis:
    return Analysis(
        text_hash=text_hash,
        model=model,
        prompt_version="v1-x",
        title="T",
        summary="S",
        keywords=["k"],
        themes=["t"],
        category="technology",
        type="news",
        items=[
            CheckedItem(
                kind="signal",
                name="n",
                description="d",
                relevancy=3,
                change="c",
                ten_year="y",
                driving_force="f",
                evidence="e",
            )
        ],
    )


def test_upgrade_from_the_first_schema_keeps_articles(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = make_engine(db)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    con = sqlite3.connect(db)
    con.execute(
        "insert into articles (source, status, attempts, first_seen, updated_at, meta) "
        "values ('a.txt', 'new', 0, '2026-01-01', '2026-01-01', '{}')"
    )
    con.commit()
    con.close()
    store = Store.open(db)
    assert store.articles.article_by_source("a.txt") is not None
    assert store.sources.list_sources() == []
    version = sqlite3.connect(db).execute("select version_num from alembic_version").fetchone()[0]
    assert version == head_revision()
    assert sqlite3.connect(db).execute("pragma journal_mode").fetchone()[0] == "wal"


def test_analysis_reuse_key_and_atomic_ledger(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "hs.db")
    doc = _doc("a.txt")
    art = store.articles.upsert_article(doc)
    ok = CallRecord(
        provider="openai",
        model="m",
        text_hash=doc.text_hash,
        input_tokens=100,
        output_tokens=50,
        cost_usd=0.01,
    )
    store.ledger.record_calls(
        [ok.model_copy(update={"status": "error", "error": "HTTP 500", "cost_usd": 0.0})]
    )
    store.analyses.save_analysis(_analysis(doc.text_hash), art, calls=[ok])
    assert store.analyses.find_analysis(doc.text_hash, "v1-x", "openai:m") is not None
    assert (
        store.analyses.find_analysis(doc.text_hash, "v1-x", "anthropic:m") is None
    )  # another model: not reused
    assert (
        store.analyses.find_analysis(doc.text_hash, "v2-y", "openai:m") is None
    )  # another prompt: not reused
    usage = store.ledger.usage()
    assert usage == [
        {
            "provider": "openai",
            "model": "m",
            "calls": 2,
            "ok": 1,
            "failed": 1,
            "input_tokens": 200,
            "output_tokens": 100,
            "cost_usd": 0.01,
            "avg_latency_s": 0.0,
        }
    ]
    store.analyses.save_analysis(_analysis(doc.text_hash), art)  # saving again replaces, items included
    con = sqlite3.connect(tmp_path / "hs.db")
    assert con.execute("select count(*) from analyses").fetchone()[0] == 1
    assert con.execute("select count(*) from items").fetchone()[0] == 1
    view = store.views.articles()[0]
    assert view.analysis is not None and view.analysis.items[0].change == "c"


def test_first_origin_is_kept(tmp_path: Path) -> None:
    from horizonscan.models import Origin

    store = Store.open(tmp_path / "hs.db")
    store.articles.upsert_article(
        _doc("u").model_copy(update={"origin": Origin(label="Issue 1", url="https://n/1")})
    )
    store.articles.upsert_article(
        _doc("u").model_copy(update={"origin": Origin(label="Issue 9", url="https://n/9")})
    )
    row = store.articles.article_by_source("u")
    assert row is not None and row.origin_label == "Issue 1"
