"""The same store, commands and web data layer on SQLite and on a real PostgreSQL server.

The server is the embedded one of tests/support/postgres.py (one per session, a fresh database
per test). A representative set runs on both engines: every repository, full-text search and
its filters, curation, trends, the batch repository, `analyze`/`trends`/`export` through the CLI
with the mock LLM, the web app's data layer, and `migrate-db` from one engine to the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from horizonscan.models import Analysis, CallRecord, CheckedItem, Document, Origin
from horizonscan.store import Store, dialect
from horizonscan.store.db import ForeignDatabase, MissingDatabase
from horizonscan.store.search import ArticleFilter, ts_query
from tests.conftest import EXAMPLES, SEED_DE, SEED_FR
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer
from tests.support.postgres import PgServer
from tests.support.web_corpus import corpus_responder, llm_env


def _doc(source: str, text: str = "Some article text. " * 30, **kw: object) -> Document:
    from horizonscan.extract import text_hash

    return Document(source=source, text=text, text_hash=text_hash(text), language="en", **kw)  # type: ignore[arg-type]


def _analysis(text_hash: str, model: str = "openai:m") -> Analysis:
    item = CheckedItem(
        kind="signal", name="Heat pumps in small firms", description="d", relevancy=3, change="c",
        ten_year="y", driving_force="f", evidence="e", dimension="technological", horizon="H2",
    )  # fmt: skip
    return Analysis(
        text_hash=text_hash, model=model, prompt_version="v1-x", title="Heat pumps",
        summary="Small firms install heat pumps.", keywords=["heat pump", "énergie"], themes=["energy"],
        category="technology", type="news", items=[item],
    )  # fmt: skip


# ----- every repository, on both engines ---------------------------------------------------------
def test_repositories_on_both_engines(any_db: str) -> None:
    store = Store.open(any_db)
    try:
        arts = store.articles
        doc = _doc("a.txt", origin=Origin(label="Issue 1", url="https://n/1"))
        a = arts.upsert_article(doc)
        assert arts.upsert_article(doc.model_copy(update={"origin": Origin(label="Issue 9")})) == a
        row = arts.article_by_source("a.txt")
        assert row is not None and row.origin_label == "Issue 1" and row.status == "new"
        assert arts.document(a) == doc
        assert arts.known_sources(["a.txt", "b.txt"]) == {"a.txt"}
        arts.record_fetch_failure("https://x/1", None, "HTTP 404")
        assert arts.failed_sources() == ["https://x/1"]
        assert arts.find_articles(doc.text_hash[:10])[0].id == a

        ok = CallRecord(provider="openai", model="m", text_hash=doc.text_hash, input_tokens=10, cost_usd=0.5)
        store.analyses.save_analysis(_analysis(doc.text_hash), a, calls=[ok], run_id="r1")
        found = store.analyses.find_analysis(doc.text_hash, "v1-x", "openai:m")
        assert found is not None and found.items[0].horizon == "H2" and found.keywords[1] == "énergie"
        assert store.analyses.analysis_keys("v1-x", "openai:m") == {doc.text_hash}
        assert store.ledger.usage()[0]["calls"] == 1 and store.ledger.usage()[0]["cost_usd"] == 0.5
        assert [c.run_id for c in store.ledger.calls(last=5)] == ["r1"]
        store.analyses.save_analysis_part(doc.text_hash, "v1-x", "m", "p1", 0, {"title": "a"})
        store.analyses.save_analysis_part(doc.text_hash, "v1-x", "m", "p1", 0, {"title": "b"})  # upsert
        assert store.analyses.analysis_parts(doc.text_hash, "v1-x", "m") == {"p1": {"title": "b"}}
        view = store.views.articles()[0]
        assert view.status == "analyzed" and view.analysis is not None and view.origin is not None

        # Leases: one holder at a time; the next unheld article for a worker.
        b = arts.upsert_article(_doc("b.txt", "Other text. " * 40))
        assert arts.claim_article(b, "w1", seconds=60, text_hash=None)
        assert not arts.claim_article(b, "w2", seconds=60)
        assert arts.lease_holders(b) == {"w1"}
        assert arts.claim_next("w2", seconds=60) is None  # b is held, a is analyzed
        arts.release_leases("w1")
        assert arts.claim_next("w2", seconds=60) == b

        store.signatures.add_neardup_keys(doc.text_hash, ["k1", "k2", "k1"])
        store.signatures.add_neardup_keys(doc.text_hash, ["k1"])  # already there: ignored
        assert store.signatures.neardup_candidates(["k1", "k2"]) == {doc.text_hash: 2}
        store.stories.set_story_members({a: a, b: a})
        assert store.stories.story_members() == {a: a, b: a}
        store.meta.set("x", "1")
        store.meta.set("x", "2")
        assert store.meta.get("x") == "2"
        src = store.sources.add_source("https://feed/rss", label="Feed")
        assert store.sources.source_by_spec("https://feed/rss") is not None
        assert store.sources.remove_source(str(src.id))

        # Curation upserts, the trends meta upsert and item vectors (insert-or-ignore).
        assert store.curation.set_article(a, starred=True).starred
        assert store.curation.set_article(a, note="look").starred  # only the note changed
        assert store.curation.set_item(a, "signal:heat", reviewed=True).reviewed
        store.trends.set_meta({"state": "s1"})
        store.trends.set_meta({"state": "s2"})
        assert store.trends.meta("state") == "s2"
        import numpy as np

        store.trends.add_vectors("use", {"k": np.ones(4, dtype=np.float32)})
        store.trends.add_vectors("use", {"k": np.zeros(4, dtype=np.float32)})
        assert store.trends.vectors(["k"])["k"].tolist() == [1.0, 1.0, 1.0, 1.0]

        # The search index follows the triggers on both engines (accents folded).
        hits = store.search.search(ArticleFilter(q="energie"))
        assert [h.article_id for h in hits.hits] == [a]
        assert store.search.search(ArticleFilter(q="pump", theme="energy", curation="starred")).total == 1
        assert store.search.search(ArticleFilter(q="nothing-like-this")).total == 0
        assert store.search.retrieve("which firms install heat pumps?")[0][0] == a
    finally:
        store.close()


def test_batch_repository_on_both_engines(any_db: str) -> None:
    from horizonscan.store.batches import NewItem

    store = Store.open(any_db)
    try:
        doc = _doc("a.txt")
        a = store.articles.upsert_article(doc)
        repo = store.batches
        bid = repo.create(
            provider="openai", model="m", prompt_version="v1", mode="json", tag="t-1",
            items=[NewItem(custom_id="c1", article_id=a, text_hash=doc.text_hash)],
        )  # fmt: skip
        repo.submitted(bid, "remote-1", input_file_id="f1")
        assert repo.known_remote_ids("openai") == {"remote-1"}
        assert repo.claim(bid, "w1", seconds=60) and not repo.claim(bid, "w2", seconds=60)
        assert [s.remote_id for s in repo.summaries()] == ["remote-1"]
        assert [i.custom_id for i in repo.items(bid)] == ["c1"]
        assert store.articles.article_by_source("a.txt").status == "batched"  # type: ignore[union-attr]
    finally:
        store.close()


# ----- opening: refusal of another application's database ------------------------------------------
def test_postgres_database_of_another_application_is_refused(pg_server: PgServer) -> None:
    import psycopg

    url = pg_server.create("foreign_app", vector=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id serial PRIMARY KEY, total numeric)")
    with pytest.raises(ForeignDatabase, match="other tables \\(invoices\\)"):
        Store.open(url)
    with psycopg.connect(url) as conn:  # left untouched: no table of ours was added
        names = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert names == {"invoices"}
    run = run_cli("usage", "--db", url)
    assert run.code == 3 and "belongs to another application" in run.stderr
    # A read-only command on a database that does not exist: said, not created.
    missing = pg_server.url("never_created")
    with pytest.raises(MissingDatabase):
        Store.open(missing, create=False)
    assert run_cli("usage", "--db", missing).code == 2
    # A writing command creates it.
    Store.open(pg_server.url("created_on_demand")).close()
    pg_server.drop("created_on_demand")


def test_postgres_url_from_the_environment(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HORIZONSCAN_DB", pg_url)
    Store.open(pg_url).close()  # an empty database is created, then migrated
    run = run_cli("usage", "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["total"]["calls"] == 0


def test_database_urls_are_kept_masked_and_checked(tmp_path: Path) -> None:
    """A URL survives the settings (a Path would fold its `//`), its password is never printed,
    and a scheme other than PostgreSQL's is refused before anything connects."""
    from horizonscan.config import load_settings
    from horizonscan.store.db import shown

    url = "postgresql://team:s3cret-pw@db.example.org:5432/horizonscan"
    settings, _ = load_settings({"db": url})
    assert settings.db == url and settings.db_file() is None
    assert settings.archive_dir() == Path("horizonscan-raw")
    assert shown(url) == "postgresql://team:***@db.example.org:5432/horizonscan"
    assert load_settings({"db": str(tmp_path / "a.db")})[0].db == tmp_path / "a.db"
    run = run_cli("usage", "--db", "mysql://team:s3cret-pw@db.example.org/hs")
    assert run.code == 3 and "unsupported database URL" in run.stderr and "s3cret" not in run.stderr
    same = run_cli("migrate-db", str(tmp_path / "a.db"), str(tmp_path / "a.db"))
    assert same.code == 3 and "the same database" in same.stderr
    missing = run_cli("migrate-db", str(tmp_path / "none.db"), str(tmp_path / "b.db"))
    assert missing.code == 2 and not (tmp_path / "b.db").exists()


