"""Near-duplicate reuse says where an analysis comes from, and an updated story with new facts is
analyzed afresh instead of silently getting its older version's analysis."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from horizonscan.analysis.reuse import new_facts
from tests.conftest import EXAMPLES
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer

ORIGINAL = EXAMPLES / "microforeste-citta.it.txt"
FOOTER = "\n\nIscriviti alla newsletter per ricevere ogni settimana le notizie.\n"


def _text() -> str:
    return ORIGINAL.read_text(encoding="utf-8")


def _paragraphs() -> list[str]:
    return [p for p in _text().split("\n\n") if p.strip()]


def test_boilerplate_is_not_a_new_fact() -> None:
    assert new_facts(_text(), _text().replace("Le città italiane", "Le città d'Italia", 1) + FOOTER) == []


def test_new_numbers_and_new_sentences_are_new_facts() -> None:
    paras = _paragraphs()
    with_number = "\n\n".join([*paras, "Aggiornamento: il comune ha stanziato altri 750 000 euro."])
    assert any("750000" in f for f in new_facts(_text(), with_number))
    inserted = "\n\n".join(
        [
            *paras[:2],
            "Secondo i critici, il progetto sottrae spazio ai parcheggi dei residenti del centro.",
            *paras[2:],
        ]
    )
    assert any("inside the text" in f for f in new_facts(_text(), inserted))


def _analyze(tmp_path: Path, path: Path) -> dict[str, object]:
    run = run_cli("analyze", str(path), *batch_args(tmp_path))
    assert run.code == 0, run.stdout
    result: dict[str, object] = run.json()["results"][0]
    return result


def test_near_duplicate_says_reused_from_on_the_page_and_in_exports(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    first = _analyze(tmp_path, ORIGINAL)
    copy = tmp_path / "syndicated.txt"
    copy.write_text(_text().replace("Le città italiane", "Le città d'Italia", 1) + FOOTER, encoding="utf-8")
    second = _analyze(tmp_path, copy)
    assert second["status"] == "reused" and len(openai_env.requests) == 1
    assert f"near-duplicate of article {first['article_id']}" in str(second["note"])
    db = ("--db", str(tmp_path / "hs.db"))
    data = {d["article_id"]: d for d in json.loads(run_cli("export", "--format", "json", *db).stdout)}
    assert data[second["article_id"]]["reused_from"] == first["article_id"]
    assert data[first["article_id"]]["reused_from"] is None
    rows = list(csv.DictReader(io.StringIO(run_cli("export", "--format", "csv", *db).stdout)))
    assert {r["reused_from"] for r in rows if r["article_id"] == str(second["article_id"])} == {
        str(first["article_id"])
    }
    page = next((tmp_path / "pages").glob(f"*-{second['article_id']}.md")).read_text(encoding="utf-8")
    assert f"Reused from article {first['article_id']}" in page


def test_an_updated_story_with_new_facts_is_analyzed_again(openai_env: MockLLMServer, tmp_path: Path) -> None:
    _analyze(tmp_path, ORIGINAL)
    updated = tmp_path / "updated.txt"
    updated.write_text(
        "\n\n".join(
            [*_paragraphs(), "Aggiornamento: il comune ha stanziato altri 750 000 euro per 40 nuovi boschi."]
        ),
        encoding="utf-8",
    )
    result = _analyze(tmp_path, updated)
    assert result["status"] == "analyzed" and len(openai_env.requests) == 2
