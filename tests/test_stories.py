"""Stories across languages, closest articles, near-duplicates, and the pair scorer's command."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, SEED_DE, SEED_FR, SHARED, needs_seeds
from tests.support.cli import run_cli
from tests.support.mock_llm import MockLLMServer


def _args(tmp_path: Path) -> list[str]:
    return ["--db", str(tmp_path / "hs.db"), "--out", str(tmp_path / "pages")]


@needs_seeds
def test_french_and_german_seeds_form_one_story_and_unrelated_ones_do_not(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    run = run_cli(
        "analyze",
        str(SEED_FR),
        str(EXAMPLES),
        str(SEED_DE),
        "--llm",
        "openai:gpt-4o-mini",
        *_args(tmp_path),
        "--json",
    )
    assert run.code == 0
    ids = {Path(r["source"]).name: r["article_id"] for r in run.json()["results"]}
    stories = json.loads(run_cli("stories", "--json", "--llm", "openai:gpt-4o-mini", *_args(tmp_path)).stdout)
    assert len(stories) == 1
    members = {a["id"] for a in stories[0]["articles"]}
    assert members == {ids[SEED_FR.name], ids[SEED_DE.name]}
    assert {a["language"] for a in stories[0]["articles"]} == {"fr", "de"}
    assert all(a["source"] and a["title"] for a in stories[0]["articles"])
    everyone = json.loads(run_cli("stories", "--json", "--all", *_args(tmp_path)).stdout)
    assert len(everyone) == 1 + len(list(EXAMPLES.iterdir()))  # each example is its own story

    # Pages: the story page, the index entry, and each seed's closest article is the other one.
    index = (tmp_path / "pages" / "index.md").read_text(encoding="utf-8")
    assert "## Stories" in index
    assert "2 articles: French, German" in index or "2 articles: German, French" in index
    story_page = next((tmp_path / "pages" / "stories").glob("story-*.md")).read_text(encoding="utf-8")
    assert "## Sources" in story_page and "## Signals" in story_page and "| sources |" in story_page
    fr_page = Path(next(r["page"] for r in run.json()["results"] if r["source"].endswith(SEED_FR.name)))
    closest = fr_page.read_text(encoding="utf-8").split("## Closest", 1)[1]
    assert f"-{ids[SEED_DE.name]}.md" in closest.splitlines()[2]

    similar = json.loads(
        run_cli(
            "similar", str(ids[SEED_FR.name]), "--json", "--k", "3", "--db", str(tmp_path / "hs.db")
        ).stdout
    )
    assert similar[0]["id"] == ids[SEED_DE.name] and similar[0]["score"] > 0.6
    assert all(s["score"] < 0.41 for s in similar[1:])
    by_file = json.loads(run_cli("similar", str(SEED_DE), "--json", "--db", str(tmp_path / "hs.db")).stdout)
    assert {by_file[0]["id"], by_file[1]["id"]} == {ids[SEED_DE.name], ids[SEED_FR.name]}

    # --synthesize: one call per multi-article story, and none the second time.
    before = len(openai_env.requests)
    synth = run_cli("stories", "--synthesize", "--json", "--llm", "openai:gpt-4o-mini", *_args(tmp_path))
    assert synth.code == 0 and len(openai_env.requests) == before + 1
    assert json.loads(synth.stdout)[0]["summary"]
    assert "<<<ANALYSES" in openai_env.requests[-1]["body"]["messages"][-1]["content"]
    run_cli("stories", "--synthesize", "--json", "--llm", "openai:gpt-4o-mini", *_args(tmp_path))
    assert len(openai_env.requests) == before + 1


def test_near_duplicate_is_not_analyzed_twice(openai_env: MockLLMServer, tmp_path: Path) -> None:
    original = (EXAMPLES / "microforeste-citta.it.txt").read_text(encoding="utf-8")
    copy = tmp_path / "syndicated.txt"
    copy.write_text(
        original.replace("Le città italiane", "Le città d'Italia", 1)
        + "\n\nIscriviti alla newsletter per ricevere ogni settimana le notizie.\n",
        encoding="utf-8",
    )
    first = run_cli(
        "analyze",
        str(EXAMPLES / "microforeste-citta.it.txt"),
        "--llm",
        "openai:gpt-4o-mini",
        *_args(tmp_path),
        "--json",
    )
    assert first.code == 0
    second = run_cli("analyze", str(copy), "--llm", "openai:gpt-4o-mini", *_args(tmp_path), "--json")
    result = second.json()["results"][0]
    assert result["status"] == "reused" and "near-duplicate" in result["note"]
    assert len(openai_env.requests) == 1
    con = sqlite3.connect(tmp_path / "hs.db")
    assert con.execute("select count(distinct text_hash) from analyses").fetchone()[0] == 2


def test_story_threshold_is_configurable(openai_env: MockLLMServer, tmp_path: Path) -> None:
    run_cli("analyze", str(EXAMPLES), "--llm", "openai:gpt-4o-mini", *_args(tmp_path))
    merged = json.loads(run_cli("stories", "--json", "--threshold", "0.0", *_args(tmp_path)).stdout)
    assert len(merged) == 1 and len(merged[0]["articles"]) == len(list(EXAMPLES.iterdir()))
    apart = json.loads(run_cli("stories", "--json", *_args(tmp_path)).stdout)
    assert apart == []


@pytest.mark.skipif(
    not (SHARED / "data" / "semeval2022-task8-train.jsonl").is_file(), reason="no SemEval data"
)
def test_compare_scores_pairs_and_keeps_keys(tmp_path: Path) -> None:
    lines = (SHARED / "data" / "semeval2022-task8-train.jsonl").read_text(encoding="utf-8").splitlines()[:12]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "\n".join([*lines[:6], "{not json", json.dumps({"text1": "only one"}), *lines[6:]]) + "\n",
        encoding="utf-8",
    )
    run = run_cli("compare", "--pairs", str(pairs))
    assert run.code == 1
    out = [json.loads(x) for x in run.stdout.splitlines()]
    assert len(out) == 12
    assert [o["pair_id"] for o in out] == [json.loads(x)["pair_id"] for x in lines]
    assert all(0.0 <= o["score"] <= 1.0 for o in out)
    assert "line 7" in run.stderr and "line 8" in run.stderr
    same = [o["score"] for o in out if o["overall"] <= 1.5]
    different = [o["score"] for o in out if o["overall"] >= 3.5]
    if same and different:
        assert sum(same) / len(same) > sum(different) / len(different)
