"""A real OpenAI-compatible server in the suite: llama-cpp-python's own `llama_cpp.server`, serving
the bundled model on 127.0.0.1, analyzes the French seed end to end through `--llm openai:…`.

This is the path where a hosted-style model once returned no signals and translated every quote:
the article must now be analyzed, in English, with its quotes found in the French text.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from horizonscan.extract.language import detect_language
from tests.conftest import SEED_FR, needs_seeds
from tests.support.cli import batch_args, run_cli

# One article through a 1.5B model under a grammar: about 5 min on 2 idle cores; the margin is for CI
# machines shared with other jobs (it took 25 min at load 4).
pytestmark = [pytest.mark.slow, needs_seeds, pytest.mark.timeout(2400)]

MODEL = "qwen2.5-coder-1.5b-instruct"
STARTUP_SECONDS = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` with the bundled GGUF (joined and verified like `--llm local`)."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    from horizonscan.llm.local_model import default_model_path

    model = default_model_path()
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL,
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192",
             "--n_threads", str(os.cpu_count() or 1)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer in {STARTUP_SECONDS} s")
            time.sleep(1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_french_seed_end_to_end_through_a_real_openai_compatible_server(
    llama_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("HORIZONSCAN_TIMEOUT", "900")
    if os.environ.get("HORIZONSCAN_TEST_AUDIT"):  # keep every prompt and raw answer, to debug
        monkeypatch.setenv("HORIZONSCAN_AUDIT", "1")
    run = run_cli("analyze", str(SEED_FR), *batch_args(tmp_path, f"openai:{MODEL}"))
    result = run.json()["results"][0]
    assert run.code == 0 and result["status"] == "analyzed", run.stdout[-3000:]
    data = json.loads(run_cli("export", "--format", "json", "--db", str(tmp_path / "hs.db")).stdout)[0]
    assert data["model"] == f"openai:{MODEL}" and data["language"] == "fr"
    assert detect_language(f"{data['title']}. {data['summary']}") == "en"
    items = data["items"]
    assert items, "no item at all"
    found = [i for i in items if i["evidence_found"]]
    assert len(found) * 2 > len(items), [(i["evidence"], i["evidence_note"]) for i in items]
    # What is not English is the verbatim evidence, in French; names and descriptions are English.
    assert all(detect_language(f"{i['name']}. {i['description']}") != "fr" for i in items)
    page = Path(result["page"]).read_text(encoding="utf-8")
    assert "* Language: French (fr)" in page
