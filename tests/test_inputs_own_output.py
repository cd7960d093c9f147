"""`analyze .` never analyzes what horizonscan itself wrote: running it twice costs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from horizonscan.sources.inputs import expand_inputs, own_outputs
from tests.support.articles import write_articles
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer


def test_analyze_dot_twice_makes_no_call_the_second_time(
    openai_env: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_articles(tmp_path / "articles", 3)
    # Tools and hidden folders hold .txt/.md files that are not articles either.
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "LICENSE.txt").write_text("MIT License. " * 40)
    (tmp_path / "venv2").mkdir()
    (tmp_path / "venv2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "venv2" / "top_level.txt").write_text("package names " * 40)
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "README.md").write_text("A JavaScript package readme. " * 20)
    first = run_cli("analyze", ".", "--llm", "openai:gpt-4o-mini", "--json")
    assert first.code == 0, first.stdout
    assert first.json()["summary"]["analyzed"] == 3 and len(openai_env.requests) == 3
    assert (tmp_path / "pages" / "index.md").is_file() and (tmp_path / "horizonscan.db").is_file()
    second = run_cli("analyze", ".", "--llm", "openai:gpt-4o-mini", "--json")
    assert second.code == 0, second.stdout
    summary = second.json()["summary"]
    assert summary["llm_calls"] == 0 and summary["reused"] == 3 and summary["failed"] == 0
    assert len(openai_env.requests) == 3
    assert all("/pages/" not in r["source"] for r in second.json()["results"])


def test_own_outputs_are_skipped_in_folders_and_refused_by_name(tmp_path: Path) -> None:
    write_articles(tmp_path / "a", 1)
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.md").write_text("# horizonscan index\n\n1 articles.\n")
    (out / "report-1.md").write_text("# __Report__\n")
    elsewhere = tmp_path / "old-pages"  # pages written earlier with another --out
    elsewhere.mkdir()
    (elsewhere / "index.md").write_text("# horizonscan index\n\n0 articles.\n")
    (elsewhere / "page-2.md").write_text("# __Page__\n")
    raw = tmp_path / "hs-raw" / "ab"
    raw.mkdir(parents=True)
    (raw / "cafe.html.gz").write_bytes(b"\x1f\x8b")
    (tmp_path / ".page.md.123-4.tmp").write_text("half-written")
    mine = own_outputs(out, tmp_path / "hs.db", tmp_path / "hs-raw")
    items = expand_inputs([str(tmp_path)], exclude=mine)
    assert [Path(i.source).name for i in items] == ["article-00000.txt"]
    named = expand_inputs([str(out / "report-1.md"), str(elsewhere / "page-2.md"), str(out)], exclude=mine)
    assert all(i.error and "own output" in i.error for i in named)
