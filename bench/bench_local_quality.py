"""How much the offline model's pages say: richness and grounding of local analyses.

Runs `horizonscan analyze FILES --llm local` in a fresh database (the real CLI, in a subprocess),
then reads the database and prints, per article and overall:

* seconds per article (the LLM calls' own time, and the calls made);
* items per section (signals, behaviors, technologies, issues);
* distinct evidence sentences / items (1.0: every item cites its own sentence);
* names repeated across sections, and signals sharing one "change" or one "10-year";
* evidence found in the article.

    python bench/bench_local_quality.py [FILES...]      (default: examples/)
    HS_SRC=/path/to/other/src python bench/bench_local_quality.py   (measure another checkout)
    HS_KEEP=/tmp/run python bench/bench_local_quality.py   (keep the database, with the audit log)

The local model takes one to two minutes per article on 2 cores: run it sparingly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from pathlib import Path

from _common import REPO

KINDS = ("signal", "behavior", "technology", "issue")
KIND_PLURAL = {"signal": "signals", "behavior": "behaviors", "technology": "technologies", "issue": "issues"}


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .")


@dataclass
class Row:
    article: str
    seconds: float
    calls: int
    output_tokens: int
    signal: int
    behavior: int
    technology: int
    issue: int
    items: int
    distinct_evidence: int
    repeated_names: int
    shared_change: int
    shared_ten_year: int
    evidence_found: int


def analyze(files: list[Path], tmp: Path) -> tuple[list[Row], list[dict[str, object]], float]:
    env = dict(os.environ)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "HORIZONSCAN_LLM"):
        env.pop(name, None)
    if os.environ.get("HS_SRC"):
        env["PYTHONPATH"] = os.environ["HS_SRC"]
    db = tmp / "hs.db"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "horizonscan", "analyze", *map(str, files), "--llm", "local",
         "--db", str(db), "--out", str(tmp / "pages"), "--json"],
        env=env, capture_output=True, text=True, cwd=tmp, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"analyze failed ({proc.returncode}): {proc.stderr[-2000:]}")
    results: list[dict[str, object]] = json.loads(proc.stdout)["results"]
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    latency: dict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for r in con.execute("select text_hash, latency_s, output_tokens from llm_calls"):
        latency[r["text_hash"]] += r["latency_s"] or 0.0
        calls[r["text_hash"]] += 1
        tokens[r["text_hash"]] += r["output_tokens"] or 0
    rows = []
    for a in con.execute("select id, text_hash from analyses").fetchall():
        items = con.execute(
            "select * from items where analysis_id = ? order by position", (a["id"],)
        ).fetchall()
        by_kind = Counter(i["kind"] for i in items)
        evidence = {_norm(i["evidence"]) for i in items if i["evidence"]}
        kinds_of_name: dict[str, set[str]] = defaultdict(set)
        for i in items:
            kinds_of_name[_norm(i["name"])].add(i["kind"])
        signals = [i for i in items if i["kind"] == "signal"]
        changes = Counter(_norm(s["change"] or "") for s in signals)
        outlooks = Counter(_norm(s["ten_year"] or "") for s in signals)
        source = next((str(r["source"]) for r in results if r.get("analysis_id") == a["id"]), a["text_hash"])
        rows.append(
            Row(
                article=Path(source).name,
                seconds=round(latency[a["text_hash"]], 1),
                calls=calls[a["text_hash"]],
                output_tokens=tokens[a["text_hash"]],
                signal=by_kind["signal"],
                behavior=by_kind["behavior"],
                technology=by_kind["technology"],
                issue=by_kind["issue"],
                items=len(items),
                distinct_evidence=len(evidence),
                repeated_names=sum(1 for kinds in kinds_of_name.values() if len(kinds) > 1),
                shared_change=sum(n - 1 for n in changes.values() if n > 1),
                shared_ten_year=sum(n - 1 for n in outlooks.values() if n > 1),
                evidence_found=sum(1 for i in items if i["evidence_found"]),
            )
        )
    return rows, results, wall


def summarise(rows: list[Row], results: list[dict[str, object]], wall: float) -> dict[str, object]:
    n = max(1, len(rows))
    items = max(1, sum(r.items for r in rows))
    return {
        "articles": len(rows),
        "failed": sum(1 for r in results if r["status"] == "failed"),
        "wall_seconds": round(wall, 1),
        "seconds_per_article": round(sum(r.seconds for r in rows) / n, 1),
        "calls_per_article": round(sum(r.calls for r in rows) / n, 2),
        "output_tokens_per_article": round(sum(r.output_tokens for r in rows) / n),
        **{f"{KIND_PLURAL[k]}_per_article": round(sum(getattr(r, k) for r in rows) / n, 2) for k in KINDS},
        "distinct_evidence_per_item": round(sum(r.distinct_evidence for r in rows) / items, 2),
        "repeated_names": sum(r.repeated_names for r in rows),
        "shared_change": sum(r.shared_change for r in rows),
        "shared_ten_year": sum(r.shared_ten_year for r in rows),
        "evidence_found_share": round(sum(r.evidence_found for r in rows) / items, 2),
    }


def main() -> None:
    files = [Path(a).resolve() for a in sys.argv[1:]] or sorted((REPO / "examples").iterdir())
    keep = os.environ.get("HS_KEEP")  # a folder to keep the database and pages in (audit log on)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        os.environ["HORIZONSCAN_AUDIT"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        rows, results, wall = analyze(files, Path(keep or tmp))
    cols = [f.name for f in fields(Row)]
    print(" | ".join(cols))
    for row in rows:
        print(" | ".join(str(getattr(row, c)) for c in cols))
    print(json.dumps(summarise(rows, results, wall), indent=2))


if __name__ == "__main__":
    main()
