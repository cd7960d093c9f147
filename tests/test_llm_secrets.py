"""Secrets in keys and URLs never reach `config`, error output, the database or the audit log."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest

from horizonscan.redact import configured_secrets, redact_url, scrub
from tests.support.articles import write_articles
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer

PASSWORD = "pw-Userinfo-SECRET-41"
QUERY_KEY = "qk-Query+SECRET/42"  # "+" and "/" are percent-encoded on the wire
KEY = "sk-test-SECRET-key-0123456789"
SECRETS = (PASSWORD, QUERY_KEY, "qk-Query%2BSECRET%2F42", KEY)


def _url(base: str) -> str:
    scheme, rest = base.split("://", 1)
    return f"{scheme}://bob:{PASSWORD}@{rest}?api-version=2024-06-01&key=qk-Query%2BSECRET%2F42"


def _assert_clean(text: str | bytes) -> None:
    blob = text.encode() if isinstance(text, str) else text
    for secret in SECRETS:
        assert secret.encode() not in blob, secret


def test_redact_url_and_scrub() -> None:
    url = "https://u:p%40ss-word@host:8443/v1?key=abc123xyz&api_key=K-999999&mode=fast&sig=zzz999"
    shown = redact_url(url)
    assert shown == "https://u:***@host:8443/v1?key=***&api_key=***&mode=fast&sig=***"
    env = {
        "OPENAI_BASE_URL": url,
        "OPENAI_API_KEY": "sk-abcdef",
        "HORIZONSCAN_EMBED_URL": "http://h/?token=T0K3N",
    }
    found = configured_secrets(env)
    assert {"p%40ss-word", "p@ss-word", "abc123xyz", "K-999999", "zzz999", "sk-abcdef", "T0K3N"} <= set(found)
    assert "fast" not in found


def test_scrub_reads_the_environment_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://proxy.example/?access_token=tok-777777")
    assert scrub("GET https://proxy.example/?access_token=tok-777777 failed") == (
        "GET https://proxy.example/?access_token=*** failed"
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abc/def+ghi")
    assert scrub("key sk-live-abc%2Fdef%2Bghi leaked") == "key *** leaked"


def test_url_secrets_never_shown_stored_or_printed(
    llm_server: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", _url(llm_server.openai_url))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    # config, as text and as JSON: the base URL is shown, its secret parts masked.
    for args in (("config",), ("config", "--json")):
        shown = run_cli(*args)
        assert shown.code == 0
        _assert_clean(shown.stdout + shown.stderr)
        assert "bob:***@127.0.0.1" in shown.stdout and "key=***" in shown.stdout
        assert "api-version=2024-06-01" in shown.stdout
    assert json.loads(run_cli("config", "--json").stdout)["settings"]["OPENAI_BASE_URL"].endswith("key=***")
    # A working run: the query travels with every request (the SDK cannot append paths after it).
    write_articles(tmp_path / "in", 2)
    ok = run_cli("analyze", str(tmp_path / "in" / "article-00000.txt"), "--audit", *batch_args(tmp_path))
    assert ok.code == 0, ok.stdout
    assert llm_server.requests[0]["url"].endswith(
        "/v1/chat/completions?api-version=2024-06-01&key=qk-Query%2BSECRET%2F42"
    )
    # A failing run whose server quotes the request URL back, with the audit log on.
    llm_server.script = ["echo-400"]
    bad = run_cli("analyze", str(tmp_path / "in" / "article-00001.txt"), "--audit", *batch_args(tmp_path))
    assert bad.code == 1
    _assert_clean(bad.stdout + bad.stderr)
    assert "Bad request to" in bad.stdout and "key=***" in bad.stdout
    text = run_cli("analyze", "--retry-failed", *batch_args(tmp_path, json_out=False))
    _assert_clean(text.stdout + text.stderr)
    con = sqlite3.connect(tmp_path / "hs.db")
    rows = con.execute("select error, prompt, response from llm_calls where status='error'").fetchall()
    assert rows and all(r[1] and r[2] for r in rows)  # the audit log kept them, scrubbed
    con.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            _assert_clean(path.read_bytes())


def test_unreachable_server_error_shows_the_url_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", _url(f"http://127.0.0.1:{port}/v1"))
    write_articles(tmp_path / "in", 1)
    run = run_cli("analyze", str(tmp_path / "in"), *batch_args(tmp_path, json_out=False))
    assert run.code == 3
    _assert_clean(run.stdout + run.stderr)
    assert f"bob:***@127.0.0.1:{port}/v1" in run.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            _assert_clean(path.read_bytes())
