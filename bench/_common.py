"""Shared helpers for the benchmarks: a mock provider in its own process, synthetic articles."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.articles import article_text, write_articles  # noqa: E402

__all__ = ["REPO", "article_text", "mock_server", "write_articles"]


@contextlib.contextmanager
def mock_server(latency: float = 0.0, fault_rate: float = 0.0) -> Iterator[str]:
    """Start the OpenAI/Anthropic-protocol mock in a subprocess; yield its OpenAI base URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.mock_llm",
            "--latency",
            str(latency),
            "--fault-rate",
            str(fault_rate),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
