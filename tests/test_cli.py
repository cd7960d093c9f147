"""The command line as a user meets it: exit codes, messages, exports, settings."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer

FR = EXAMPLES / "lyon-navettes-autonomes.fr.txt"
DE = EXAMPLES / "waermepumpen-mittelstand.de.txt"


def _common(tmp_path: Path) -> list[str]:
    return ["--llm", "openai:gpt-4o-mini", "--db", str(tmp_path / "hs.db"), "--out", str(tmp_path / "pages")]


def test_one_bad_input_does_not_stop_the_batch(openai_env: MockLLMServer, tmp_path: Path) -> None:
    short = tmp_path / "short.txt"
    short.write_text("Just a line.")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf at all")
    run = run_cli(
        "analyze", str(FR), str(bad), str(tmp_path / "missing.txt"), str(short), str(DE), *_common(tmp_path)
    )
    assert run.code == 1
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith(("FAILED", "SKIPPED"))]
    assert len(lines) == 3
    assert any("bad.pdf" in ln and "PDF" in ln for ln in lines)
    assert any("missing.txt" in ln and "no such file" in ln for ln in lines)
    assert any("short.txt" in ln and "too short" in ln and "--force" in ln for ln in lines)
    assert "2 analyzed" in run.stderr
    pages = sorted(p.name for p in (tmp_path / "pages").glob("*.md"))
    assert "index.md" in pages and len(pages) == 3
    forced = run_cli("analyze", str(short), "--force", "--json", *_common(tmp_path))
    assert forced.code == 0 and forced.json()["results"][0]["status"] == "analyzed"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_cli("analyze", "--db", str(tmp_path / "x.db")).code == 2
    assert run_cli("analyze", str(FR), "--concurrency", "lots").code == 2
    assert run_cli("export", "--format", "xml", "--db", str(tmp_path / "x.db")).code == 2
    assert run_cli("nonsense").code == 2


def test_unknown_provider_is_a_config_error(tmp_path: Path) -> None:
    run = run_cli("analyze", str(FR), "--llm", "mistral:large", "--db", str(tmp_path / "x.db"))
    assert run.code == 3 and "unknown LLM provider" in run.stderr


def test_exports(openai_env: MockLLMServer, tmp_path: Path) -> None:
    assert run_cli("analyze", str(FR), str(DE), *_common(tmp_path)).code == 0
    db = ["--db", str(tmp_path / "hs.db")]
    data = json.loads(run_cli("export", "--format", "json", *db).stdout)
    assert {d["language"] for d in data} == {"fr", "de"}
    assert all(d["prompt_version"].startswith("v1-") and d["model"] == "openai:gpt-4o-mini" for d in data)
    rows = list(csv.DictReader(io.StringIO(run_cli("export", "-f", "csv", *db).stdout)))
    assert len(rows) == sum(len(d["items"]) for d in data)
    assert {"title", "item_kind", "item_name", "item_evidence_found"} <= set(rows[0])
    out = tmp_path / "a.parquet"
    assert run_cli("export", "-f", "parquet", "-o", str(out), *db).code == 0
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == len(rows)
    assert run_cli("export", "-f", "parquet", *db).code == 2


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "horizonscan.toml").write_text(
        'llm = "anthropic:claude-haiku-4-5"\nconcurrency = 3\n'
        'max_cost = 2.5\n[prices]\n"openai:x" = { input = 1.0, output = 2.0 }\n'
    )
    monkeypatch.setenv("HORIZONSCAN_CONCURRENCY", "5")
    shown = run_cli("config", "--json").json()
    assert shown["settings"]["llm"] == "anthropic:claude-haiku-4-5"
    assert shown["settings"]["concurrency"] == 5 and shown["from"]["concurrency"] == "environment"
    assert shown["settings"]["max_cost"] == 2.5 and shown["from"]["max_cost"].endswith("horizonscan.toml")
    assert shown["settings"]["prices"]["openai:x"] == {"input": 1.0, "output": 2.0}
    (tmp_path / "horizonscan.toml").write_text('openai_api_key = "sk-nope"\n')
    bad = run_cli("config")
    assert bad.code == 3 and "keys do not belong" in bad.stderr


def test_module_entry_point_and_help() -> None:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "horizonscan", "analyze", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0
    for flag in (
        "--llm",
        "--out",
        "--origin",
        "--json",
        "--db",
        "--concurrency",
        "--max-cost",
        "--retry-failed",
    ):
        assert flag in out.stdout


def test_min_chars_is_a_setting(
    openai_env: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    note = tmp_path / "note.txt"
    note.write_text(
        "A short but real note about heat pumps in breweries near Ulm, with numbers: 70 percent less gas."
    )
    assert run_cli("analyze", str(note), *_common(tmp_path)).code == 1
    monkeypatch.setenv("HORIZONSCAN_MIN_CHARS", "50")
    assert run_cli("analyze", str(note), *_common(tmp_path)).code == 0


# ----- commands that change nothing never rewrite the pages or the index ----------------------
INDEX = "# horizonscan index\n\n5 articles.\n\n## Technology\n\n* [Shuttles](shuttles-1.md) — French\n"


def test_a_failed_run_without_out_leaves_the_working_folders_pages_alone(
    openai_env: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make test` did to `make demo`'s pages: a run where everything failed, with --db but no
    --out, rewrote ./pages/index.md as "0 articles."."""
    work = tmp_path / "checkout"
    (work / "pages").mkdir(parents=True)
    (work / "pages" / "index.md").write_text(INDEX, encoding="utf-8")
    monkeypatch.chdir(work)
    run = run_cli(
        "analyze",
        str(tmp_path / "missing.txt"),
        "--llm",
        "openai:gpt-4o-mini",
        "--db",
        str(tmp_path / "x.db"),
    )
    assert run.code == 1
    assert (work / "pages" / "index.md").read_text(encoding="utf-8") == INDEX
    assert sorted(p.name for p in (work / "pages").iterdir()) == ["index.md"]