def test_ts_query_is_safe_and_folds() -> None:
    assert ts_query('Énergie "heat pump" NEAR( *') == "'energie':* & ('heat' <-> 'pump') & 'near':*"
    assert ts_query("what are cities doing", any_term=True, drop_stopwords=True) == "'cities':* | 'doing':*"
    assert ts_query("' ; -- ") is None


# ----- a corpus through the CLI, on both engines ----------------------------------------------------
@dataclass
class Corpus:
    db: str
    folder: Path
    ids: dict[str, int]


def _analyze(db: str, folder: Path, server: MockLLMServer) -> Corpus:
    inputs = [str(EXAMPLES)] + ([str(SEED_FR), str(SEED_DE)] if SEED_FR.is_file() else [])
    server.responder = corpus_responder()
    with llm_env(server):
        run = run_cli(
            "analyze", *inputs, "--llm", "openai:gpt-4o-mini", "--db", db, "--out", str(folder / "pages"),
            "--origin", "Weekly watch=https://example.org/watch/1", "--json",
        )  # fmt: skip
    assert run.code == 0, run.stderr
    trends = run_cli("trends", "--db", db, "--json")
    assert trends.code == 0, trends.stderr
    ids = {Path(r["source"]).name: int(r["article_id"]) for r in json.loads(run.stdout)["results"]}
    return Corpus(db, folder, ids)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Iterator[dict[str, Corpus]]:
    """The same inputs analyzed into SQLite and into PostgreSQL (module-wide: built once)."""
    folder = tmp_path_factory.mktemp("pgcorpus")
    url = pg_server.create("corpus")
    with MockLLMServer() as srv:
        out = {
            "sqlite": _analyze(str(folder / "hs.db"), folder / "sqlite", srv),
            "postgresql": _analyze(url, folder / "pg", srv),
        }
    yield out
    pg_server.drop("corpus")


