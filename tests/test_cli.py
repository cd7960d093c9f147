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
