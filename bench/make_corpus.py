"""Demo corpus for the trends commands: a few hundred dated articles over 12 months, analyzed
through the mock OpenAI-protocol model, then `trends`, `trends interpret`, `review`, `explore`.

The articles (HTML with a canonical URL and a publication date, from 25 sites and 3
newsletters) follow known patterns: spreading, steady, fading and late topics, one-off mentions
and a press release syndicated on several sites (tests/test_trends_corpus.py). The mock model
answers each article with the paraphrases it contains and answers the trend prompts with
canned, cited text: this shows the machinery, not a model's insight. About 2-5 min on 2 cores.

Usage: python bench/make_corpus.py [--out DIR] [--seed 7] [--no-demo]
Then, for instance: horizonscan trends --db DIR/horizonscan.db --out DIR/pages
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.mock_llm import MockLLMServer  # noqa: E402
from tests.test_trends_corpus import corpus_responder, generate, write_corpus  # noqa: E402

HORIZONSCAN = [sys.executable, "-c", "from horizonscan.cli import main; main()"]


def run(args: list[str], env: dict[str, str]) -> None:
    print("$ horizonscan " + " ".join(args), flush=True)
    code = subprocess.call([*HORIZONSCAN, *args], env=env, cwd=REPO)
    if code not in (0, 1):
        raise SystemExit(f"horizonscan {args[0]} exited with {code}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("demo-trends"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-demo", action="store_true", help="Only build the corpus.")
    args = ap.parse_args()
    out: Path = args.out.resolve()
    articles = generate(args.seed)
    dirs = write_corpus(out / "articles", articles)
    db, pages = out / "horizonscan.db", out / "pages"
    started = time.perf_counter()
    with MockLLMServer(responder=corpus_responder) as srv:
        env = dict(
            os.environ,
            OPENAI_BASE_URL=srv.openai_url,
            OPENAI_API_KEY="sk-demo-not-a-key",
            PYTHONPATH=str(REPO / "src"),
        )
        common = ["--llm", "openai:demo-model", "--db", str(db), "--out", str(pages)]
        for origin, folder in dirs.items():
            run(["analyze", str(folder), "--origin", origin, *common], env)
        print(f"corpus: {len(articles)} articles analyzed in {time.perf_counter() - started:.1f} s")
        if not args.no_demo:
            run(["trends", "--db", str(db), "--out", str(pages)], env)
            listing = subprocess.run(
                [*HORIZONSCAN, "trends", "--db", str(db), "--json", "--status", "strong"],
                env=env, cwd=REPO, capture_output=True, text=True, check=True,
            )  # fmt: skip
            strongest = json.loads(listing.stdout)["trends"][0]["id"]
            run(["trends", "interpret", str(strongest), *common], env)
            run(["review", "--period", "2024-Q3", *common], env)
            run(["explore", "heat pumps and home heating", *common], env)
    print(f"pages: {pages}/trends/index.md, {pages}/trends/radar.md, {pages}/reviews/, {pages}/explore/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