def _export(db: str, folder: Path) -> list[dict[str, object]]:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "export.json"
    run = run_cli("export", "--db", db, "--format", "json", "--output", str(out))
    assert run.code == 0, run.stderr
    data = json.loads(out.read_text())
    return list(data if isinstance(data, list) else data["articles"])


def _comparable(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Exported articles of two separate runs: by source, without ids and times (the batch
    analyzes concurrently, so ids follow the order answers arrive in)."""
    drop = {"article_id", "created_at", "reused_from"}
    return sorted(
        ({k: v for k, v in r.items() if k not in drop} for r in rows), key=lambda r: str(r["source"])
    )


def _found(c: Corpus, q: str) -> list[str]:
    """Names of the input files a search finds."""
    names = {i: n for n, i in c.ids.items()}
    store = Store.open(c.db, create=False)
    try:
        return sorted(names[h.article_id] for h in store.search.search(ArticleFilter(q=q)).hits)
    finally:
        store.close()


def test_cli_corpus_is_the_same_on_both_engines(corpora: dict[str, Corpus], tmp_path: Path) -> None:
    lite, pg = corpora["sqlite"], corpora["postgresql"]
    assert lite.ids.keys() == pg.ids.keys()
    assert _comparable(_export(lite.db, tmp_path / "a")) == _comparable(_export(pg.db, tmp_path / "b"))
    for db in (lite.db, pg.db):
        trends = run_cli("trends", "--db", db, "--json")
        assert trends.code == 0, trends.stderr
    lt, pt = (json.loads(run_cli("trends", "--db", c.db, "--json").stdout) for c in (lite, pg))
    # Ties in the ranking fall to ids, which differ between two concurrent runs: compare as sets.
    assert lt["trends"] and sorted(t["name"] for t in lt["trends"]) == sorted(t["name"] for t in pt["trends"])
    for q in ("navettes", "wärmepumpen", "warmepumpen", "alexa", "development", "repair café"):
        assert _found(lite, q) and _found(lite, q) == _found(pg, q), q


def test_nearest_neighbours_in_pgvector(corpora: dict[str, Corpus]) -> None:
    """PostgreSQL answers from its HNSW index what SQLite answers from the in-process matrix."""
    import numpy as np

    lite, pg = (Store.open(c.db, create=False) for c in (corpora["sqlite"], corpora["postgresql"]))
    try:
        ids, mat = lite.search.article_vectors()
        assert lite.search.nearest(mat[0], 3) is None  # SQLite: no pgvector, the caller falls back
        names = {i: n for n, i in corpora["sqlite"].ids.items()}
        pg_ids = corpora["postgresql"].ids
        for row in range(len(ids)):
            sims = mat @ mat[row]
            expect = [names[ids[i]] for i in np.argsort(-sims)[:3]]
            near = pg.search.nearest(mat[row], 3)
            assert near is not None and near[0][1] > 0.999
            pg_names = {i: n for n, i in pg_ids.items()}
            assert [pg_names[a] for a, _ in near] == expect
        with pg.engine.begin() as conn:  # the index is there, and usable for the query
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            dim = int(mat.shape[1])
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    text("EXPLAIN " + dialect.nearest_sql(dim)),
                    {"q": dialect.vector_literal(mat[0]), "k": 3},
                )
            )
        assert f"ix_article_embeddings_hnsw_{dim}" in plan, plan
    finally:
        lite.close()
        pg.close()


def test_web_data_layer_on_postgres(corpora: dict[str, Corpus]) -> None:
    from fastapi.testclient import TestClient

    from horizonscan.config import load_settings
    from horizonscan.web.app import create_app

    pg = corpora["postgresql"]
    store = Store.open(pg.db, create=False)
    try:
        settings, _ = load_settings({"db": pg.db})
        client = TestClient(create_app(store, settings), base_url="http://127.0.0.1:8000")  # type: ignore[arg-type]
        article = pg.ids["lyon-navettes-autonomes.fr.txt"]
        for path in ("/", f"/articles/{article}", "/stories", "/trends", "/usage", "/?q=navettes",
                     "/?theme=society", "/ask"):  # fmt: skip
            r = client.get(path)
            assert r.status_code == 200, (path, r.text[:300])
        assert "navettes" in client.get("/?q=navettes").text.lower()
        api = client.get("/api/articles", params={"q": "navettes"})
        assert api.status_code == 200, api.text[:300]
    finally:
        store.close()


# ----- migrate-db ----------------------------------------------------------------------------------
def _counts(db: str) -> dict[str, int]:
    from horizonscan.store.copy import tables

    store = Store.open(db, create=False)
    try:
        with store.engine.connect() as conn:
            out = {
                name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
                for name in [t.name for t in tables()] + ["search_docs"]
            }
        return out
    finally:
        store.close()


def test_migrate_db_sqlite_to_postgres_and_back(
    corpora: dict[str, Corpus], pg_server: PgServer, tmp_path: Path
) -> None:
    lite = corpora["sqlite"]
    # Curation and a story synthesis row, so every aggregate has rows to carry.
    store = Store.open(lite.db)
    some = next(iter(lite.ids.values()))
    store.curation.set_article(some, starred=True, note="keep")
    store.curation.set_item(some, "signal:x", reviewed=True)
    store.search.sync()
    store.close()
    before = _counts(lite.db)
    kept = ("articles", "analyses", "items", "llm_calls", "story_members", "trends", "trend_members",
            "item_vectors", "signatures", "neardup_keys", "curation_articles", "search_docs")  # fmt: skip
    assert all(before[t] > 0 for t in kept), before

    url = pg_server.create("migrated")
    run = run_cli("migrate-db", lite.db, url, "--batch", "7", "--json")
    assert run.code == 0, run.stderr
    reported = {r["table"]: (r["source"], r["destination"]) for r in run.json()["tables"]}
    assert all(s == d for s, d in reported.values())
    assert reported["article_embeddings"] == (before["signatures"], before["signatures"])  # pgvector
    assert _counts(url) == before
    # Again into the now full database: refused, nothing changed.
    again = run_cli("migrate-db", lite.db, url)
    assert again.code == 3 and "already holds data" in again.stderr
    assert _counts(url) == before

    # The same answers from both: the export to the byte, search, a curated value; new ids
    # continue after the copied ones.
    assert _export(lite.db, tmp_path / "a") == _export(url, tmp_path / "b")
    for q in ("navettes", "wärmepumpen", "warmepumpen", "alexa", "development", "repair café"):
        assert _found(lite, q) == _found(Corpus(url, tmp_path, lite.ids), q), q
    pg_store = Store.open(url)
    try:
        assert pg_store.curation.article(some).note == "keep"
        new_id = pg_store.articles.upsert_article(_doc("after-migration.txt"))
        assert new_id > max(lite.ids.values())
    finally:
        pg_store.close()
    pg_server.drop("migrated")

    # And back: PostgreSQL → a new SQLite file.
    back = tmp_path / "back.db"
    run = run_cli("migrate-db", corpora["postgresql"].db, str(back))
    assert run.code == 0, run.stderr
    assert "every count matches" in run.stderr
    assert _counts(str(back))["analyses"] == _counts(corpora["postgresql"].db)["analyses"]


def test_migrate_db_refuses_what_postgres_cannot_hold_and_commits_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    """SQLite keeps a value longer than its column's declared size; PostgreSQL does not: the copy
    stops with the table named, and the destination stays empty, so a fixed source copies again."""
    import sqlite3

    db = tmp_path / "hs.db"
    store = Store.open(db)
    store.articles.upsert_article(_doc("a.txt"))
    store.articles.upsert_article(_doc("b.txt", "Another text. " * 30))
    store.close()
    con = sqlite3.connect(db)
    con.execute("UPDATE articles SET language = 'a-language-tag-far-too-long' WHERE source = 'b.txt'")
    con.commit()
    run = run_cli("migrate-db", str(db), pg_url)
    assert run.code == 3 and "cannot copy table articles" in run.stderr
    assert _counts(pg_url)["articles"] == 0
    con.execute("UPDATE articles SET language = 'en'")
    con.commit()
    con.close()
    again = run_cli("migrate-db", str(db), pg_url)
    assert again.code == 0, again.stderr
    assert _counts(pg_url)["articles"] == 2
