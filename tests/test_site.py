"""`horizonscan site OUT/`: static HTML with relative links, an Atom feed, client-side search;
curation decides what is published, and everything is escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest

from horizonscan.store import Store
from horizonscan.store.curation import CurationRepo
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer
from tests.support.web_corpus import HOSTILE_MARK, Corpus, assert_inert, build_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    with MockLLMServer() as srv:
        yield build_corpus(tmp_path_factory.mktemp("site"), srv)


def test_static_site_pages_feed_and_search(corpus: Corpus, tmp_path: Path) -> None:
    hidden = corpus.ids["desalacion-canarias.es.html"]
    starred = corpus.ids["lyon-navettes-autonomes.fr.txt"]
    store = Store.open(corpus.db)
    repo = CurationRepo(store.engine)
    repo.set_article(hidden, hidden=True)
    repo.set_article(starred, starred=True, note="Team pick")
    from horizonscan.models import item_key

    page = store.views.articles(article_ids=[starred])[0]
    assert page.analysis is not None
    secret_item = next(i for i in page.analysis.items if i.kind == "issue")
    repo.set_item(starred, item_key(secret_item.kind, secret_item.name), hidden=True)
    store.close()

    out = tmp_path / "site"
    run = run_cli("site", str(out), "--db", str(corpus.db), "--base-url", "https://example.org/watch/")
    assert run.code == 0, run.stderr
    assert (out / "index.html").is_file() and (out / ".nojekyll").is_file()
    articles = {p.name for p in (out / "articles").glob("*.html")}
    assert f"{hidden}.html" not in articles and f"{starred}.html" in articles
    assert len(articles) == len(corpus.ids) - 1
    lyon = (out / "articles" / f"{starred}.html").read_text(encoding="utf-8")
    assert "★ Starred" in lyon and "Team pick" in lyon
    assert f"<strong>{secret_item.name}</strong>" not in lyon  # the hidden item is left out
    assert "csrf" not in lyon and 'method="post"' not in lyon  # nothing to change on a static site

    for html_file in out.rglob("*.html"):
        text = html_file.read_text(encoding="utf-8")
        assert_inert(text)
        # Relative links only: the site works from a sub-path (GitHub Pages) and from the disk.
        assert not re.search(r'(href|src|action)="/', text), (
            html_file,
            re.search(r'(href|src|action)="/[^"]*"', text),
        )
    hostile = (out / "articles" / f"{corpus.hostile_id}.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in hostile and "<script>window" not in hostile
    assert "../static/app.css" in hostile and 'href="../index.html"' in hostile

    feed = feedparser.parse((out / "feed.xml").read_bytes())
    assert not feed.bozo and feed.feed.title == "horizonscan: new analyses"
    links = {e.link for e in feed.entries}
    assert f"https://example.org/watch/articles/{starred}.html" in links
    assert f"https://example.org/watch/articles/{hidden}.html" not in links
    titles = [e.title for e in feed.entries]
    assert any(t.startswith("Data tool <script>") for t in titles)  # text, escaped in the XML
    assert "<script>window" not in (out / "feed.xml").read_text(encoding="utf-8")

    # Client-side search: pagefind's index and UI, and only article, story and trend pages indexed.
    assert (out / "pagefind" / "pagefind-ui.js").is_file()
    assert (out / "pagefind" / "pagefind-entry.json").is_file()
    assert "data-pagefind-body" in lyon and "data-pagefind-body" not in (out / "index.html").read_text(
        encoding="utf-8"
    )
    assert HOSTILE_MARK  # the hostile article is searchable text, like any other

    # Again into the same folder: allowed, and a page that is now hidden disappears.
    store = Store.open(corpus.db)
    CurationRepo(store.engine).set_article(starred, hidden=True)
    store.close()
    assert run_cli("site", str(out), "--db", str(corpus.db), "--no-search").code == 0
    assert not (out / "articles" / f"{starred}.html").exists()
    store = Store.open(corpus.db)
    CurationRepo(store.engine).set_article(starred, hidden=False)
    CurationRepo(store.engine).set_article(hidden, hidden=False)
    store.close()


def test_site_refuses_a_folder_it_did_not_write(corpus: Corpus, tmp_path: Path) -> None:
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "thesis.md").write_text("precious", encoding="utf-8")
    run = run_cli("site", str(mine), "--db", str(corpus.db))
    assert run.code == 2 and "not empty" in run.stderr
    assert (mine / "thesis.md").read_text(encoding="utf-8") == "precious"
    assert (
        run_cli("site", str(tmp_path / "x"), "--db", str(corpus.db), "--base-url", "javascript:alert(1)").code
        == 2
    )
