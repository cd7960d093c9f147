"""The web app in a real browser: Playwright driving Debian's Chromium, headless.

The app runs with uvicorn on 127.0.0.1 over a corpus built by the real CLI against the mock
LLM (which also answers the questions asked on the ask page). Every page is checked for console
errors; the hostile article must render inert. Screenshots (laptop 1366x768, phone 390x844) go
to $HORIZONSCAN_SCREENSHOTS when set, else to the test's temporary folder.

Skipped only when /usr/bin/chromium is missing outside CI; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from horizonscan.config import load_settings
from horizonscan.store import Store
from horizonscan.web.app import create_app
from tests.support.mock_llm import MockLLMServer
from tests.support.web_corpus import Corpus, build_corpus, llm_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
VIEWPORTS = {"laptop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail("CI must install Debian's chromium (`make test` does): /usr/bin/chromium is missing",
                    pytrace=False)  # fmt: skip
    pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)", allow_module_level=True)

if os.environ.get("CI") != "true":
    pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@dataclass
class App:
    url: str
    corpus: Corpus
    shots: Path


@dataclass
class Watch:
    """Everything a page said that it should not have."""

    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.on(
            "console",
            lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
        )
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        # A request cancelled by the next navigation (ERR_ABORTED) is not a failure of the page.
        page.on(
            "requestfailed",
            lambda r: (
                self.failures.append(f"{r.url}: {r.failure}") if "ERR_ABORTED" not in str(r.failure) else None
            ),
        )

        def on_dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)
        return page

    def assert_clean(self) -> None:
        assert not self.console, self.console
        assert not self.dialogs, self.dialogs
        assert not self.failures, self.failures


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    import uvicorn

    with MockLLMServer() as srv:
        corpus = build_corpus(tmp_path_factory.mktemp("browser"), srv)
        with llm_env(srv):
            store = Store.open(corpus.db)
            settings, _ = load_settings({"db": corpus.db, "llm": "openai:gpt-4o-mini"})
            web = create_app(store, settings)
            sock = socket.socket()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as uvicorn's own sockets
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            server = uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="off"))
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            deadline = time.monotonic() + 20
            while not server.started:
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.05)
            shots = Path(os.environ.get("HORIZONSCAN_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
            shots.mkdir(parents=True, exist_ok=True)
            try:
                yield App(f"http://127.0.0.1:{port}", corpus, shots)
            finally:
                server.should_exit = True
                thread.join(timeout=10)
                store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(viewport=VIEWPORTS["laptop"])
    watch = Watch()
    yield watch.attach(context.new_page()), watch
    context.close()


def test_search_filter_open_expand_star_and_note(app: App, page: tuple[Page, Watch]) -> None:
    pg, watch = page
    pg.goto(app.url + "/")
    pg.fill("#q", "alexa")
    pg.press("#q", "Enter")
    pg.wait_for_url(re.compile(r"q=alexa"))
    assert pg.locator("article.card").count() >= 2
    assert pg.locator("article.card mark").count() >= 1
    # A filter applies as soon as it changes (app.js submits the form).
    pg.select_option("select[name=language]", "de")
    pg.wait_for_url(re.compile(r"language=de"))
    cards = pg.locator("article.card")
    assert cards.count() == 1
    cards.first.locator(".card-title a").click()
    pg.wait_for_url(re.compile(r"/articles/\d+$"))
    article_url = pg.url
    # Evidence opens on demand.
    evidence = pg.locator("details.evidence").first
    assert not evidence.locator("blockquote").is_visible()
    evidence.locator("summary").click()
    assert evidence.locator("blockquote").is_visible()
    # Star an item: saved without reload, and still there after one.
    row = pg.locator("tr.item-row").first
    star = row.locator(".item-tools .star button")
    assert star.get_attribute("aria-pressed") == "false"
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    assert "is-starred" in (row.get_attribute("class") or "")
    # A note on the same item.
    row.locator(".item-tools .note-edit summary").click()
    row.locator("textarea").fill("Follow this one <b>closely</b>")
    row.locator(".note-form button").click()
    expect(row.locator(".note-form .status")).to_have_text("Saved.")
    assert row.locator("[data-note-target] .note-text").inner_text() == "Follow this one <b>closely</b>"
    pg.goto(article_url)
    row = pg.locator("tr.item-row").first
    assert row.locator(".item-tools .star button").get_attribute("aria-pressed") == "true"
    assert row.locator("[data-note-target] .note-text").inner_text() == "Follow this one <b>closely</b>"
    # Star the article itself from its page.
    pg.locator(".curate-bar .star button").click()
    expect(pg.locator(".curate-bar .star button")).to_have_attribute("aria-pressed", "true")
    pg.goto(app.url + "/?curation=starred")
    assert pg.locator("article.card").count() == 1
    # The story this article belongs to.
    pg.goto(article_url)
    story = pg.locator(".story-box a").first
    if story.count():
        story.click()
        pg.wait_for_url(re.compile(r"/stories/\d+$"))
        assert pg.locator("h2", has_text="Sources").count() == 1
        assert pg.locator("ol.sources li").count() >= 2
    watch.assert_clean()


def test_trends_radar_review_and_explore_pages(app: App, page: tuple[Page, Watch]) -> None:
    pg, watch = page
    for path in ("/trends", "/radar", "/review", "/explore?topic=autonomous+shuttles"):
        pg.goto(app.url + path)
        assert pg.locator("h1").count() == 1
    pg.goto(app.url + "/trends")
    first = pg.locator("a.trend-link").first
    if first.count():
        first.click()
        pg.wait_for_url(re.compile(r"/trends/\d+$"))
        assert pg.locator("h1").inner_text()
    watch.assert_clean()


def test_ask_a_question_and_follow_a_citation(
    app: App, page: tuple[Page, Watch], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app reads the provider's settings when a question comes (conftest clears them per test).
    monkeypatch.setenv("OPENAI_BASE_URL", app.corpus.server.openai_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-web-0123456789")
    pg, watch = page
    pg.goto(app.url + "/ask")
    pg.fill("#question", "What is Amazon doing with Alexa and generative AI?")
    pg.click("form.ask-form button")
    pg.wait_for_selector("ol.claims li", timeout=60_000)
    pg.screenshot(path=str(app.shots / "laptop-ask-answer.png"), full_page=True)
    cites = pg.locator("a.cite")
    assert cites.count() >= 1
    assert pg.locator("ol.sources li").count() >= 1
    cites.first.click()
    pg.wait_for_url(re.compile(r"/articles/\d+$"))
    watch.assert_clean()


def test_hostile_model_output_renders_inert(app: App, page: tuple[Page, Watch]) -> None:
    pg, watch = page
    for path in (f"/articles/{app.corpus.hostile_id}", "/?q=Quixotic", "/?curation=all", "/stories"):
        pg.goto(app.url + path)
        for details in pg.locator("details.evidence").all():
            details.locator("summary").click()
        pg.wait_for_timeout(200)
        assert pg.evaluate("typeof window.__pwned") == "undefined"
        assert pg.locator("script:not([src])").count() == 0
        assert pg.locator("body img, body svg").count() == 0
    response = pg.goto(app.url + f"/articles/{app.corpus.hostile_id}")
    assert response is not None and "&lt;script&gt;" in response.text()  # escaped in the HTML
    assert pg.locator("h1").inner_text().startswith("Data tool <script>")
    watch.assert_clean()


def test_no_console_error_on_any_page_and_screenshots(app: App, browser: Browser) -> None:
    ids = app.corpus.ids
    story_page = None
    paths = ["/", "/?q=alexa", "/?dimension=social", f"/articles/{ids['lyon-navettes-autonomes.fr.txt']}",
             f"/articles/{app.corpus.hostile_id}", "/stories", "/trends", "/radar", "/review", "/explore",
             "/ask", "/usage", "/api/docs", "/no-such-page"]  # fmt: skip
    for name, viewport in VIEWPORTS.items():
        context = browser.new_context(viewport=viewport)
        watch = Watch()
        pg = watch.attach(context.new_page())
        pg.goto(app.url + "/stories")
        link = pg.locator(".story-list a").first
        story_page = link.get_attribute("href") if link.count() else None
        for path in [*paths, *([story_page] if story_page else [])]:
            response = pg.goto(app.url + path)
            assert response is not None
            expected = 404 if path == "/no-such-page" else 200
            assert response.status == expected, path
            label = (
                path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-").replace("+", "-")
                or "home"
            )
            pg.screenshot(path=str(app.shots / f"{name}-{label}.png"), full_page=True)
        # The 404 page's request shows in the console as a failed resource; it is the only one.
        errors = [c for c in watch.console if "404" not in c]
        assert not errors, errors
        assert not watch.dialogs
        # Nothing horizontally off-screen on a phone.
        if name == "phone":
            for path in ("/", f"/articles/{ids['lyon-navettes-autonomes.fr.txt']}", "/usage"):
                pg.goto(app.url + path)
                width = pg.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"] + 1, (path, width)
        context.close()


def test_static_site_search_in_the_browser(app: App, browser: Browser, tmp_path: Path) -> None:
    import functools
    import http.server

    from tests.support.cli import run_cli

    out = tmp_path / "site"
    run = run_cli("site", str(out), "--db", str(app.corpus.db))
    assert run.code == 0, run.stderr

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(out)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        for name, viewport in VIEWPORTS.items():
            context = browser.new_context(viewport=viewport)
            watch = Watch()
            pg = watch.attach(context.new_page())
            pg.goto(f"http://127.0.0.1:{httpd.server_address[1]}/index.html")
            pg.fill(".pagefind-ui__search-input", "Alexa")
            pg.wait_for_selector(".pagefind-ui__result", timeout=20_000)
            pg.screenshot(path=str(app.shots / f"{name}-site-search.png"), full_page=True)
            pg.locator(".pagefind-ui__result-link").first.click()
            pg.wait_for_url(re.compile(r"/(articles|stories|trends)/\d+\.html$"))
            assert pg.locator("h1").count() == 1
            watch.assert_clean()
            context.close()
    finally:
        httpd.shutdown()
