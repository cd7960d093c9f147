"""Re-running `analyze` on 1 000 unchanged articles: target 0 LLM calls and at most 3 s.

The first run (against the local mock provider) fills the database; the second is timed as a
user would see it: the whole `horizonscan analyze` command, interpreter start-up included.

    python bench/bench_rerun.py [--articles 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import mock_server, write_articles


def analyze(folder: Path, work: Path, env: dict[str, str]) -> tuple[float, dict[str, object]]:
    cmd = [
        sys.executable,
        "-m",
        "horizonscan",
        "analyze",
        str(folder),
        "--llm",
        "openai:bench-model",
        "--db",
        str(work / "hs.db"),
        "--out",
        str(work / "pages"),
        "--json",
        "-j",
        "32",
    ]
    started = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return elapsed, json.loads(out.stdout)["summary"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, mock_server() as url:
        env = dict(os.environ, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench")
        folder = Path(tmp) / "in"
        write_articles(folder, args.articles)
        first, s1 = analyze(folder, Path(tmp), env)
        print(f"first run : {args.articles} articles, {s1['llm_calls']} LLM calls, {first:.2f} s")
        second, s2 = analyze(folder, Path(tmp), env)
        print(
            f"re-run    : {s2['reused']} reused, {s2['llm_calls']} LLM calls, {second:.2f} s "
            f"(target 0 calls, <= 3 s)"
        )
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "horizonscan", "--version"], check=True, env=env, capture_output=True
        )
        print(f"for comparison, `horizonscan --version`: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
