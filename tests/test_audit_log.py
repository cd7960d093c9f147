"""The audit log: opt-in prompts and raw answers in the ledger (keys never), read back with
`horizonscan logs`, and re-validated with today's code without a single LLM call."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from horizonscan.config import load_settings
from horizonscan.extract import extract_file
from horizonscan.models import CallRecord
from horizonscan.store import Store
from tests.conftest import EXAMPLES
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer, fake_analysis

FR = EXAMPLES / "lyon-navettes-autonomes.fr.txt"
SECRET = b"SECRET-key"  # part of the fake key the openai_env fixture sets


def _db_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("hs.db*"))


def test_audit_keeps_every_prompt_and_raw_answer_and_never_a_key(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    openai_env.script = ["invalid"]  # one answer is re-asked: both attempts are in the log
    run = run_cli("analyze", str(FR), "--audit", *batch_args(tmp_path))
    assert run.code == 0, run.stdout
    article_id = run.json()["results"][0]["article_id"]
    con = sqlite3.connect(tmp_path / "hs.db")
    rows = con.execute("select status, prompt, response from llm_calls order by id").fetchall()
    assert [r[0] for r in rows] == ["invalid", "ok"]
    assert all(prompt and response for _, prompt, response in rows), "the LLM client must fill them"
    assert "navettes" in rows[0][1]  # the request as sent, article included
    json.loads(rows[1][2])  # the raw answer
    assert SECRET not in _db_bytes(tmp_path) and b"Bearer" not in _db_bytes(tmp_path)

    shown = run_cli("logs", str(article_id), "--json", "--db", str(tmp_path / "hs.db")).json()
    assert [c["status"] for c in shown] == ["invalid", "ok"] and shown[1]["response"] == rows[1][2]
    by_source = run_cli("logs", str(FR), "--json", "--db", str(tmp_path / "hs.db")).json()
    text_hash = shown[0]["text_hash"]
    by_hash = run_cli("logs", text_hash[:12], "--json", "--db", str(tmp_path / "hs.db")).json()
    latest = run_cli("logs", "--last", "1", "--json", "--db", str(tmp_path / "hs.db")).json()
    assert by_source == shown == by_hash and latest == shown[-1:]
    human = run_cli("logs", str(article_id), "--db", str(tmp_path / "hs.db"))
    assert human.code == 0 and "--- prompt ---" in human.stdout and "--- response ---" in human.stdout
    missing = run_cli("logs", "999", "--db", str(tmp_path / "hs.db"))
    assert missing.code == 2 and "no article matches" in missing.stderr


def test_without_audit_prompt_and_response_stay_empty(openai_env: MockLLMServer, tmp_path: Path) -> None:
    assert run_cli("analyze", str(FR), *batch_args(tmp_path)).code == 0
    con = sqlite3.connect(tmp_path / "hs.db")
    assert con.execute("select count(*) from llm_calls").fetchone()[0] == 1
    assert (
        con.execute(
            "select count(*) from llm_calls where prompt is not null or response is not null"
        ).fetchone()[0]
        == 0
    )
    shown = run_cli("logs", "1", "--db", str(tmp_path / "hs.db"))
    assert shown.code == 0 and "run with --audit" in shown.stdout


def test_audit_is_a_flag_an_environment_variable_and_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings({}, cwd=tmp_path)[0].audit is False
    (tmp_path / "horizonscan.toml").write_text("audit = true\n")
    assert load_settings({}, cwd=tmp_path)[0].audit is True
    monkeypatch.setenv("HORIZONSCAN_AUDIT", "0")
    assert load_settings({}, cwd=tmp_path)[0].audit is False
    monkeypatch.setenv("HORIZONSCAN_AUDIT", "1")
    assert load_settings({}, cwd=Path("/nonexistent"))[0].audit is True
    for command in ("analyze", "collect"):
        assert "--audit" in run_cli(command, "--help").stdout


def test_revalidate_rechecks_stored_answers_with_todays_code_and_no_call(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    assert run_cli("analyze", str(FR), *batch_args(tmp_path)).code == 0
    requests = len(openai_env.requests)
    doc = extract_file(FR)
    good = fake_analysis(f"<<<ARTICLE b>>>\n{doc.text}\n<<<END ARTICLE b>>>")
    invented = json.loads(json.dumps(good))
    invented["signals"][0]["evidence"] = (
        "Les navettes volantes remplaceront tous les trains de la région dès 2027."
    )
    store = Store.open(tmp_path / "hs.db")
    base = CallRecord(provider="openai", model="gpt-4o-mini", text_hash=doc.text_hash, prompt="(sent)")
    store.ledger.record_calls(
        [
            base.model_copy(update={"status": "invalid", "response": '{"title": "Half an answer'}),
            base.model_copy(update={"response": json.dumps(invented)}),
            base.model_copy(update={"response": json.dumps(good)}),
        ],
        "manual",
    )
    store.close()
    checked = run_cli("logs", str(FR), "--revalidate", "--json", "--db", str(tmp_path / "hs.db")).json()
    results = [c["revalidation"] for c in checked]
    assert results[0]["checked"] is False  # the run's own call: no answer was kept (audit off)
    assert results[1]["valid"] is False and "JSON" in results[1]["problem"]
    assert results[2]["valid"] is True and results[2]["evidence_found"] == results[2]["items"] - 1
    assert [m["kind"] for m in results[2]["evidence_not_found"]] == ["signal"]
    assert results[3]["valid"] is True and results[3]["evidence_not_found"] == []
    human = run_cli("logs", str(FR), "--revalidate", "--db", str(tmp_path / "hs.db"))
    assert "INVALID today" in human.stdout and "not found: signal" in human.stdout
    assert len(openai_env.requests) == requests  # no LLM call
