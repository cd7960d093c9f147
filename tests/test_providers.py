"""Both hosted protocols over real HTTP: schema and article sent, answers parsed, re-asked, cached."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import EXAMPLES, SEED_FR, needs_seeds
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer

FR = EXAMPLES / "lyon-navettes-autonomes.fr.txt"


def _analyze(tmp_path: Path, *inputs: str, llm: str = "openai:gpt-4o-mini", extra: tuple[str, ...] = ()):
    return run_cli(
        "analyze",
        *inputs,
        "--llm",
        llm,
        "--db",
        str(tmp_path / "hs.db"),
        "--out",
        str(tmp_path / "pages"),
        "--json",
        *extra,
    )


def test_openai_request_carries_schema_and_delimited_article(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    run = _analyze(tmp_path, str(FR))
    assert run.code == 0, run.stderr
    assert len(openai_env.requests) == 1
    req = openai_env.requests[0]
    body = req["body"]
    assert body["model"] == "gpt-4o-mini"
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert set(schema["required"]) >= {"title", "summary", "signals", "behaviors", "technologies", "issues"}
    assert schema["$defs"]["Signal"]["additionalProperties"] is False
    assert schema["properties"]["issues"]["items"] == {"$ref": "#/$defs/Item"}
    user = body["messages"][-1]["content"]
    assert body["messages"][0]["role"] == "system"
    assert "navettes électriques sans conducteur" in user
    assert "<<<ARTICLE " in user and "<<<END ARTICLE " in user
    assert user.startswith("Language: French.")
    assert req["headers"]["authorization"] == "Bearer sk-test-SECRET-key-0123456789"
    result = run.json()["results"][0]
    assert result["status"] == "analyzed" and result["language"] == "fr"
    assert Path(result["page"]).is_file()


def test_second_run_makes_no_call_and_usage_counts(openai_env: MockLLMServer, tmp_path: Path) -> None:
    assert _analyze(tmp_path, str(EXAMPLES)).code == 0
    first = len(openai_env.requests)
    assert first == len(list(EXAMPLES.iterdir()))
    again = _analyze(tmp_path, str(EXAMPLES))
    assert again.code == 0
    assert len(openai_env.requests) == first
    assert {r["status"] for r in again.json()["results"]} == {"reused"}
    usage = run_cli("usage", "--db", str(tmp_path / "hs.db"), "--json").json()
    assert usage["total"]["calls"] == first and usage["total"]["ok"] == first
    assert usage["models"][0]["model"] == "gpt-4o-mini" and usage["total"]["input_tokens"] > 0


def test_copied_text_under_another_name_is_not_analyzed_twice(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.txt"
    copy.write_text(FR.read_text(encoding="utf-8") + "\n\n", encoding="utf-8")
    run = _analyze(tmp_path, str(FR), str(copy))
    assert run.code == 0
    assert len(openai_env.requests) == 1
    assert sorted(r["status"] for r in run.json()["results"]) == ["analyzed", "reused"]


def test_invalid_answers_are_reasked_with_the_problem(openai_env: MockLLMServer, tmp_path: Path) -> None:
    openai_env.script = ["garbage", "invalid"]
    run = _analyze(tmp_path, str(FR))
    assert run.code == 0, run.stderr
    assert len(openai_env.requests) == 3
    second = openai_env.requests[1]["body"]["messages"]
    assert second[-2]["role"] == "assistant" and "cannot produce JSON" in second[-2]["content"]
    assert "could not be used" in second[-1]["content"] and "JSON" in second[-1]["content"]
    third = openai_env.requests[2]["body"]["messages"][-1]["content"]
    assert "signals" in third and "category" in third
    con = sqlite3.connect(tmp_path / "hs.db")
    statuses = [r[0] for r in con.execute("select status from llm_calls order by id")]
    assert statuses == ["invalid", "invalid", "ok"]


def test_non_english_answer_is_reasked(openai_env: MockLLMServer, tmp_path: Path) -> None:
    from tests.support.mock_llm import fake_analysis

    french = fake_analysis("x")
    french["title"] = "Lyon teste des navettes autonomes dans trois quartiers"
    french["summary"] = (
        "La métropole de Lyon a lancé une expérimentation avec des navettes électriques "
        "sans conducteur que les habitants peuvent réserver depuis une application."
    )
    openai_env.script = [french]
    run = _analyze(tmp_path, str(FR))
    assert run.code == 0
    assert len(openai_env.requests) == 2
    assert "write them in English" in openai_env.requests[1]["body"]["messages"][-1]["content"]


def test_gives_up_after_two_reasks_and_says_why(openai_env: MockLLMServer, tmp_path: Path) -> None:
    openai_env.script = ["garbage", "garbage", "garbage"]
    run = _analyze(tmp_path, str(FR))
    assert run.code == 1
    assert len(openai_env.requests) == 3
    result = run.json()["results"][0]
    assert result["status"] == "failed" and "no valid answer after 3 tries" in result["error"]
    # --retry-failed redoes exactly that article, and then it is done.
    again = run_cli("analyze", "--retry-failed", *batch_args(tmp_path))
    assert again.code == 0 and again.json()["summary"]["analyzed"] == 1


def test_transient_faults_are_retried(openai_env: MockLLMServer, tmp_path: Path) -> None:
    openai_env.script = ["429", "500", "503"]
    run = _analyze(tmp_path, str(FR))
    assert run.code == 0, run.stderr
    assert len(openai_env.requests) == 4
    con = sqlite3.connect(tmp_path / "hs.db")
    rows = con.execute("select status, attempt, error from llm_calls order by id").fetchall()
    assert [r[0] for r in rows] == ["error", "error", "error", "ok"]
    assert [r[1] for r in rows] == [1, 2, 3, 4]
    assert "429" in rows[0][2]


def test_server_without_json_schema_mode_falls_back(openai_env: MockLLMServer, tmp_path: Path) -> None:
    openai_env.unsupported_formats = ("json_schema",)
    run = _analyze(tmp_path, str(FR))
    assert run.code == 0, run.stderr
    first, second = (r["body"] for r in openai_env.requests)
    assert first["response_format"]["type"] == "json_schema"
    # Next: json_object with the schema (llama-cpp-python's server turns it into a grammar), the
    # same shape with counts and lengths bounded so a small model cannot loop to the token cap.
    plain, bounded = first["response_format"]["json_schema"]["schema"], second["response_format"]["schema"]
    assert second["response_format"]["type"] == "json_object"
    assert bounded["properties"].keys() == plain["properties"].keys()
    assert bounded["properties"]["signals"]["maxItems"] and "maxItems" not in plain["properties"]["signals"]
    assert '"signals"' in second["messages"][0]["content"]  # the schema is in the prompt too
    # Both attempts are in the ledger, the rejected one saying which mode comes next.
    con = sqlite3.connect(tmp_path / "hs.db")
    rows = con.execute("select status, attempt, error from llm_calls order by id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("error", 1), ("ok", 2)]
    assert "response_format json_schema" in rows[0][2] and "next: json_object_schema" in rows[0][2]


def test_anthropic_uses_structured_outputs(anthropic_env: MockLLMServer, tmp_path: Path) -> None:
    run = _analyze(tmp_path, str(FR), llm="anthropic:claude-haiku-4-5")
    assert run.code == 0, run.stderr
    req = anthropic_env.requests[0]
    body = req["body"]
    sent = req["headers"].get("x-api-key") or req["headers"].get("authorization", "")
    assert sent.endswith("sk-ant-test-SECRET-key-0123456789")
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema" and fmt["schema"]["properties"]["signals"]["type"] == "array"
    assert "ten_year" in json.dumps(fmt["schema"])
    assert "navettes électriques" in body["messages"][0]["content"]
    assert "foresight analyst" in body["system"]
    assert run.json()["results"][0]["status"] == "analyzed"


def test_anthropic_falls_back_to_a_forced_tool(anthropic_env: MockLLMServer, tmp_path: Path) -> None:
    anthropic_env.unsupported_formats = ("json_schema",)
    run = _analyze(tmp_path, str(FR), llm="anthropic:claude-haiku-4-5")
    assert run.code == 0, run.stderr
    body = anthropic_env.requests[-1]["body"]
    assert "output_config" not in body
    assert body["tool_choice"] == {"type": "tool", "name": "record_analysis"}
    assert body["tools"][0]["input_schema"]["properties"]["issues"]["type"] == "array"


def test_anthropic_truncated_answer_is_reasked(anthropic_env: MockLLMServer, tmp_path: Path) -> None:
    anthropic_env.script = ["truncated", "429"]
    run = _analyze(tmp_path, str(FR), llm="anthropic:claude-haiku-4-5")
    assert run.code == 0, run.stderr
    assert len(anthropic_env.requests) == 3
    retry = anthropic_env.requests[1]["body"]["messages"]
    assert len(retry) == 1 and "cut off" in retry[0]["content"]


def test_keys_never_reach_the_database_or_pages(openai_env: MockLLMServer, tmp_path: Path) -> None:
    openai_env.script = ["500"]
    assert _analyze(tmp_path, str(FR)).code == 0
    blobs = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert blobs
    assert not any(b"SECRET-key" in b for b in blobs)
    shown = run_cli("config", "--json")
    assert "SECRET" not in shown.stdout and json.loads(shown.stdout)["keys"]["OPENAI_API_KEY"] == "set"


def test_missing_key_is_a_configuration_error(tmp_path: Path) -> None:
    run = _analyze(tmp_path, str(FR), llm="anthropic:claude-haiku-4-5")
    assert run.code == 3
    assert "ANTHROPIC_API_KEY" in run.stderr


@needs_seeds
def test_seed_article_gets_grounded_evidence(openai_env: MockLLMServer, tmp_path: Path) -> None:
    run = _analyze(tmp_path, str(SEED_FR))
    assert run.code == 0
    exported = json.loads(run_cli("export", "--format", "json", "--db", str(tmp_path / "hs.db")).stdout)
    items = exported[0]["items"]
    assert items and all(i["evidence_found"] for i in items)
    assert exported[0]["language"] == "fr"
