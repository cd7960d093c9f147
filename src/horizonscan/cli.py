"""Command line: parse, call, print. The work itself lives in the stage packages.

Exit codes: 0 all inputs done; 1 some inputs failed or were skipped (one line each says why);
2 usage error; 3 configuration error (provider, key, model, config file); 4 a budget stopped the
batch early; 130 interrupted (work done so far is kept).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from horizonscan import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG, EXIT_BUDGET, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

app = typer.Typer(
    help="horizonscan: turn articles in any language into English foresight pages "
    "(summary, keywords, themes, signals, behaviors, technologies, issues).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, soft_wrap=True)

DbOpt = Annotated[
    Path | None, typer.Option("--db", help="SQLite file [env HORIZONSCAN_DB; default ./horizonscan.db]")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
LlmOpt = Annotated[
    str | None,
    typer.Option(
        "--llm", help="openai:MODEL | anthropic:MODEL | local[:PATH.gguf] | auto [env HORIZONSCAN_LLM]"
    ),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Folder for the pages [default ./pages].")]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--concurrency", "-j", help="Articles analyzed at once [default 8 hosted, 1 local]."),
]
PrivateOpt = Annotated[
    bool,
    typer.Option("--allow-private-network", help="Allow URLs that resolve to private/loopback addresses."),
]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _settings(**overrides: Any) -> Any:
    from horizonscan.config import ConfigError, load_settings

    try:
        settings, _ = load_settings(overrides)
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    return settings


def _open_store(db: Path) -> Any:
    from horizonscan.store import Store

    try:
        return Store.open(db)
    except Exception as exc:  # a corrupt file or an unwritable folder: say which
        raise _fail(f"cannot open the database {db}: {exc}", EXIT_CONFIG) from exc


def _version(value: bool) -> None:
    if value:
        print(f"horizonscan {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Horizon scanning for futurists, strategy teams and tech-watch analysts."""


