"""Shared fixtures: protocol servers on 127.0.0.1, an isolated environment, the seeds."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mock_llm import MockLLMServer
from tests.support.postgres import any_db, pg_server, pg_url  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"
SEED_FR = SEEDS / "000_a10e5551f6d12a21.txt"
SEED_DE = SEEDS / "002_3e7c3ba221e95c2a.txt"
SEED_PAGE = SEEDS / "003_a6eb81c733be9278.txt"
EXAMPLES = REPO / "examples"

needs_seeds = pytest.mark.skipif(not SEED_FR.is_file(), reason="../shared/seeds is not beside the checkout")


# What `make demo` leaves in the checkout, which `make test` must never touch.
USER_OUTPUTS = ("horizonscan.db", "horizonscan.db-wal", "horizonscan.db-shm", "horizonscan-raw", "pages")


def _user_outputs_state() -> dict[str, str]:
    state: dict[str, str] = {}
    for name in USER_OUTPUTS:
        top = REPO / name
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if path.is_file():
                state[str(path.relative_to(REPO))] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                state[str(path.relative_to(REPO))] = "folder"
    return state


@pytest.fixture(scope="session", autouse=True)
def _never_in_the_users_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test runs in a scratch folder, so a command run without --db/--out writes there; and
    the session fails if the checkout's own pages, database or archive changed anyway."""
    before = _user_outputs_state()
    cwd = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        yield
    finally:
        os.chdir(cwd)
    after = _user_outputs_state()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        pytest.fail(f"tests changed the user's own files in {REPO}: {', '.join(changed[:10])}")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No developer key, config file or base URL leaks into a test."""
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "HORIZONSCAN_LLM",
        "HORIZONSCAN_DB",
        "HORIZONSCAN_OUT",
        "HORIZONSCAN_CONCURRENCY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.setenv("HORIZONSCAN_BACKOFF_BASE", "0.01")


@pytest.fixture
def llm_server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv


@pytest.fixture
def openai_env(llm_server: MockLLMServer, monkeypatch: pytest.MonkeyPatch) -> MockLLMServer:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.openai_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-key-0123456789")
    return llm_server


@pytest.fixture
def anthropic_env(llm_server: MockLLMServer, monkeypatch: pytest.MonkeyPatch) -> MockLLMServer:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llm_server.anthropic_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-SECRET-key-0123456789")
    return llm_server
