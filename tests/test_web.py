"""The web app over a corpus built by the real CLI: pages, search and filters, curation, the JSON
API, and every guard fed what it must refuse (token, CSRF, Origin, Host, hostile content)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from horizonscan.config import load_settings
from horizonscan.store import Store
from horizonscan.store.search import ArticleFilter, SearchIndex, fts_query
from horizonscan.web.app import create_app
from horizonscan.web.render import external_url
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer
from tests.support.web_corpus import HOSTILE_MARK, Corpus, assert_inert, build_corpus, llm_env

BASE = "http://127.0.0.1:8000"
ORIGIN = {"origin": BASE}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    with MockLLMServer() as srv:
        yield build_corpus(tmp_path_factory.mktemp("web"), srv)


@pytest.fixture
def store(corpus: Corpus) -> Iterator[Store]:
    s = Store.open(corpus.db)
    yield s
    s.close()


def _client(store: Store, **kwargs: object) -> TestClient:
    settings, _ = load_settings({"db": store.engine.url.database})
    return TestClient(create_app(store, settings, **kwargs), base_url=BASE)  # type: ignore[arg-type]


@pytest.fixture
def client(store: Store) -> TestClient:
    c = _client(store)
    c.get("/")  # receives its CSRF cookie, as a browser would
    return c


def _csrf(c: TestClient) -> str:
    return str(c.cookies.get("hs_csrf"))


# ----- pages, search and filters -------------------------------------------------------------
def test_every_page_renders_with_the_navigation(client: TestClient, corpus: Corpus) -> None:
    article = corpus.ids["lyon-navettes-autonomes.fr.txt"]
    for path in ("/", f"/articles/{article}", "/stories", "/trends", "/radar", "/review", "/explore",
                 "/explore?topic=heat", "/ask", "/usage", "/api/docs"):  # fmt: skip
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        for link in (
            'href="/"',
            'href="/stories"',
            'href="/trends"',
            'href="/radar"',
            'href="/ask"',
            'href="/usage"',
        ):
            assert link in r.text, (path, link)
        assert_inert(r.text)
    assert client.get("/articles/999999").status_code == 404
    assert client.get("/stories/999999").status_code == 404


def test_full_text_search_and_filters(client: TestClient, corpus: Corpus, store: Store) -> None:
    index = SearchIndex(store.engine)
    everyone = index.search(ArticleFilter(), limit=100)
    assert everyone.total == len(corpus.ids)
    # Newest first by publication date (else first seen).
    dates = [h.date for h in everyone.hits]
    assert dates == sorted(dates, reverse=True)
    hits = index.search(ArticleFilter(q="alexa"), limit=10).hits
    assert {h.article_id for h in hits} >= {
        corpus.ids[n] for n in corpus.ids if n.startswith(("000_", "002_"))
    }
    assert hits[0].snippet and "\x02" in hits[0].snippet
    # Every filter narrows; values come from the corpus.
    fr = index.search(ArticleFilter(language="fr"), limit=100).hits
    assert fr and all(h.language == "fr" for h in fr)
    social = index.search(ArticleFilter(dimension="social"), limit=100).hits
    assert social and all("social" in h.dimensions for h in social)
    assert all("H2" in h.horizons for h in index.search(ArticleFilter(horizon="H2"), limit=100).hits)
    tech = index.search(ArticleFilter(theme="Technology"), limit=100)
    assert tech.total == everyone.total - 1 and all(
        "technology" in h.themes for h in tech.hits
    )  # not the hostile
    assert index.search(ArticleFilter(category="sport"), limit=100).total == 0
    assert index.search(ArticleFilter(min_relevancy=5), limit=100).total == 0
    origin = index.search(ArticleFilter(origin=everyone.hits[0].origin), limit=100)
    assert origin.total == everyone.total
    assert index.search(ArticleFilter(date_from="2999-01-01"), limit=100).total == 0
    assert index.search(ArticleFilter(date_to="2999-01-01"), limit=100).total == everyone.total
    found = index.search(ArticleFilter(evidence="found"), limit=100).total
    missing = index.search(ArticleFilter(evidence="missing"), limit=100).total
    assert found + missing == everyone.total and missing >= 1  # the hostile article's invented quote
    # The same through the page and the API.
    page = client.get("/", params={"q": "alexa", "language": "de"}).text
    assert "1 article" in page and "<mark>" in page
    api = client.get("/api/articles", params={"language": "fr", "limit": 2}).json()
    assert api["total"] == len(fr) and len(api["articles"]) == min(2, len(fr))
    facets = client.get("/api/facets").json()
    assert dict(facets["languages"])["fr"] == len(fr)


def test_search_input_can_never_break_the_query(client: TestClient) -> None:
    for q in ('"', "NEAR(a b", "*", "a -b", "title:x", "AND OR NOT", "')--", "\x02\x03", "é ü ß", "a" * 500):
        assert fts_query(q) is None or fts_query(q).count('"') % 2 == 0  # type: ignore[union-attr]
        r = client.get("/", params={"q": q})
        assert r.status_code == 200, q
        assert client.get("/api/articles", params={"q": q}).status_code == 200
    for bad in ({"min_relevancy": "x"}, {"date_from": "yesterday"}, {"evidence": "maybe"}, {"page": "-3"}):
        assert client.get("/", params=bad).status_code == 200


def test_the_index_follows_new_analyses(corpus: Corpus, client: TestClient, tmp_path: Path) -> None:
    before = client.get("/api/articles", params={"q": "Zanzibarian"}).json()["total"]
    assert before == 0
    new = tmp_path / "zanzibar.txt"
    new.write_text(
        "The Zanzibarian Ferry Authority tested electric ferries on its busiest line this summer. "
        "Officials said the trial cut fuel costs by a third and that the fleet could switch by 2030. "
        "Fishermen worried about the price of new boats, and asked the government for help. " * 3,
        encoding="utf-8",
    )
    with llm_env(corpus.server):
        run = run_cli("analyze", str(new), "--llm", "openai:gpt-4o-mini", "--db", str(corpus.db),
                      "--out", str(tmp_path / "pages"), "--json")  # fmt: skip
    assert run.code == 0, run.stderr
    after = client.get("/api/articles", params={"q": "Zanzibarian"}).json()
    assert after["total"] == 1


def test_article_page_in_the_seed_layout(client: TestClient, corpus: Corpus) -> None:
    fr = corpus.ids.get("000_a10e5551f6d12a21.txt")
    if fr is None:
        pytest.skip("../shared/seeds is not beside the checkout")
    html = client.get(f"/articles/{fr}").text
    headings = ("Keywords", "Themes", "Other", "Summary", "Signals", "Behaviors", "Technologies", "Issues")
    for heading in (*headings, "Story", "Closest", "Original text"):
        assert f">{heading}</h2>" in html, heading
    assert html.count('<details class="evidence">') >= 4 and "✓ found" in html
    assert 'rel="noopener noreferrer nofollow"' in html  # the origin's link
    assert f'href="/articles/{corpus.ids["002_3e7c3ba221e95c2a.txt"]}"' in html  # closest and story
    data = client.get(f"/api/articles/{fr}").json()
    assert data["story"] and len(data["story"]["articles"]) == 2
    assert {i["kind"] for i in data["items"]} == {"signal", "behavior", "technology", "issue"}


# ----- hostile content ------------------------------------------------------------------------
def test_payloads_in_model_output_are_escaped_everywhere(client: TestClient, corpus: Corpus) -> None:
    hostile = corpus.hostile_id
    for path in (f"/articles/{hostile}", "/", f"/?q={HOSTILE_MARK}", "/?curation=all"):
        html = client.get(path).text
        assert_inert(html)
        assert "&lt;script&gt;" in html
    html = client.get(f"/articles/{hostile}").text
    assert "&lt;img src=x onerror=" in html and "&lt;svg onload" in html
    # Raw in the JSON API (it is data), served as JSON.
    r = client.get(f"/api/articles/{hostile}")
    assert r.headers["content-type"].startswith("application/json")
    assert "<script>" in r.json()["title"]


def test_only_http_links_are_emitted(client: TestClient, corpus: Corpus, store: Store) -> None:
    hostile = ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x")
    for bad in (*hostile, "//evil.example", " JAVASCRIPT:alert(1)", "file:///etc/passwd"):
        assert external_url(bad) is None
    assert external_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    article = corpus.ids["repair-cafes-europe.en.md"]
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE articles SET url = 'javascript:alert(1)' WHERE id = ?", (article,))
    html = client.get(f"/articles/{article}").text
    assert "javascript:" not in html
    for m in re.finditer(r'<a [^>]*href="(https?://[^"]+)"[^>]*>', html):
        assert 'rel="noopener noreferrer nofollow"' in m.group(0)


# ----- headers ---------------------------------------------------------------------------------
def test_security_headers_and_a_strict_csp(client: TestClient) -> None:
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "hs_csrf" in r.headers.get("set-cookie", "") or client.cookies.get("hs_csrf")
    assert client.get("/static/app.js").headers["content-security-policy"] == csp


def test_api_docs_work_offline(client: TestClient) -> None:
    html = client.get("/api/docs").text
    assert "/api/articles" in html and "/api/openapi.json" in html
    assert not re.search(r'(src|href)="https?://', html)  # nothing loaded from elsewhere
    spec = client.get("/api/openapi.json").json()
    assert "/api/articles" in spec["paths"] and "/api/ask" in spec["paths"]
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


# ----- curation and CSRF ------------------------------------------------------------------------
def test_star_hide_and_note_an_article_through_forms(client: TestClient, corpus: Corpus) -> None:
    article = corpus.ids["desalacion-canarias.es.html"]
    url = f"/articles/{article}/curate"
    token = _csrf(client)
    r = client.post(url, data={"csrf": token, "field": "starred", "value": "1", "next": "/"}, headers=ORIGIN,
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/"
    starred = client.get("/api/articles", params={"curation": "starred"}).json()["articles"]
    assert [a["id"] for a in starred] == [article]
    r = client.post(url, data={"csrf": token, "field": "note", "value": "Check <b>this</b> with the team"},
                    headers={**ORIGIN, "accept": "application/json"})  # fmt: skip
    assert r.json()["note"] == "Check <b>this</b> with the team"
    assert "Check &lt;b&gt;this&lt;/b&gt; with the team" in client.get(f"/articles/{article}").text
    assert "Check &lt;b&gt;this" in client.get("/?curation=noted").text
    # A redirect target elsewhere is refused: back to the article instead.
    r = client.post(url, data={"csrf": token, "field": "hidden", "value": "1", "next": "https://evil.example/"},
                    headers=ORIGIN, follow_redirects=False)  # fmt: skip
    assert r.headers["location"] == f"/articles/{article}"
    default = {a["id"] for a in client.get("/api/articles", params={"limit": 100}).json()["articles"]}
    assert article not in default
    hidden = client.get("/api/articles", params={"curation": "hidden"}).json()["articles"]
    assert [a["id"] for a in hidden] == [article]
    # Kept in exports.
    exported = {a["article_id"]: a for a in json.loads(run_cli("export", "--db", str(corpus.db)).stdout)}
    assert exported[article]["starred"] and exported[article]["hidden"]
    assert exported[article]["note"] == "Check <b>this</b> with the team"
    client.post(url, data={"csrf": token, "field": "hidden", "value": "0"}, headers=ORIGIN)


def test_star_note_and_review_an_item_through_the_api(
    client: TestClient, corpus: Corpus, tmp_path: Path
) -> None:
    article = corpus.ids["microforeste-citta.it.txt"]
    items = client.get(f"/api/articles/{article}").json()["items"]
    signal = next(i for i in items if i["kind"] == "signal")
    headers = {**ORIGIN, "x-csrf-token": _csrf(client)}
    body = {"key": signal["key"], "starred": True, "reviewed": True, "note": "A strong one"}
    r = client.patch(f"/api/articles/{article}/items/curation", json=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"starred": True, "hidden": False, "note": "A strong one",
                                                 "reviewed": True}  # fmt: skip
    again = client.get(f"/api/articles/{article}").json()["items"]
    assert next(i for i in again if i["key"] == signal["key"])["curation"]["reviewed"] is True
    html = client.get(f"/articles/{article}").text
    assert "A strong one" in html and "reviewed</span>" in html
    r = client.patch(
        f"/api/articles/{article}/items/curation", json={"key": "signal:no such"}, headers=headers
    )
    assert r.status_code == 404
    out = tmp_path / "items.csv"
    run_cli("export", "--format", "csv", "-o", str(out), "--db", str(corpus.db))
    rows = out.read_text(encoding="utf-8")
    assert "item_reviewed" in rows and "A strong one" in rows


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        pytest.param(ORIGIN, {"field": "starred", "value": "1"}, id="no-csrf-token"),
        pytest.param(ORIGIN, {"field": "starred", "value": "1", "csrf": "x" * 32}, id="wrong-csrf-token"),
        pytest.param(
            {"origin": "https://evil.example"}, {"field": "starred", "value": "1"}, id="hostile-origin"
        ),
        pytest.param({}, {"field": "starred", "value": "1"}, id="no-origin"),
        pytest.param({"origin": "null"}, {"field": "starred", "value": "1"}, id="null-origin"),
    ],
)
def test_state_changes_without_csrf_proof_are_refused(
    client: TestClient, corpus: Corpus, headers: dict[str, str], data: dict[str, str]
) -> None:
    article = corpus.ids["waermepumpen-mittelstand.de.txt"]
    if "csrf" not in data and headers.get("origin") != BASE:
        data = {**data, "csrf": _csrf(client)}  # a valid token, but from the wrong origin
    r = client.post(f"/articles/{article}/curate", data=data, headers=headers, follow_redirects=False)
    assert r.status_code == 403
    assert client.get(f"/api/articles/{article}").json()["curation"]["starred"] is False


def test_json_api_changes_need_the_csrf_header_too(client: TestClient, corpus: Corpus) -> None:
    article = corpus.ids["waermepumpen-mittelstand.de.txt"]
    url = f"/api/articles/{article}/curation"
    assert client.patch(url, json={"starred": True}, headers=ORIGIN).status_code == 403
    assert (
        client.patch(url, json={"starred": True}, headers={**ORIGIN, "x-csrf-token": "nope" * 8}).status_code
        == 403
    )
    fresh = _client(client.app.state.hs.store)  # type: ignore[attr-defined]
    assert (
        fresh.patch(
            url, json={"starred": True}, headers={**ORIGIN, "x-csrf-token": _csrf(client)}
        ).status_code
        == 403
    )
    assert client.post("/api/ask", json={"question": "x"}, headers=ORIGIN).status_code == 403
    token = client.get("/api/csrf").json()["csrf_token"]
    r = client.patch(url, json={"starred": True}, headers={**ORIGIN, "x-csrf-token": token})
    assert r.status_code == 200 and r.json()["starred"] is True
    client.patch(url, json={"starred": False}, headers={**ORIGIN, "x-csrf-token": token})


# ----- host and token ---------------------------------------------------------------------------
def test_loopback_mode_refuses_other_host_names(store: Store) -> None:
    c = _client(store)
    assert c.get("/", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding
    assert c.get("/", headers={"host": "localhost:8000"}).status_code == 200
    assert c.get("/", headers={"host": "[::1]:8000"}).status_code == 200


def test_token_mode_guards_every_request(store: Store) -> None:
    token = "T0ken-for-the-tests-0123456789"
    c = _client(store, token=token)
    for path in ("/", "/api/articles", "/static/app.css", "/api/openapi.json", "/articles/1"):
        assert c.get(path, headers={"host": "horizon.example:8000"}).status_code == 401, path
    assert c.get("/", headers={"authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    assert c.get("/", headers={"authorization": f"Bearer {token}"}).status_code == 200
    assert c.get("/", headers={"x-horizonscan-token": token}).status_code == 200
    r = c.get(f"/?token={token}&q=alexa", follow_redirects=False)
    assert (
        r.status_code == 303
        and r.headers["location"] == "/?q=alexa"
        and "hs_token=" in r.headers["set-cookie"]
    )
    assert c.get("/").status_code == 200  # the cookie now carries it
    bare = _client(store, token=token)
    assert bare.get("/?token=wrong-token-0123456789").status_code == 401


def test_serve_refuses_a_short_token_and_needs_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("serve", "--db", str(tmp_path / "none.db")).code == 2
    monkeypatch.setenv("HORIZONSCAN_TOKEN", "short")
    Store.open(tmp_path / "hs.db").close()
    assert run_cli("serve", "--host", "0.0.0.0", "--db", str(tmp_path / "hs.db")).code == 2


# ----- trends ----------------------------------------------------------------------------------
def test_trend_pages_read_the_trends_stage(client: TestClient, corpus: Corpus) -> None:
    listing = client.get("/api/trends").json()
    assert listing["trends"], listing  # `horizonscan trends` ran when the corpus was built
    first = listing["trends"][0]
    html = client.get("/trends").text
    assert f'href="/trends/{first["id"]}"' in html and "recent periods" in html
    page = client.get(f"/trends/{first['id']}").text
    assert f'src="/trends/{first["id"]}/timeline.svg"' in page and "Members" in page
    assert_inert(page)
    svg = client.get(f"/trends/{first['id']}/timeline.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<script" not in svg.content
    assert "script-src" not in svg.headers["content-security-policy"]  # styles only, no script
    assert client.get("/trends/999999").status_code == 404
    assert client.get("/api/trends/999999").status_code == 404
    assert client.get("/trends", params={"status": "strong"}).status_code == 200
    # A tiny corpus's trends are mostly noise: the radar draws what is not, or says why it is empty.
    radar = client.get("/radar").text
    if 'src="/radar.svg?ring=status"' in radar:
        svg = client.get("/radar.svg?ring=status")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    else:
        assert "Every trend is still noise" in radar
        assert client.get("/radar.svg").status_code == 404


def test_reviews_and_explorations_cost_a_call_only_on_a_checked_post(client: TestClient) -> None:
    page = client.get("/review", params={"period": "2026-W47"}).text
    assert "No review of 2026-W47 yet" in page and 'method="post"' in page
    assert "Choose a period" in client.get("/review").text
    assert client.get("/review", params={"period": "not a period"}).status_code == 200
    explore = client.get("/explore", params={"topic": "heat pumps"}).text
    assert "has not been explored yet" in explore and 'method="post"' in explore
    for path, field in (("/review", "period"), ("/explore", "topic")):
        r = client.post(path, data={field: "2026-W47"}, headers=ORIGIN)
        assert r.status_code == 403