@app.command()
def analyze(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files (.txt .md .html .htm .pdf), folders, or http(s) URLs.", show_default=False
        ),
    ] = None,
    llm: LlmOpt = None,
    out: OutOpt = None,
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin",
            help="Where the links came from: LABEL or LABEL=URL (shown in each page's title line).",
        ),
    ] = None,
    concurrency: ConcurrencyOpt = None,
    rpm: Annotated[float | None, typer.Option("--rpm", help="Max LLM requests per minute.")] = None,
    tpm: Annotated[float | None, typer.Option("--tpm", help="Max LLM tokens per minute.")] = None,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Stop starting calls past this many USD.")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Stop starting calls past this many tokens.")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Redo the articles that failed before.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Analyze inputs flagged as too short, paywall or error page.")
    ] = False,
    allow_private_network: PrivateOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyze articles into English foresight pages (one LLM call per article)."""
    from horizonscan.llm.base import ConfigurationError
    from horizonscan.models import Origin
    from horizonscan.pipeline import run_batch
    from horizonscan.sources.inputs import expand_inputs

    settings = _settings(
        llm=llm,
        out=out,
        db=db,
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        max_cost=max_cost,
        max_tokens=max_tokens,
        allow_private_network=allow_private_network or None,
    )
    args = list(inputs or [])
    if not args and not retry_failed:
        raise _fail("give at least one file, folder or URL (or --retry-failed)", EXIT_USAGE)
    try:
        origin_obj = Origin.parse(origin) if origin else None
    except ValueError as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    store = _open_store(settings.db)
    items = expand_inputs(args)
    if retry_failed:
        known = {i.source for i in items}
        items += [i for i in expand_inputs(store.failed_sources()) if i.source not in known]
        if not items:
            err.print("Nothing to retry: no failed articles.")
            raise typer.Exit(EXIT_OK)
    progress = not as_json and sys.stdout.isatty() and sys.stderr.isatty()
    try:
        summary = asyncio.run(
            run_batch(
                store,
                settings,
                items,
                origin=origin_obj,
                force=force,
                show_progress=progress,
                log=lambda m: err.print(m, highlight=False),
                on_result=None if progress or as_json else _line_per_article(len(items)),
            )
        )
    except ConfigurationError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    except KeyboardInterrupt:
        err.print("Interrupted: finished articles are saved; run the same command again to continue.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        store.close()
    if as_json:
        print(
            json.dumps(
                {"summary": summary.as_dict(), "results": [r.model_dump() for r in summary.results]},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for r in summary.results:
            if r.status in ("failed", "skipped"):
                err.print(f"[red]{r.status.upper()}[/red] {r.source}: {r.error}", highlight=False)
        s = summary.as_dict()
        err.print(
            f"{s['analyzed']} analyzed, {s['reused']} reused, {s['failed']} failed, {s['skipped']} skipped"
            + (f", {s['not_started']} not started" if s["not_started"] else "")
            + f" in {s['seconds']:.1f}s; {s['llm_calls']} LLM calls, "
            f"{s['input_tokens']}+{s['output_tokens']} tokens, ${s['cost_usd']:.4f}."
            + (f" Pages: {Path(str(s['index'])).parent}/" if s["index"] else ""),
            highlight=False,
        )
        if summary.stopped:
            err.print(
                f"[yellow]Stopped early:[/yellow] {summary.stopped}. Raise the limit and run again "
                "to continue; nothing done is lost.",
                highlight=False,
            )
    if summary.stopped:
        raise typer.Exit(EXIT_BUDGET)
    if summary.count("failed") or summary.count("skipped"):
        raise typer.Exit(EXIT_FAILED)


def _parse_since(value: str | None) -> Any:
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"--since {value!r}: use a date like 2026-11-01", EXIT_USAGE) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.command()
def collect(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Newsletter issue or archive URLs, feeds, sitemaps, OPML files, URL lists, folders. "
            "None: refresh every source added with `horizonscan sources add`.",
            show_default=False,
        ),
    ] = None,
    origin: Annotated[
        str | None, typer.Option("--origin", help="Label for where these links came from.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only entries published on or after DATE.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N links per source.")] = None,
    analyze_: Annotated[bool, typer.Option("--analyze", help="Analyze the new articles right away.")] = False,
    llm: LlmOpt = None,
    out: OutOpt = None,
    concurrency: ConcurrencyOpt = None,
    allow_private_network: PrivateOpt = False,
    ignore_robots: Annotated[bool, typer.Option("--ignore-robots", help="Do not honour robots.txt.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Collect article links from sources (and with --analyze, analyze them)."""
    from horizonscan.collect import run_collect
    from horizonscan.pipeline import run_batch
    from horizonscan.sources.inputs import Input

    settings = _settings(
        llm=llm,
        out=out,
        db=db,
        concurrency=concurrency,
        allow_private_network=allow_private_network or None,
        respect_robots=False if ignore_robots else None,
    )
    when = _parse_since(since)
    store = _open_store(settings.db)
    specs = list(sources or []) or [row.spec for row in store.list_sources()]
    if not specs:
        store.close()
        raise _fail("no source given and none added; try: horizonscan sources add URL", EXIT_USAGE)
    report = asyncio.run(run_collect(store, settings, specs, origin_label=origin, since=when, limit=limit))
    summary = None
    if analyze_ and report.new_articles:
        items = [Input(src, is_url="://" in src) for src in report.new_articles]
        summary = asyncio.run(
            run_batch(
                store,
                settings,
                items,
                show_progress=not as_json and sys.stdout.isatty() and sys.stderr.isatty(),
                log=lambda m: err.print(m, highlight=False),
            )
        )
    store.close()
    if as_json:
        data = report.as_dict()
        if summary is not None:
            data["analysis"] = {
                "summary": summary.as_dict(),
                "results": [r.model_dump() for r in summary.results],
            }
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        for src in report.sources:
            state = (
                "not modified" if src.not_modified else f"{src.links} links, {src.new} new, {src.known} known"
            )
            err.print(
                f"{src.source} ({src.kind}{': ' + src.title if src.title else ''}): {state}", highlight=False
            )
            for url, reason in src.errors:
                err.print(f"  [red]FAILED[/red] {url}: {reason}", highlight=False)
        if summary is not None:
            s = summary.as_dict()
            err.print(
                f"analyzed {s['analyzed']}, reused {s['reused']}, failed {s['failed']}, "
                f"skipped {s['skipped']}",
                highlight=False,
            )
    if report.failed or (summary is not None and (summary.count("failed") or summary.count("skipped"))):
        raise typer.Exit(EXIT_FAILED)


