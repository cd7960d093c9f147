"""The embedded model: its parts join into the verified GGUF, and it analyzes a French article."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from horizonscan.extract.language import detect_language
from horizonscan.llm.base import ConfigurationError
from horizonscan.llm.local_model import EXPECTED_SIZE, join_parts, part_paths
from tests.conftest import EXAMPLES, SEED_FR
from tests.support.cli import run_cli


def test_join_parts_verifies_size_and_hash(tmp_path: Path) -> None:
    parts = []
    for i, data in enumerate((b"abc", b"defg", b"h")):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        parts.append(p)
    good = hashlib.sha256(b"abcdefgh").hexdigest()
    target = join_parts(parts, tmp_path / "m" / "model.gguf", size=8, sha256=good)
    assert target.read_bytes() == b"abcdefgh" and target.with_suffix(".verified").is_file()
    with pytest.raises(ConfigurationError, match="damaged"):
        join_parts(list(reversed(parts)), tmp_path / "bad.gguf", size=8, sha256=good)
    assert not (tmp_path / "bad.gguf").exists() and not list(tmp_path.glob("bad.tmp*"))


def test_installed_parts_add_up_to_the_model() -> None:
    parts = part_paths()
    assert len(parts) == 22 and [p.name for p in parts][:2] == ["part01.bin", "part02.bin"]
    assert sum(p.stat().st_size for p in parts) == EXPECTED_SIZE


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 5 min on 2 idle cores; margin for a shared CI machine
def test_local_model_writes_an_english_analysis_of_a_french_article(tmp_path: Path) -> None:
    article = SEED_FR if SEED_FR.is_file() else EXAMPLES / "lyon-navettes-autonomes.fr.txt"
    db = str(tmp_path / "hs.db")
    run = run_cli(
        "analyze", str(article), "--llm", "local", "--db", db, "--out", str(tmp_path / "pages"), "--json"
    )
    assert run.code == 0, run.stderr
    result = run.json()["results"][0]
    assert result["status"] == "analyzed" and result["language"] == "fr"
    data = json.loads(run_cli("export", "--format", "json", "--db", db).stdout)[0]
    assert data["model"].startswith("local:qwen2.5-coder-1.5b")
    assert detect_language(f"{data['title']}. {data['summary']}") == "en"
    kinds = {i["kind"] for i in data["items"]}
    # Richness (every section filled, several signals) is the aim, measured by
    # bench/bench_local_quality.py; what a 1.5B model guarantees is at least one signal and more.
    assert "signal" in kinds and len(kinds) >= 2
    assert all(i["evidence_found"] for i in data["items"])  # quotes are the article's own sentences
    # Sentences the model picked from a list, said as such; each item its own; no name twice.
    assert {i["evidence_status"] for i in data["items"]} == {"picked"}
    assert len({i["evidence"] for i in data["items"]}) == len(data["items"])
    assert len({i["name"].lower() for i in data["items"]}) == len(data["items"])
    assert all(i["dimension"] for i in data["items"])
    page = Path(result["page"]).read_text(encoding="utf-8")
    assert page.startswith("# __") and "## Signals" in page and "* Language: French (fr)" in page
    assert "sentence chosen from the article" in page
    again = run_cli(
        "analyze", str(article), "--llm", "local", "--db", db, "--out", str(tmp_path / "pages"), "--json"
    )
    assert again.json()["summary"]["llm_calls"] == 0


def test_hostile_article_text_cannot_break_the_local_grammar() -> None:
    """Quotes, backslashes, emoji and control characters in evidence candidates once crashed llama.cpp."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from horizonscan.analysis.evidence import candidate_quotes, check
    from horizonscan.analysis.schema import constrained_schema

    text = (
        'He said "People used to throw a toaster away", then C:\\\\temp\\\\x \\\\" broke it. '
        "Emoji 😀 and a bell \x07 and a tab\there are in this sentence too. "
        "A third one with «guillemets», “curly quotes” and a lone \\ backslash ends here."
    )
    quotes = candidate_quotes(text)
    assert len(quotes) >= 3
    assert all('"' not in q and "\\" not in q and "😀" not in q and "\x07" not in q for q in quotes)
    assert all(check(q, text)[0] for q in quotes)  # still count as found in the article
    grammar = json_schema_to_gbnf(json.dumps(constrained_schema(quotes)))
    evidence_rule = next(line for line in grammar.splitlines() if "People used to throw" in line)
    assert '\\\\"' not in evidence_rule  # the sequence that ended a literal early
