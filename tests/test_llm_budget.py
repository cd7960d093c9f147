"""Budgets hold under concurrency: each call reserves its worst case before it is sent."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest

from horizonscan.llm.limits import Budget, BudgetExceeded
from tests.support.articles import write_articles
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer

# USD per million tokens: one mock call (about 2 k tokens in, 400 out) costs about $0.35, and its
# reservation (input estimate + the 4000 output tokens it may use) about $1.
PRICE = 150.0
MODEL = "openai:priced-model"


def _priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "horizonscan.toml").write_text(
        f'[prices]\n"{MODEL}" = {{ input = {PRICE}, output = {PRICE} }}\n', encoding="utf-8"
    )


def test_max_cost_at_concurrency_4_overshoots_by_at_most_one_reservation(
    openai_env: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _priced(tmp_path, monkeypatch)
    openai_env.latency = 0.2  # calls overlap, as they do against a real provider
    write_articles(tmp_path / "in", 12)
    run = run_cli(
        "analyze",
        str(tmp_path / "in"),
        "-j",
        "4",
        "--max-cost",
        "1",
        *batch_args(tmp_path, MODEL, json_out=False),
    )
    assert run.code == 4, run.stderr
    con = sqlite3.connect(tmp_path / "hs.db")
    spent = con.execute("select sum(cost_usd) from llm_calls").fetchone()[0]
    requests = [r["body"] for r in openai_env.requests]
    largest = max(
        (len("".join(m["content"] for m in b["messages"])) // 3 + b["max_tokens"]) * PRICE / 1e6
        for b in requests
    )
    assert spent <= 1 + largest + 0.05, (spent, largest)  # (was 2.54 at -j 4 before reservations)
    assert spent >= 1
    # The same spent figure on every line that prints one.
    figures = set(re.findall(r"\$(\d+\.\d{4})", run.stderr.replace("$1.0000)", "")))
    # (The database sums the same costs in another order: the last float digit may differ, so the
    # figure rounded to 4 decimals may too, by one unit.)
    assert len(figures) == 1 and abs(float(figures.pop()) - spent) <= 0.000101, run.stderr
    usage = run_cli("usage", "--json", "--db", str(tmp_path / "hs.db")).json()
    assert abs(usage["total"]["cost_usd"] - spent) < 1e-9


def test_budget_on_a_model_without_a_price_is_refused_up_front(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    write_articles(tmp_path / "in", 2)
    run = run_cli(
        "analyze", str(tmp_path / "in"), "--max-cost", "1", *batch_args(tmp_path, "openai:no-price-known")
    )
    assert run.code == 3
    assert "no-price-known" in run.stderr and "[prices]" in run.stderr
    assert openai_env.requests == []
    # A token budget needs no price.
    ok = run_cli(
        "analyze",
        str(tmp_path / "in"),
        "--max-tokens",
        "100000",
        *batch_args(tmp_path, "openai:no-price-known"),
    )
    assert ok.code == 0


def test_reservations_wait_for_calls_in_flight_then_stop() -> None:
    """Unit view: with $1 left and calls reserving $0.6, the second waits for the first to settle;
    once the spend reaches the cap, nothing starts."""

    async def main() -> list[str]:
        budget = Budget(max_cost=1.0)
        log: list[str] = []

        async def call(name: str, real: float) -> None:
            try:
                res = await budget.reserve(0.6, 100)
            except BudgetExceeded:
                log.append(f"{name} refused")
                return
            log.append(f"{name} start")
            await asyncio.sleep(0.01)
            budget.settle(res, real, 50)
            log.append(f"{name} end")

        await asyncio.gather(call("a", 0.3), call("b", 0.3), call("c", 0.5), call("d", 0.1))
        assert budget.reserved_cost == 0
        return log

    log = asyncio.run(main())
    # a and b fit together ($1.2 reserved would not, but a starts alone, b sees $0.6 < $1).
    assert log[:2] == ["a start", "b start"]
    assert "c start" in log and "d refused" in log  # c starts at $0.6 spent; d finds $1.1 spent
    assert not hasattr(Budget, "exhausted")