sources_app = typer.Typer(
    help="Recurring sources, refreshed by `horizonscan collect` with no argument.", no_args_is_help=True
)
app.add_typer(sources_app, name="sources")


@sources_app.command("add")
def sources_add(
    source: Annotated[
        str, typer.Argument(help="URL or path of a newsletter, archive, feed, sitemap, OPML...")
    ],
    label: Annotated[str | None, typer.Option("--label", help="Origin label for its articles.")] = None,
    db: DbOpt = None,
) -> None:
    """Add (or relabel) a recurring source."""
    settings = _settings(db=db)
    store = _open_store(settings.db)
    if "://" not in source:
        path = Path(source).expanduser()
        if not path.exists():
            raise _fail(f"{source}: no such file or folder", EXIT_USAGE)
        source = str(path.resolve())
    elif not source.lower().startswith(("http://", "https://")):
        raise _fail("only http(s) URLs, files and folders can be sources", EXIT_USAGE)
    row = store.add_source(source, label=label)
    store.close()
    err.print(f"source {row.id}: {row.spec}", highlight=False)


@sources_app.command("list")
def sources_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List the recurring sources."""
    settings = _settings(db=db)
    store = _open_store(settings.db)
    rows = store.list_sources()
    store.close()
    data = [
        {
            "id": r.id,
            "source": r.spec,
            "label": r.label,
            "kind": r.kind,
            "links_seen": r.links_seen,
            "last_checked": r.last_checked.isoformat() if r.last_checked else None,
            "last_error": r.last_error,
        }
        for r in rows
    ]
    if as_json:
        print(json.dumps(data, indent=2))
        return
    for d in data:
        print(
            f"{d['id']:>4}  {d['source']}  [{d['kind'] or '?'}] {d['label'] or ''}  "
            f"seen {d['links_seen']}  checked {d['last_checked'] or 'never'}"
        )


@sources_app.command("remove")
def sources_remove(
    key: Annotated[str, typer.Argument(help="Source id or URL/path.")], db: DbOpt = None
) -> None:
    """Remove a recurring source (its articles stay)."""
    settings = _settings(db=db)
    store = _open_store(settings.db)
    removed = store.remove_source(key)
    store.close()
    if not removed:
        raise _fail(f"no source {key!r}; see: horizonscan sources list", EXIT_USAGE)


@app.command()
def extract(
    files: Annotated[
        list[Path], typer.Argument(help="HTML, PDF, Markdown or text files.", show_default=False)
    ],
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON object per input (the only format).")
    ] = True,
) -> None:
    """Print the extracted text and metadata of files, one JSON object per line (no LLM)."""
    from horizonscan.extract import ExtractionError, extract_file

    failed = 0
    for path in files:
        try:
            doc = extract_file(path)
        except ExtractionError as exc:
            failed += 1
            err.print(f"[red]FAILED[/red] {path}: {exc}", highlight=False)
            print(json.dumps({"path": str(path), "error": str(exc)}, ensure_ascii=False))
            continue
        print(
            json.dumps(
                {
                    "path": str(path),
                    "url": doc.url,
                    "title": doc.title,
                    "author": doc.author,
                    "date": doc.date,
                    "language": doc.language,
                    "text": doc.text,
                },
                ensure_ascii=False,
            )
        )
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def similar(
    article: Annotated[str, typer.Argument(help="An article id (see `export`) or a file to compare.")],
    k: Annotated[int, typer.Option("--k", help="How many neighbours.")] = 10,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Articles most likely to report the same story, in any language (no LLM)."""
    from horizonscan.extract import ExtractionError, extract_file
    from horizonscan.similarity.corpus import Corpus, ensure_signatures
    from horizonscan.similarity.embed import get_embedder
    from horizonscan.similarity.pairs import build_signatures

    settings = _settings(db=db)
    store = _open_store(settings.db)
    embedder = get_embedder(settings.embedder)
    ensure_signatures(store, embedder=embedder)
    corpus = Corpus.load(store)
    exclude = None
    if article.isdigit() and not Path(article).exists():
        exclude = int(article)
        sig = corpus.signature_of(exclude)
        if sig is None:
            store.close()
            raise _fail(f"no article {article} with text; see: horizonscan export", EXIT_USAGE)
    else:
        try:
            doc = extract_file(Path(article))
        except ExtractionError as exc:
            store.close()
            raise _fail(f"{article}: {exc}", EXIT_USAGE) from exc
        sig = build_signatures([doc.text], [doc.language], embedder=embedder)[0]
    found = corpus.neighbours(sig, k, exclude_id=exclude)
    views = {v.id: v for v in store.views(only_analyzed=False, article_ids=[a for a, _ in found])}
    store.close()
    rows = []
    for aid, score in found:
        v = views[aid]
        rows.append(
            {
                "id": aid,
                "score": round(score, 4),
                "language": v.language,
                "source": v.source,
                "url": v.url,
                "title": v.analysis.title if v.analysis else v.title,
            }
        )
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        print(f"{r['score']:.2f}  #{r['id']:<5} [{r['language'] or '?'}] {r['title'] or r['source']}")