def test_listings_and_lookups_never_rewrite_pages_and_publish_never_empties_the_index(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    assert run_cli("analyze", str(FR), str(DE), *_common(tmp_path)).code == 0
    pages = tmp_path / "pages"
    index = pages / "index.md"
    before = {p: p.read_text(encoding="utf-8") for p in pages.rglob("*.md")}
    index.write_text("edited by hand\n", encoding="utf-8")
    fr_page = next(p for p in before if p.name != "index.md")
    fr_page.unlink()
    db = ["--db", str(tmp_path / "hs.db")]
    assert run_cli("stories", "--json", "--out", str(pages), *db).code == 0
    assert run_cli("stories", "--all", "--out", str(pages), *db).code == 0
    assert run_cli("similar", "1", "--json", *db).code == 0
    assert run_cli("usage", "--json", *db).code == 0
    assert run_cli("analyze", str(tmp_path / "nope.txt"), *_common(tmp_path)).code == 1  # a failure
    assert index.read_text(encoding="utf-8") == "edited by hand\n" and not fr_page.exists()
    # `publish` rewrites them from the database...
    assert run_cli("publish", "--out", str(pages), *db).code == 0
    assert {p: p.read_text(encoding="utf-8") for p in pages.rglob("*.md")} == before
    # ... but never from a database with no analyses, which would leave "0 articles.".
    empty = tmp_path / "empty.db"
    assert run_cli("sources", "add", str(tmp_path), "--db", str(empty)).code == 0  # ours, no analyses
    refused = run_cli("publish", "--out", str(pages), "--db", str(empty))
    assert refused.code == 1 and "nothing to publish" in refused.stderr
    assert {p: p.read_text(encoding="utf-8") for p in pages.rglob("*.md")} == before


def test_write_index_never_replaces_an_index_with_an_empty_one(tmp_path: Path) -> None:
    from horizonscan.publish.site import write_index

    (tmp_path / "index.md").write_text(INDEX, encoding="utf-8")
    write_index(tmp_path, [])
    assert (tmp_path / "index.md").read_text(encoding="utf-8") == INDEX
    fresh = tmp_path / "fresh"
    assert "0 articles." in write_index(fresh, []).read_text(encoding="utf-8")  # a new folder gets one


# ----- terminal safety -----------------------------------------------------------------------
TERMINAL_TRAPS = ("\x1b", "\r", "\u202e", "\x9b", "\x07")


def test_control_and_bidi_characters_never_reach_the_terminal(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    evil = "Evil\x1b[2J\x1b]0;pwned\x07Title\u202eTXT.exe\rOverwritten\x9b31m"
    text = FR.read_text(encoding="utf-8").replace("Lyon", evil, 1)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / f"{evil}.txt").write_text(text, encoding="utf-8")
    (folder / f"short{evil}.txt").write_text("Too short.", encoding="utf-8")
    (folder / f"[red]markup[blink]{evil}.pdf").write_bytes(b"not a pdf")
    runs = [
        run_cli("analyze", str(folder), *_common(tmp_path)),
        run_cli("analyze", str(folder), *_common(tmp_path), "--json"),
        run_cli("stories", "--all", "--db", str(tmp_path / "hs.db")),
        run_cli("similar", str(folder / f"{evil}.txt"), "--db", str(tmp_path / "hs.db")),
        run_cli("similar", str(folder / f"{evil}.txt"), "--json", "--db", str(tmp_path / "hs.db")),
        run_cli("extract", *map(str, sorted(folder.iterdir()))),
        run_cli("logs", "--db", str(tmp_path / "hs.db")),
    ]
    assert runs[0].code == 1 and "SKIPPED" in runs[0].stderr and "FAILED" in runs[0].stderr
    assert "\\x1b[2J" in runs[0].stderr  # shown, escaped
    assert "[red]markup[blink]" in runs[0].stderr  # and Rich markup in a name stays text
    for run in runs:
        for trap in TERMINAL_TRAPS:
            assert trap not in run.stdout and trap not in run.stderr, (trap, run.stdout[:300], run.stderr)
    # JSON keeps the raw values: decoding gives the title back as it was.
    sources = {r["source"] for r in runs[1].json()["results"]}
    assert str(folder.resolve() / f"{evil}.txt") in sources


# ----- careless input: one clear line and the documented exit code ---------------------------
def test_config_file_in_another_encoding_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "horizonscan.toml"
    for data, what in (
        ('llm = "openai:gpt-4o-mini"\nconcurrency = 3\n'.encode("utf-16"), "UTF-16"),
        ('llm = "openai:modèle"\n'.encode("latin-1"), "UTF-8"),
    ):
        toml.write_bytes(data)
        for args in (
            ["analyze", str(FR), "--db", str(tmp_path / "x.db")],
            ["usage", "--db", str(tmp_path / "x.db")],
        ):
            run = run_cli(*args)
            assert run.code == 3, run.stderr
            assert what in run.stderr and "horizonscan.toml" in run.stderr
            assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    toml.write_bytes("\ufeffconcurrency = 3\n".encode("utf-8"))  # a UTF-8 BOM is fine
    assert run_cli("config", "--json").json()["settings"]["concurrency"] == 3


def test_unwritable_out_is_refused_before_any_paid_call(openai_env: MockLLMServer, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out in (blocker, blocker / "pages"):
        run = run_cli(
            "analyze",
            str(FR),
            "--llm",
            "openai:gpt-4o-mini",
            "--db",
            str(tmp_path / "hs.db"),
            "--out",
            str(out),
        )
        assert run.code == 3, run.stderr
        assert "cannot write the pages" in run.stderr and "--out" in run.stderr
    assert openai_env.requests == []


def test_pairs_file_that_is_not_utf8_is_one_clear_line(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes('{"text1": "Été à Lyon", "text2": "Summer in Lyon"}\n'.encode("latin-1"))
    run = run_cli("compare", "--pairs", str(pairs))
    assert run.code == 2 and "not UTF-8" in run.stderr and "line 1" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


# ----- the database: another application's file, or none at all ------------------------------
def test_another_applications_sqlite_file_is_refused_and_left_untouched(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    import hashlib
    import sqlite3

    foreign = tmp_path / "contacts.db"
    con = sqlite3.connect(foreign)
    con.execute("create table contacts (id integer primary key, name text)")
    con.execute("insert into contacts (name) values ('Ada')")
    con.commit()
    con.close()
    alembic_app = tmp_path / "other-alembic.db"
    con = sqlite3.connect(alembic_app)
    con.execute("create table alembic_version (version_num varchar(32) primary key)")
    con.execute("insert into alembic_version values ('0001')")  # the same revision name as ours
    con.execute("create table users (id integer primary key)")
    con.commit()
    con.close()
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("just some text")
    for path in (foreign, alembic_app, not_sqlite):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for args in (
            ["analyze", str(FR), "--llm", "openai:gpt-4o-mini", "--out", str(tmp_path / "pages")],
            ["usage"],
            ["export"],
            ["sources", "add", str(tmp_path)],
        ):
            run = run_cli(*args, "--db", str(path))
            assert run.code == 3, (args, run.stderr)
            assert "another application" in run.stderr or "not a SQLite database" in run.stderr
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    assert openai_env.requests == []


def test_read_only_commands_on_a_missing_database_say_so(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    for args in (
        ["usage"],
        ["export", "--format", "json"],
        ["similar", "1"],
        ["stories"],
        ["logs"],
        ["publish", "--out", str(tmp_path / "pages")],
        ["sources", "list"],
    ):
        run = run_cli(*args, "--db", str(missing))
        assert run.code == 2, (args, run.stderr)
        assert "no database at" in run.stderr and "typo.db" in run.stderr
        assert not missing.exists() and not (tmp_path / "pages").exists()
