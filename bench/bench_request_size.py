"""Request size per article: one structured call vs the seed system's 7 separate calls.

The baseline sends the full article text 7 times (signals, summary, meta, issues,
technologies, behaviors, concerns), each with an instruction of the kind such systems use.
We send it once, with the system prompt, the JSON schema and the delimited article.
Sizes are in characters of text sent (prompt + schema); tokens are roughly chars / 4.

    python bench/bench_request_size.py [FILES...]   (default: examples/ and ../shared/seeds/00[02]*)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from _common import REPO
from horizonscan.analysis.analyzer import Analyzer
from horizonscan.extract import extract_file
from horizonscan.llm.client import LLMClient
from horizonscan.llm.openai_provider import OpenAIProvider

# Every baseline call needs the same role and language rule, since each call stands alone.
PREAMBLE = (
    "You are an expert futurist doing horizon scanning for a strategy team. Answer in English, "
    "whatever the language of the article. "
)

BASELINE_INSTRUCTIONS = {
    "signals": "You are a futurist. Identify the weak signals in the article below. For each signal give "
    "a name, a description, the change it implies (from what to what), what may be different in "
    "10 years, the driving force, and a relevancy score from 0 to 5. Answer as a Markdown table "
    "with the columns name | description | change | 10-year | driving-force | relevancy.",
    "summary": "Summarize the article below in English in at most 150 words. Be factual.",
    "meta": "Read the article below and give its English title, up to 10 keywords, up to 6 themes, its "
    "category (technology, science, economy, politics, society, environment, health, culture, "
    "sport, other) and its type (news, blog post, research article, opinion, press release, report, "
    "social post, other). Answer in English as a bulleted list.",
    "issues": "List the issues (risks, tensions, open questions) raised by the article below, with a "
    "name, a description and a relevancy from 0 to 5, as a Markdown table name | description | relevancy.",
    "technologies": "List the technologies named or implied in the article below, with a name, a "
    "description and a relevancy from 0 to 5, as a Markdown table name | description | relevancy.",
    "behaviors": "List the emerging behaviors of people or organisations described in the article below, "
    "with a name, a description and a relevancy from 0 to 5, as a Markdown table "
    "name | description | relevancy.",
    "concerns": "What concerns could a strategy team have after reading the article below? List them "
    "with a name, a description and a relevancy from 0 to 5 as a Markdown table.",
}


def main() -> None:
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    files = [Path(a) for a in sys.argv[1:]]
    if not files:
        files = sorted((REPO / "examples").iterdir())
        files += sorted((REPO.parent / "shared" / "seeds").glob("00[02]_*.txt"))
    analyzer = Analyzer(LLMClient(OpenAIProvider("gpt-4o-mini")))
    print(f"prompt version {analyzer.prompt_version}")
    print(f"{'article':44} {'text':>6} {'ours':>6} {'7 calls':>8} {'ratio':>6}")
    tot_ours = tot_base = 0
    for path in files:
        doc = extract_file(path)
        ours = analyzer._request(analyzer._user(doc, doc.text)).chars()
        base = sum(
            len(PREAMBLE) + len(instr) + len("\n\nArticle:\n") + len(doc.text)
            for instr in BASELINE_INSTRUCTIONS.values()
        )
        tot_ours += ours
        tot_base += base
        print(f"{path.name[:44]:44} {len(doc.text):>6} {ours:>6} {base:>8} {ours / base:>6.1%}")
    fixed = analyzer._request(analyzer._user(doc, "")).chars()
    print(f"{'total':44} {'':>6} {tot_ours:>6} {tot_base:>8} {tot_ours / tot_base:>6.1%}")
    print(f"fixed part of our request (prompt + schema + markers): {fixed} chars ≈ {fixed // 4} tokens")


if __name__ == "__main__":
    main()