@app.command()
def stories(
    synthesize: Annotated[
        bool,
        typer.Option(
            "--synthesize", help="One LLM call per story (2+ articles) for a merged title and summary."
        ),
    ] = False,
    llm: LlmOpt = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Same-story score threshold in [0, 1] [default: calibrated 0.41]."),
    ] = None,
    out: OutOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Also list single-article stories.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Group articles that report the same event, across languages and sources, and list the stories."""
    from horizonscan.publishing import publish_corpus, synthesize_stories

    settings = _settings(db=db, out=out, llm=llm, story_threshold=threshold)
    store = _open_store(settings.db)
    if synthesize:
        from horizonscan.llm.base import ConfigurationError

        try:
            made = asyncio.run(
                synthesize_stories(store, settings, log=lambda m: err.print(m, highlight=False))
            )
        except ConfigurationError as exc:
            store.close()
            raise _fail(str(exc), EXIT_CONFIG) from exc
        err.print(f"{made} stories synthesized", highlight=False)
    published = publish_corpus(store, settings, log=lambda m: err.print(m, highlight=False))
    listed = published.stories
    if all_:
        from horizonscan.publishing import build_story_views

        everyone = {v.id: v for v in store.views(only_analyzed=False)}
        listed = build_story_views(
            store, {s: m for s, m in _all_stories(store).items()}, everyone, min_size=1
        )
    store.close()
    data: list[dict[str, Any]] = [
        {
            "id": s.id,
            "title": s.title,
            "summary": s.summary,
            "languages": s.languages,
            "articles": [
                {
                    "id": m.id,
                    "source": m.source,
                    "url": m.url,
                    "language": m.language,
                    "title": m.analysis.title if m.analysis else m.title,
                    "origin": m.origin.model_dump() if m.origin else None,
                }
                for m in s.members
            ],
        }
        for s in listed
    ]
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for d in data:
        print(f"story {d['id']}: {d['title']} ({len(d['articles'])} articles)")
        for a in d["articles"]:
            print(f"    #{a['id']:<5} [{a['language'] or '?'}] {a['title'] or ''}  {a['url'] or a['source']}")


def _all_stories(store: Any) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for article, story in sorted(store.story_members().items()):
        out.setdefault(story, []).append(article)
    return out


@app.command()
def compare(
    pairs: Annotated[
        Path, typer.Option("--pairs", help="JSON lines with text1, text2 (lang1, lang2 optional).")
    ],
) -> None:
    """Score pairs of texts for being the same story (0-1), the scorer story grouping uses; no LLM.

    Each input line is written back to stdout with a "score"; bad lines are reported on stderr
    with their line number and skipped.
    """
    from horizonscan.similarity.pairs import compare_jsonl, parse_pair_line

    if str(pairs) == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = pairs.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise _fail(f"cannot read {pairs}: {exc.strerror}", EXIT_USAGE) from exc
    good: list[str] = []
    bad = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            parse_pair_line(line, n)
        except ValueError as exc:
            bad += 1
            err.print(f"[red]error[/red] {exc}", highlight=False)
        else:
            good.append(line)
    for scored in compare_jsonl(good):
        sys.stdout.write(scored + "\n")
    if bad:
        raise typer.Exit(EXIT_FAILED)


def _line_per_article(total: int) -> Any:
    """Without a progress bar (logs, CI), one line per finished article tells how the batch goes."""
    done = [0]

    def echo(result: Any) -> None:
        done[0] += 1
        what = result.title or ""
        err.print(
            f"[{done[0]}/{total}] {result.status:<11} {result.source}  {what}", highlight=False, markup=False
        )

    return echo


@app.command()
def usage(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """LLM calls, tokens and estimated cost, by model."""
    settings = _settings(db=db)
    store = _open_store(settings.db)
    rows = store.usage()
    store.close()
    if as_json:
        print(json.dumps({"models": rows, "total": _totals(rows)}, indent=2))
        return
    from rich.table import Table

    table = Table(
        "provider", "model", "calls", "ok", "failed", "tokens in", "tokens out", "cost USD", "avg s"
    )
    for r in [*rows, {"provider": "total", "model": "", **_totals(rows)}]:
        table.add_row(
            r["provider"],
            r["model"],
            str(r["calls"]),
            str(r["ok"]),
            str(r["failed"]),
            str(r["input_tokens"]),
            str(r["output_tokens"]),
            f"{r['cost_usd']:.4f}",
            f"{r.get('avg_latency_s', 0):.2f}",
        )
    Console().print(table)


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("calls", "ok", "failed", "input_tokens", "output_tokens", "cost_usd")
    total = {k: sum(r[k] for r in rows) for k in keys}
    total["cost_usd"] = round(total["cost_usd"], 6)
    return total


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="json | csv | parquet")] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write [default stdout].")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Export every analysis (JSON nested; CSV and Parquet one row per item)."""
    from horizonscan.publish.export import FORMATS
    from horizonscan.publish.export import export as do_export

    if fmt not in FORMATS:
        raise _fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", EXIT_USAGE)
    if fmt == "parquet" and output is None:
        raise _fail("parquet is binary: give --output FILE", EXIT_USAGE)
    settings = _settings(db=db)
    store = _open_store(settings.db)
    text = do_export(store.views(), fmt, output)
    store.close()
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def publish(
    out: OutOpt = None,
    db: DbOpt = None,
) -> None:
    """Rewrite every page, story page and the index from the database (no LLM call)."""
    from horizonscan.publishing import publish_corpus

    settings = _settings(db=db, out=out)
    store = _open_store(settings.db)
    published = publish_corpus(store, settings, log=lambda m: err.print(m, highlight=False))
    store.close()
    err.print(f"{len(published.pages)} pages, {len(published.stories)} stories: {published.index}")


@app.command()
def config(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Show the effective settings and where each came from (keys are never shown)."""
    import os

    from horizonscan.config import ConfigError, load_settings, user_config_path
    from horizonscan.llm.registry import resolve_spec

    try:
        settings, origin = load_settings({"db": db})
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    data = json.loads(settings.model_dump_json())
    data["llm_resolved"] = resolve_spec(settings.llm)
    keys = {k: ("set" if os.environ.get(k) else "not set") for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    data["OPENAI_BASE_URL"] = os.environ.get("OPENAI_BASE_URL")
    if as_json:
        print(
            json.dumps(
                {
                    "settings": data,
                    "from": origin,
                    "keys": keys,
                    "config_files": [str(user_config_path()), str(Path.cwd() / "horizonscan.toml")],
                },
                indent=2,
            )
        )
        return
    for k, v in data.items():
        print(f"{k:22} = {v!r}" + (f"   ({origin[k]})" if k in origin else ""))
    for k, v in keys.items():
        print(f"{k:22} : {v}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("Interrupted.")
        sys.exit(EXIT_INTERRUPTED)
