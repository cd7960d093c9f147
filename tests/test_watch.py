"""`horizonscan watch`: recurring collection of the saved sources, one watcher per database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from horizonscan.jobs.watch import WatchBusy, WatchError, WatchLock, lock_path, parse_every
from tests.support.articles import write_articles
from tests.support.cli import run_cli
from tests.support.mock_batch import MockBatchServer
from tests.support.mock_llm import MockLLMServer

LLM = "openai:gpt-4o-mini"


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HORIZONSCAN_SIMILARITY", "false")  # the corpus stage is not under test here


@pytest.fixture
def slow_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockLLMServer]:
    """A provider that takes a second per answer, so a cycle lasts a few seconds."""
    with MockLLMServer(latency=1.0) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-key-0123456789")
        yield srv


def _db(tmp_path: Path) -> Path:
    return tmp_path / "hs.db"


def _args(tmp_path: Path) -> list[str]:
    return ["--llm", LLM, "--db", str(_db(tmp_path)), "--out", str(tmp_path / "pages")]


def _add_folder(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "watched"
    write_articles(folder, n)
    assert run_cli("sources", "add", str(folder), "--label", "Folder", "--db", str(_db(tmp_path))).code == 0
    return folder


def _analyses(tmp_path: Path) -> int:
    return int(sqlite3.connect(_db(tmp_path)).execute("select count(*) from analyses").fetchone()[0])


def _spawn(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "horizonscan", "watch", *_args(tmp_path), *extra],
        env=dict(os.environ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_lock_holder(tmp_path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> str:
    path = lock_path(_db(tmp_path))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[1][-2000:])
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError("the watcher never took the lock")


def test_intervals() -> None:
    assert parse_every("6h") == 21600
    assert parse_every("30m") == 1800
    assert parse_every("1h30m") == 5400
    assert parse_every("90s") == 90
    assert parse_every("1d") == 86400
    assert parse_every("45") == 45
    for bad in ("banana", "6x", "", "0s", "0.5s", "6h banana"):
        with pytest.raises(WatchError):
            parse_every(bad)


def test_watch_once_collects_the_saved_folder_and_analyzes_only_what_is_new(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    folder = _add_folder(tmp_path, 3)
    first = run_cli("watch", "--once", *_args(tmp_path), "--json")
    assert first.code == 0, first.stderr
    cycle = first.json()
    assert cycle["cycle"] == 1 and cycle["new_articles"] == 3 and cycle["analyzed"] == 3
    assert len(openai_env.requests) == 3
    write_articles(folder, 2, start=100)
    second = run_cli("watch", "--once", *_args(tmp_path), "--json").json()
    assert second["new_articles"] == 2 and second["analyzed"] == 2
    third = run_cli("watch", "--once", *_args(tmp_path), "--json").json()
    assert third["new_articles"] == 0 and third["analyzed"] == 0
    assert len(openai_env.requests) == 5  # each article paid for once
    assert _analyses(tmp_path) == 5
    assert (tmp_path / "pages" / "index.md").is_file()
    assert not lock_path(_db(tmp_path)).read_text().strip()  # released: nobody holds it


def test_watch_analyzes_what_an_earlier_cycle_collected_but_never_analyzed(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    folder = _add_folder(tmp_path, 2)
    # Collected, not analyzed (as after a cycle interrupted between collection and analysis).
    assert run_cli("collect", str(folder), "--db", str(_db(tmp_path))).code == 0
    run = run_cli("watch", "--once", *_args(tmp_path), "--json")
    assert run.code == 0, run.stderr
    assert run.json()["new_articles"] == 0 and run.json()["analyzed"] == 2
    assert _analyses(tmp_path) == 2


def test_watch_needs_a_database_with_sources_and_a_valid_interval(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    missing = run_cli("watch", "--once", *_args(tmp_path))
    assert missing.code == 2 and "no database" in missing.stderr
    write_articles(tmp_path / "in", 1, paragraphs=6)
    assert run_cli("analyze", str(tmp_path / "in"), *_args(tmp_path)).code == 0
    none = run_cli("watch", "--once", *_args(tmp_path))
    assert none.code == 2 and "sources add" in none.stderr
    _add_folder(tmp_path, 1)
    bad = run_cli("watch", "--every", "banana", *_args(tmp_path))
    assert bad.code == 2 and "--every" in bad.stderr
    local = run_cli("watch", "--once", "--batch", "--llm", "local", "--db", str(_db(tmp_path)))
    assert local.code == 2 and "batch API" in local.stderr


def test_the_lock_names_its_holder_and_a_waiter_gets_it_when_released(tmp_path: Path) -> None:
    path = lock_path(_db(tmp_path))
    first = WatchLock(path)
    first.acquire()
    with pytest.raises(WatchBusy) as busy:
        WatchLock(path).acquire()
    assert f"pid {os.getpid()}" in busy.value.holder and "--wait-lock" in str(busy.value)
    waiter = WatchLock(path)
    got = threading.Event()

    def wait() -> None:
        waiter.acquire(wait=True, poll=0.05)
        got.set()

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    assert not got.is_set()  # still held
    first.release()
    thread.join(timeout=10)
    assert got.is_set()
    waiter.release()


def test_two_watchers_at_once_then_a_killed_one_leaves_no_stale_lock(
    slow_llm: MockLLMServer, tmp_path: Path
) -> None:
    _add_folder(tmp_path, 4)
    first = _spawn(tmp_path, "--every", "1h", "-j", "1")
    try:
        holder = _wait_for_lock_holder(tmp_path, first)
        assert f"pid {first.pid}" in holder
        second = run_cli("watch", "--once", *_args(tmp_path))
        assert second.code == 1
        assert f"pid {first.pid}" in second.stderr and "another `horizonscan watch`" in second.stderr
        os.kill(first.pid, signal.SIGKILL)  # mid-cycle: its analyses in flight are lost
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    # The kernel released the lock with the process: the next watcher runs at once and finishes
    # what the killed one left (its leases are taken over, no article is analyzed twice).
    again = run_cli("watch", "--once", *_args(tmp_path), "--json")
    assert again.code == 0, again.stderr
    con = sqlite3.connect(_db(tmp_path))
    assert con.execute("select count(*) from articles where status='analyzed'").fetchone()[0] == 4
    assert _analyses(tmp_path) == 4
    per_text = con.execute("select count(*) from llm_calls where status='ok' group by text_hash").fetchall()
    assert sorted(n for (n,) in per_text) == [1, 1, 1, 1]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_between_cycles_ends_the_watcher_cleanly(
    openai_env: MockLLMServer, tmp_path: Path, sig: signal.Signals
) -> None:
    _add_folder(tmp_path, 2)
    proc = _spawn(tmp_path, "--every", "1h", "--json")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the first cycle's report: then it sleeps until the next
        assert '"cycle": 1' in line, proc.communicate()[1][-2000:] if proc.poll() is not None else line
        time.sleep(1.0)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-2000:]
    assert "Stopped after 1 cycle(s)" in stderr
    lock = WatchLock(lock_path(_db(tmp_path)))
    lock.acquire()  # free again
    lock.release()
    assert _analyses(tmp_path) == 2


def test_watch_batch_submits_in_one_cycle_and_ingests_in_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockBatchServer(instant=True) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-key-0123456789")
        _add_folder(tmp_path, 3)
        first = run_cli("watch", "--once", "--batch", *_args(tmp_path), "--json")
        assert first.code == 0, first.stderr
        assert first.json()["queued"] == 3 and first.json()["analyzed"] == 0
        second = run_cli("watch", "--once", "--batch", *_args(tmp_path), "--json")
        assert second.code == 0, second.stderr
        assert second.json()["analyzed"] == 3 and second.json()["new_articles"] == 0
        assert len(srv.batches) == 1 and srv.ordinary_requests() == []
    con = sqlite3.connect(_db(tmp_path))
    assert con.execute("select distinct run_id from llm_calls").fetchall() == [("batch-1",)]
    assert _analyses(tmp_path) == 3


def test_a_stop_signal_during_a_cycle_keeps_the_work_done_and_releases_everything(
    slow_llm: MockLLMServer, tmp_path: Path
) -> None:
    _add_folder(tmp_path, 6)
    proc = _spawn(tmp_path, "--every", "1h", "-j", "1")
    try:
        _wait_for_lock_holder(tmp_path, proc)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not slow_llm.requests:  # a call in flight
            time.sleep(0.05)
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Interrupted during a cycle" in stderr
    con = sqlite3.connect(_db(tmp_path))
    done = _analyses(tmp_path)
    assert 1 <= done < 6
    assert con.execute("select count(*) from articles where lease_owner is not null").fetchone()[0] == 0
    lock = WatchLock(lock_path(_db(tmp_path)))
    lock.acquire()
    lock.release()
