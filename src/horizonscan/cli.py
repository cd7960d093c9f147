"""Command line: parse, call, print. The work itself lives in the stage packages.

Exit codes: 0 all inputs done; 1 some inputs failed or were skipped (one line each says why),
or `publish` found nothing to publish; 2 usage error (also a read-only command on a database that
does not exist); 3 configuration error (provider, key, model, config file, a --db that is not
horizonscan's, an --out that cannot be written); 4 a budget stopped the batch early; 130
interrupted (work done so far is kept).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

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
    str | None,
    typer.Option(
        "--db",
        help="SQLite file, or a postgresql://user@host/db URL [env HORIZONSCAN_DB; default ./horizonscan.db]",
    ),
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
AuditOpt = Annotated[
    bool,
    typer.Option(
        "--audit",
        help="Keep every prompt and raw answer in the database (keys never), for `horizonscan logs` "
        "[env HORIZONSCAN_AUDIT; setting audit].",
    ),
]


# Control characters (C0 but tab and newline, DEL, C1), bidi overrides and isolates, line and
# paragraph separators: article titles, sources and errors are untrusted text, and a terminal
# would act on these (move the cursor, recolour, reorder what the user reads).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_UNSAFE_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _term(value: object, *, keep_newlines: bool = False) -> str:
    """Untrusted text made safe to print: control, escape and bidi characters shown as escapes."""
    text = str(value)
    if not keep_newlines:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _m(value: object) -> str:
    """Untrusted text inside a Rich markup string: made safe, and its brackets inert."""
    return escape(_term(value))


def _dumps(data: Any, **kwargs: Any) -> str:
    """JSON for stdout: raw values (C0 controls are escaped by JSON itself), and the characters a
    terminal would act on escaped as \\uXXXX, which decodes to the same value."""
    text = json.dumps(data, ensure_ascii=False, **kwargs)
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _log(message: str) -> None:
    err.print(_term(message, keep_newlines=True), highlight=False, markup=False)


def _scrub(text: object) -> str:
    """Any configured secret (key, URL password or key parameter) replaced by ***."""
    from horizonscan.redact import scrub

    return scrub(str(text))


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {_m(_scrub(message))}", highlight=False, markup=True)
    return typer.Exit(code)


def _settings(**overrides: Any) -> Any:
    from horizonscan.config import ConfigError, load_settings

    try:
        settings, _ = load_settings(overrides)
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    return settings


def _shown_db(db: Path | str) -> str:
    """A --db as it may be printed (a URL's password masked)."""
    from horizonscan.store.db import shown

    return shown(db)


def _open_store(db: Path | str, *, create: bool = True) -> Any:
    """The database; read-only commands pass create=False, so a wrong --db is said, not created.

    Missing (read-only commands): exit 2. Another application's file, or unusable: exit 3.
    """
    from horizonscan.store import Store
    from horizonscan.store.db import DatabaseError, MissingDatabase, shown

    try:
        return Store.open(db, create=create)
    except MissingDatabase as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    except DatabaseError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    except Exception as exc:  # a corrupt file or an unwritable folder: say which
        raise _fail(f"cannot open the database {shown(db)}: {exc}", EXIT_CONFIG) from exc


def _check_out(out: Path) -> None:
    """Fail before any paid call when the pages cannot be written where asked (exit 3)."""
    import os
    import tempfile

    target = out.expanduser()
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    problem = None
    if not probe.is_dir():
        problem = f"{probe} is not a folder"
    elif probe == target:
        try:
            with tempfile.TemporaryFile(dir=target):
                pass
        except OSError as exc:
            problem = exc.strerror or str(exc)
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"cannot create folders in {probe}"
    if problem:
        raise _fail(
            f"cannot write the pages to {out}: {problem}; choose another --out (setting out)", EXIT_CONFIG
        )


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
    context_tokens: Annotated[
        int | None,
        typer.Option(
            "--context-tokens",
            help="The model's context window in tokens (longer texts are split) [default: asked of "
            "the server; 128k on OpenAI, 8192 on other servers].",
            min=512,
        ),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Redo the articles that failed before.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Analyze inputs flagged as too short, paywall or error page.")
    ] = False,
    allow_private_network: PrivateOpt = False,
    audit: AuditOpt = False,
    batch: BatchOpt = False,
    wait: WaitOpt = False,
    poll_every: PollEveryOpt = "1m",
    fallback: FallbackOpt = True,
    enqueue: EnqueueOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyze articles into English foresight pages (one LLM call per article)."""
    from horizonscan.jobs.batch import plan_inputs, run_batch
    from horizonscan.llm.base import ConfigurationError
    from horizonscan.models import Origin

    settings = _settings(
        llm=llm,
        out=out,
        db=db,
        concurrency=concurrency,
        rpm=rpm,
        tpm=tpm,
        max_cost=max_cost,
        max_tokens=max_tokens,
        context_tokens=context_tokens,
        allow_private_network=allow_private_network or None,
        audit=audit or None,
    )
    args = list(inputs or [])
    if not args and not retry_failed:
        raise _fail("give at least one file, folder or URL (or --retry-failed)", EXIT_USAGE)
    poll_seconds = _batch_flags(settings, batch=batch, wait=wait, poll_every=poll_every, fallback=fallback)
    try:
        origin_obj = Origin.parse(origin) if origin else None
    except ValueError as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    _check_out(settings.out)
    store = _open_store(settings.db)
    items = plan_inputs(store, settings, args, retry_failed=retry_failed)
    if retry_failed and not items:
        err.print("Nothing to retry: no failed articles.")
        raise typer.Exit(EXIT_OK)
    if enqueue:
        if batch:
            store.close()
            raise _fail("--enqueue and --batch exclude each other: workers make ordinary calls", EXIT_USAGE)
        _enqueue(store, settings, items, origin=origin_obj, force=force, as_json=as_json)
        return
    if batch:
        _analyze_batch(
            store, settings, items, origin=origin_obj, force=force, wait=wait, every=poll_seconds,
            fallback=fallback, as_json=as_json,
        )  # fmt: skip
        return
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
                log=_log,
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
            _dumps(
                {"summary": summary.as_dict(), "results": [r.model_dump() for r in summary.results]},
                indent=2,
            )
        )
    else:
        for r in summary.results:
            if r.status in ("failed", "skipped"):
                err.print(
                    f"[red]{r.status.upper()}[/red] {_m(r.source)}: {_m(_scrub(r.error))}", highlight=False
                )
        s = summary.as_dict()
        err.print(
            f"{s['analyzed']} analyzed, {s['reused']} reused, {s['failed']} failed, {s['skipped']} skipped"
            + (f", {s['not_started']} not started" if s["not_started"] else "")
            + f" in {s['seconds']:.1f}s; {s['llm_calls']} LLM calls, "
            f"{s['input_tokens']}+{s['output_tokens']} tokens, ${s['cost_usd']:.4f}."
            + (f" Pages: {Path(str(s['index'])).parent}/" if s["index"] else ""),
            highlight=False,
            markup=False,
        )
        if summary.stopped and not summary.fatal:
            err.print(
                f"[yellow]Stopped early:[/yellow] {_m(summary.stopped)}, ${s['cost_usd']:.4f} spent. "
                "Raise the limit and run again to continue; nothing done is lost.",
                highlight=False,
            )
    if summary.fatal:  # one line, whatever the number of articles: what is wrong and what to do
        raise _fail(summary.fatal, EXIT_CONFIG)
    if summary.stopped:
        raise typer.Exit(EXIT_BUDGET)
    if summary.count("failed") or summary.count("skipped"):
        raise typer.Exit(EXIT_FAILED)


# ----- provider batches (jobs/provider_batch.py, llm/batch_api.py) ------------------------------------

BatchOpt = Annotated[
    bool,
    typer.Option(
        "--batch",
        help="Send the articles to the provider's batch API (OpenAI Batch API, Anthropic Message "
        "Batches) at half price; answers come within 24 h. `horizonscan batches` shows them.",
    ),
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="With --batch: poll until every batch has ended and is ingested.")
]
PollEveryOpt = Annotated[
    str, typer.Option("--poll-every", help="With --wait: time between polls (30s, 5m, 1h).")
]
FallbackOpt = Annotated[
    bool,
    typer.Option(
        "--fallback/--no-fallback",
        help="Redo requests with no usable batch answer (errored, expired, invalid) by ordinary "
        "calls, or only report them as failed (for `analyze --retry-failed`).",
    ),
]


POLL_MIN = 0.01  # seconds; real batches take minutes to hours, tests poll their mock fast


def _batch_flags(settings: Any, *, batch: bool, wait: bool, poll_every: str, fallback: bool) -> float:
    """Check the --batch flags before anything is read or sent; the poll interval in seconds."""
    if not batch:
        if wait or not fallback:
            raise _fail("--wait and --no-fallback go with --batch", EXIT_USAGE)
        return 0.0
    from horizonscan.jobs.provider_batch import batch_refusal
    from horizonscan.jobs.watch import WatchError, parse_every

    refusal = batch_refusal(settings)
    if refusal:
        raise _fail(refusal, EXIT_USAGE)
    try:
        return parse_every(poll_every, minimum=POLL_MIN)
    except WatchError as exc:
        raise _fail(str(exc).replace("--every", "--poll-every"), EXIT_USAGE) from exc


def _analyze_batch(
    store: Any,
    settings: Any,
    items: list[Any],
    *,
    origin: Any,
    force: bool,
    wait: bool,
    every: float,
    fallback: bool,
    as_json: bool,
) -> None:
    from horizonscan.jobs.provider_batch import submit_batch
    from horizonscan.llm.base import ConfigurationError

    try:
        report = asyncio.run(
            submit_batch(
                store, settings, items, origin=origin, force=force, wait=wait, every=every,
                fallback=fallback, log=_log,
            )
        )  # fmt: skip
    except ConfigurationError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    except KeyboardInterrupt:
        err.print(
            "Interrupted: submitted batches keep running at the provider; "
            "`horizonscan batches poll` ingests them."
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        store.close()
    _print_batch_report(report, as_json)


def _print_batch_report(report: Any, as_json: bool) -> None:
    """The results of a batch command, and its exit code (0, 1 failures, 3 fatal, 4 budget)."""
    if as_json:
        print(
            _dumps(
                {
                    "summary": report.as_dict(),
                    "results": [r.model_dump() for r in report.results.values()],
                },
                indent=2,
            )
        )
    else:
        for r in report.results.values():
            if r.status in ("failed", "skipped"):
                err.print(
                    f"[red]{r.status.upper()}[/red] {_m(r.source)}: {_m(_scrub(r.error))}", highlight=False
                )
        s = report.as_dict()
        err.print(
            f"{s['queued']} queued in provider batches, {s['analyzed']} analyzed, {s['reused']} reused, "
            f"{s['failed']} failed, {s['skipped']} skipped"
            + (f", {s['not_started']} not started" if s["not_started"] else "")
            + f" in {s['seconds']:.1f}s; {s['llm_calls']} LLM calls, "
            f"{s['input_tokens']}+{s['output_tokens']} tokens, ${s['cost_usd']:.4f}."
            + (f" Pages: {Path(str(s['index'])).parent}/" if s["index"] else ""),
            highlight=False,
            markup=False,
        )
        if report.still_open:
            err.print(
                f"{report.still_open} batch(es) still running at the provider: `horizonscan batches` "
                "shows them, `horizonscan batches poll` ingests the ended ones.",
                highlight=False,
                markup=False,
            )
        if report.stopped and not report.fatal:
            err.print(f"[yellow]Stopped early:[/yellow] {_m(report.stopped)}", highlight=False)
    if report.fatal:
        raise _fail(report.fatal, EXIT_CONFIG)
    if report.stopped:
        raise typer.Exit(EXIT_BUDGET)
    if report.count("failed") or report.count("skipped"):
        raise typer.Exit(EXIT_FAILED)


batches_app = typer.Typer(
    help="Provider batches sent by `analyze --batch`: list them, and `poll` to ingest the ended ones.",
    invoke_without_command=True,
)
app.add_typer(batches_app, name="batches")


@batches_app.callback()
def batches(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Every batch, not only the last 20.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the provider batches: status, request counts by outcome, cost."""
    if ctx.invoked_subcommand is not None:
        return
    from horizonscan.store.batches import BatchRepo

    settings = _settings(db=db)
    store = _open_store(settings.db, create=False)
    try:
        rows = BatchRepo.of(store).summaries(limit=None if all_ else 20)
    finally:
        store.close()
    if as_json:
        print(_dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        err.print("No provider batches yet: `horizonscan analyze --batch …` sends some.")
        return
    for r in rows:
        items = ", ".join(f"{n} {k}" for k, n in sorted(r.items.items()))
        sent = r.submitted_at.isoformat(timespec="seconds") if r.submitted_at else "-"
        print(
            f"{r.id:>4}  {_term(r.spec)}  {_term(r.remote_id or '-')}  {r.status}"
            f" ({_term(r.remote_status or '-')})  {r.requests} requests: {items or '-'}  "
            f"${r.cost_usd:.4f}  sent {sent}" + (f"  {_term(_scrub(r.error))}" if r.error else "")
        )


@batches_app.command("poll")
def batches_poll(
    wait: Annotated[
        bool, typer.Option("--wait", help="Poll until every batch has ended and is ingested.")
    ] = False,
    poll_every: PollEveryOpt = "1m",
    fallback: FallbackOpt = True,
    out: OutOpt = None,
    concurrency: ConcurrencyOpt = None,
    audit: AuditOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Poll the open provider batches, ingest the ended ones, redo what has no usable answer."""
    from horizonscan.jobs.provider_batch import poll_batches
    from horizonscan.jobs.watch import WatchError, parse_every
    from horizonscan.llm.base import ConfigurationError

    settings = _settings(out=out, db=db, concurrency=concurrency, audit=audit or None)
    try:
        every = parse_every(poll_every, minimum=POLL_MIN)
    except WatchError as exc:
        raise _fail(str(exc).replace("--every", "--poll-every"), EXIT_USAGE) from exc
    store = _open_store(settings.db, create=False)
    try:
        report = asyncio.run(
            poll_batches(store, settings, wait=wait, every=every, fallback=fallback, log=_log)
        )
    except ConfigurationError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    except KeyboardInterrupt:
        err.print("Interrupted: the batches keep running at the provider; poll again to ingest them.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        store.close()
    _print_batch_report(report, as_json)


# ----- recurring collection (jobs/watch.py) -----------------------------------------------------------


@app.command()
def watch(
    every: Annotated[
        str, typer.Option("--every", help="Time between cycles, start to start: 6h, 30m, 1h30m, 90s.")
    ] = "6h",
    once: Annotated[bool, typer.Option("--once", help="One cycle, then exit (for cron or a timer).")] = False,
    wait_lock: Annotated[
        bool,
        typer.Option(
            "--wait-lock", help="When another watch holds this database, wait for it (default: exit 1)."
        ),
    ] = False,
    batch: BatchOpt = False,
    fallback: FallbackOpt = True,
    llm: LlmOpt = None,
    out: OutOpt = None,
    concurrency: ConcurrencyOpt = None,
    allow_private_network: PrivateOpt = False,
    ignore_robots: Annotated[bool, typer.Option("--ignore-robots", help="Do not honour robots.txt.")] = False,
    audit: AuditOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Collect the saved sources and analyze what is new, every --every, never two at once."""
    from horizonscan.jobs.watch import WatchBusy, WatchError, parse_every
    from horizonscan.jobs.watch import watch as run_watch
    from horizonscan.llm.base import ConfigurationError

    settings = _settings(
        llm=llm,
        out=out,
        db=db,
        concurrency=concurrency,
        allow_private_network=allow_private_network or None,
        respect_robots=False if ignore_robots else None,
        audit=audit or None,
    )
    try:
        seconds = parse_every(every)
    except WatchError as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    _batch_flags(settings, batch=batch, wait=False, poll_every="1m", fallback=fallback)
    _check_out(settings.out)
    store = _open_store(settings.db, create=False)
    if not store.sources.list_sources():
        store.close()
        raise _fail("no saved sources to watch; add some with: horizonscan sources add URL|PATH", EXIT_USAGE)

    def show(cycle: Any) -> None:
        if as_json:
            print(_dumps(cycle.as_dict(), default=str), flush=True)
            return
        c = cycle.counts()
        err.print(
            f"cycle {cycle.number}: {len(cycle.collect.sources)} sources, {len(cycle.collect.new_articles)} "
            f"new articles, {len(cycle.collect.failed)} fetch failures; analyzed {c['analyzed']}, reused "
            f"{c['reused']}, failed {c['failed']}, skipped {c['skipped']}"
            + (f", {c['queued']} queued in provider batches" if batch else "")
            + f" ({cycle.seconds:.1f}s)",
            highlight=False,
            markup=False,
        )

    try:
        result = run_watch(
            store, settings, every=seconds, once=once, batch=batch, fallback=fallback,
            wait_lock=wait_lock, log=_log, on_cycle=show,
        )  # fmt: skip
    except WatchBusy as exc:
        raise _fail(str(exc), EXIT_FAILED) from exc
    except WatchError as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    except ConfigurationError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    finally:
        store.close()
    if result.interrupted:
        err.print("Interrupted during a cycle: finished articles are saved; the next cycle continues.")
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.stopped:
        err.print(f"Stopped after {result.cycles} cycle(s).")
        return
    last = result.last
    if last is not None and last.fatal:
        raise _fail(last.fatal, EXIT_CONFIG)
    if last is not None and last.failed:
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
    enqueue: EnqueueOpt = False,
    llm: LlmOpt = None,
    out: OutOpt = None,
    concurrency: ConcurrencyOpt = None,
    allow_private_network: PrivateOpt = False,
    ignore_robots: Annotated[bool, typer.Option("--ignore-robots", help="Do not honour robots.txt.")] = False,
    audit: AuditOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Collect article links from sources (and with --analyze, analyze them)."""
    from horizonscan.jobs.batch import run_batch
    from horizonscan.jobs.collect import run_collect
    from horizonscan.sources.inputs import Input

    settings = _settings(
        llm=llm,
        out=out,
        db=db,
        concurrency=concurrency,
        allow_private_network=allow_private_network or None,
        respect_robots=False if ignore_robots else None,
        audit=audit or None,
    )
    when = _parse_since(since)
    if analyze_:
        _check_out(settings.out)
    store = _open_store(settings.db)
    specs = list(sources or []) or [row.spec for row in store.sources.list_sources()]
    if not specs:
        store.close()
        raise _fail("no source given and none added; try: horizonscan sources add URL", EXIT_USAGE)
    if enqueue and analyze_:
        store.close()
        raise _fail(
            "--enqueue and --analyze exclude each other: workers analyze what is enqueued", EXIT_USAGE
        )
    report = asyncio.run(run_collect(store, settings, specs, origin_label=origin, since=when, limit=limit))
    if enqueue:  # collected articles are stored as pending: `horizonscan worker` analyzes them
        pending = _pending(store)
        store.close()
        if as_json:
            print(
                _dumps(
                    {**report.as_dict(), "enqueued": len(report.new_articles), "pending": pending},
                    indent=2,
                    default=str,
                )
            )
        else:
            err.print(
                f"{len(report.new_articles)} enqueued ({pending} pending in all); "
                "run `horizonscan worker` to analyze them."
            )
        raise typer.Exit(EXIT_FAILED if report.failed else EXIT_OK)
    summary = None
    if analyze_ and report.new_articles:
        from horizonscan.llm.base import ConfigurationError

        items = [Input(src, is_url="://" in src) for src in report.new_articles]
        try:
            summary = asyncio.run(
                run_batch(
                    store,
                    settings,
                    items,
                    show_progress=not as_json and sys.stdout.isatty() and sys.stderr.isatty(),
                    log=_log,
                )
            )
        except ConfigurationError as exc:
            store.close()
            raise _fail(str(exc), EXIT_CONFIG) from exc
    store.close()
    if as_json:
        data = report.as_dict()
        if summary is not None:
            data["analysis"] = {
                "summary": summary.as_dict(),
                "results": [r.model_dump() for r in summary.results],
            }
        print(_dumps(data, indent=2, default=str))
    else:
        for src in report.sources:
            state = (
                "not modified" if src.not_modified else f"{src.links} links, {src.new} new, {src.known} known"
            )
            err.print(
                f"{_term(src.source)} ({src.kind}{': ' + _term(src.title) if src.title else ''}): {state}",
                highlight=False,
                markup=False,
            )
            for url, reason in src.errors:
                err.print(f"  [red]FAILED[/red] {_m(url)}: {_m(reason)}", highlight=False)
        if summary is not None:
            s = summary.as_dict()
            err.print(
                f"analyzed {s['analyzed']}, reused {s['reused']}, failed {s['failed']}, "
                f"skipped {s['skipped']}",
                highlight=False,
            )
    if summary is not None and summary.fatal:
        raise _fail(summary.fatal, EXIT_CONFIG)
    if report.failed or (summary is not None and (summary.count("failed") or summary.count("skipped"))):
        raise typer.Exit(EXIT_FAILED)


# ----- workers (jobs/worker.py) -----------------------------------------------------------------

EnqueueOpt = Annotated[
    bool,
    typer.Option(
        "--enqueue",
        help="Only store the articles as pending and exit; `horizonscan worker` processes analyze them.",
    ),
]


def _pending(store: Any) -> int:
    return int(store.limits.pending())


def _enqueue(store: Any, settings: Any, items: Any, *, origin: Any, force: bool, as_json: bool) -> None:
    from horizonscan.jobs.worker import enqueue_inputs

    try:
        report = asyncio.run(enqueue_inputs(store, settings, items, origin=origin, force=force))
        pending = _pending(store)
    finally:
        store.close()
    if as_json:
        print(_dumps({**report.as_dict(), "pending": pending}, indent=2))
    else:
        for source, reason in [*report.failed, *report.skipped]:
            err.print(f"[red]NOT ENQUEUED[/red] {_m(source)}: {_m(_scrub(reason))}", highlight=False)
        err.print(
            f"{len(report.enqueued)} enqueued, {len(report.known)} already analyzed ({pending} pending in "
            "all); run `horizonscan worker` to analyze them.",
            highlight=False,
            markup=False,
        )
    if report.failed or report.skipped:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def worker(
    concurrency: ConcurrencyOpt = None,
    until_empty: Annotated[
        bool, typer.Option("--until-empty", help="Exit once nothing is pending (default: keep waiting).")
    ] = False,
    poll: Annotated[
        float, typer.Option("--poll", help="Seconds between looks at an empty queue.", min=0.01)
    ] = 1.0,
    corpus: Annotated[
        bool,
        typer.Option(
            "--corpus/--no-corpus",
            help="When the queue is empty and the corpus changed, run the corpus stage (stories, "
            "trends, pages; one worker at a time).",
        ),
    ] = True,
    pool: Annotated[
        str, typer.Option("--pool", help="Workers that share one --max-cost budget and one --rpm/--tpm.")
    ] = "default",
    llm: LlmOpt = None,
    out: OutOpt = None,
    rpm: Annotated[
        float | None,
        typer.Option("--rpm", help="Max LLM requests per minute, all workers of the pool together."),
    ] = None,
    tpm: Annotated[
        float | None,
        typer.Option("--tpm", help="Max LLM tokens per minute, all workers of the pool together."),
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", help="The pool stops starting calls past this many USD in all."),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", help="The pool stops starting calls past this many tokens in all."),
    ] = None,
    lease_seconds: Annotated[
        float | None,
        typer.Option(
            "--lease-seconds",
            help="How long a killed worker's articles wait before another takes them.",
            min=0.1,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Analyze articles flagged as too short, paywall or error page.")
    ] = False,
    audit: AuditOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyze pending articles (from `analyze --enqueue`, `collect --enqueue`); run any number, anywhere."""
    from horizonscan.jobs.worker import WorkerOptions, run_worker
    from horizonscan.llm.base import ConfigurationError

    settings = _settings(
        llm=llm, out=out, db=db, concurrency=concurrency, rpm=rpm, tpm=tpm, max_cost=max_cost,
        max_tokens=max_tokens, lease_seconds=lease_seconds, audit=audit or None,
    )  # fmt: skip
    if corpus:
        _check_out(settings.out)
    store = _open_store(settings.db, create=False)  # a mistyped --db is said, not waited on forever
    options = WorkerOptions(
        concurrency=concurrency,
        until_empty=until_empty,
        poll_seconds=poll,
        corpus=corpus,
        force=force,
        pool=pool,
    )

    def printer(result: Any) -> None:
        err.print(
            f"{result.status:<11} {_term(result.source)}  {_term(result.title or '')}",
            highlight=False,
            markup=False,
        )

    try:
        report = asyncio.run(
            run_worker(store, settings, options, log=_log, on_result=None if as_json else printer)
        )
    except ConfigurationError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    finally:
        store.close()
    summary = report.summary
    if as_json:
        print(_dumps(report.as_dict(), indent=2))
    else:
        s = summary.as_dict()
        err.print(
            f"worker {report.owner}: {s['analyzed']} analyzed, {s['reused']} reused, {s['failed']} failed, "
            f"{s['skipped']} skipped in {s['seconds']:.1f}s; {s['llm_calls']} LLM calls, ${s['cost_usd']:.4f}"
            + (f" (pool: ${report.pool_spent:.4f})" if report.pool_spent is not None else "")
            + f"; corpus stage run {report.corpus_runs}x.",
            highlight=False,
            markup=False,
        )
        if summary.stopped and not summary.fatal:
            err.print(f"[yellow]Stopped:[/yellow] {_m(summary.stopped)}", highlight=False)
    if summary.interrupted:
        err.print("Interrupted: leases released; pending articles wait for the next worker.")
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.fatal:
        raise _fail(summary.fatal, EXIT_CONFIG)
    if summary.stopped:
        raise typer.Exit(EXIT_BUDGET)


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
    row = store.sources.add_source(source, label=label)
    store.close()
    err.print(f"source {row.id}: {_term(row.spec)}", highlight=False, markup=False)


@sources_app.command("list")
def sources_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List the recurring sources."""
    settings = _settings(db=db)
    store = _open_store(settings.db, create=False)
    rows = store.sources.list_sources()
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
            f"{d['id']:>4}  {_term(d['source'])}  [{d['kind'] or '?'}] {_term(d['label'] or '')}  "
            f"seen {d['links_seen']}  checked {d['last_checked'] or 'never'}"
        )


@sources_app.command("remove")
def sources_remove(
    key: Annotated[str, typer.Argument(help="Source id or URL/path.")], db: DbOpt = None
) -> None:
    """Remove a recurring source (its articles stay)."""
    settings = _settings(db=db)
    store = _open_store(settings.db, create=False)
    removed = store.sources.remove_source(key)
    store.close()
    if not removed:
        raise _fail(f"no source {key!r}; see: horizonscan sources list", EXIT_USAGE)


@app.command()
def extract(
    files: Annotated[
        list[Path], typer.Argument(help="HTML, PDF, Markdown or text files.", show_default=False)
    ],
) -> None:
    """Print the extracted text and metadata of files, one JSON object per line (no LLM)."""
    from horizonscan.extract import ExtractionError, extract_file

    max_bytes = _settings().max_file_bytes()
    failed = 0
    for path in files:
        try:
            doc = extract_file(path, max_bytes=max_bytes)
        except ExtractionError as exc:
            failed += 1
            err.print(f"[red]FAILED[/red] {_m(path)}: {_m(exc)}", highlight=False)
            print(_dumps({"path": str(path), "error": str(exc)}))
            continue
        print(
            _dumps(
                {
                    "path": str(path),
                    "url": doc.url,
                    "title": doc.title,
                    "author": doc.author,
                    "date": doc.date,
                    "language": doc.language,
                    "text": doc.text,
                },
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
    store = _open_store(settings.db, create=False)
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
            doc = extract_file(Path(article), max_bytes=settings.max_file_bytes())
        except ExtractionError as exc:
            store.close()
            raise _fail(f"{article}: {exc}", EXIT_USAGE) from exc
        sig = build_signatures([doc.text], [doc.language], embedder=embedder)[0]
    found = corpus.neighbours(sig, k, exclude_id=exclude)
    views = {v.id: v for v in store.views.articles(only_analyzed=False, article_ids=[a for a, _ in found])}
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
        print(_dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['score']:.2f}  #{r['id']:<5} [{r['language'] or '?'}] {_term(r['title'] or r['source'])}")


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
    """Group articles that report the same event, across languages and sources, and list the stories.

    A listing writes no page: only `--synthesize`, when it made new story titles, rewrites the
    story pages and the index."""
    from horizonscan.jobs.corpus import list_stories, synthesize_stories

    settings = _settings(db=db, out=out, llm=llm, story_threshold=threshold)
    if synthesize:
        _check_out(settings.out)
    store = _open_store(settings.db, create=False)
    made = 0
    if synthesize:
        from horizonscan.llm.base import ConfigurationError

        try:
            made = asyncio.run(synthesize_stories(store, settings, log=_log))
        except ConfigurationError as exc:
            store.close()
            raise _fail(str(exc), EXIT_CONFIG) from exc
        err.print(f"{made} stories synthesized", highlight=False)
    listed = list_stories(store, settings, single=all_, publish=made > 0, log=_log)
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
        print(_dumps(data, indent=2))
        return
    for d in data:
        print(f"story {d['id']}: {_term(d['title'])} ({len(d['articles'])} articles)")
        for a in d["articles"]:
            print(
                f"    #{a['id']:<5} [{a['language'] or '?'}] {_term(a['title'] or '')}  "
                f"{_term(a['url'] or a['source'])}"
            )


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

    try:
        raw = sys.stdin.buffer.read() if str(pairs) == "-" else pairs.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {pairs}: {exc.strerror}", EXIT_USAGE) from exc
    try:
        lines = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(
            f"{pairs}: not UTF-8 (line {line}, byte {exc.start}); JSON lines must be UTF-8: "
            "save the file again as UTF-8",
            EXIT_USAGE,
        ) from exc
    good: list[str] = []
    bad = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            parse_pair_line(line, n)
        except ValueError as exc:
            bad += 1
            err.print(f"[red]error[/red] {_m(exc)}", highlight=False)
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
            f"[{done[0]}/{total}] {result.status:<11} {_term(result.source)}  {_term(what)}",
            highlight=False,
            markup=False,
        )

    return echo


@app.command()
def usage(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """LLM calls, tokens and estimated cost, by model."""
    settings = _settings(db=db)
    store = _open_store(settings.db, create=False)
    rows = store.ledger.usage()
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
            _m(r["provider"]),
            _m(r["model"]),
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


@app.command("migrate-db")
def migrate_db(
    src: Annotated[str, typer.Argument(help="The database to copy: an SQLite file or a postgresql:// URL.")],
    dst: Annotated[str, typer.Argument(help="An empty (or new) database to copy into: URL or SQLite file.")],
    batch: Annotated[int, typer.Option("--batch", min=1, help="Rows per insert.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Copy a whole corpus into another database (e.g. SQLite to PostgreSQL), then verify the
    row counts of every table. The destination must be empty; the source is not changed."""
    from horizonscan.store.copy import copy_database
    from horizonscan.store.db import DatabaseError, MissingDatabase, shown

    try:
        counts = copy_database(src, dst, batch=batch)
    except MissingDatabase as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    except DatabaseError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    if as_json:
        rows = [{"table": c.table, "source": c.source, "destination": c.destination} for c in counts]
        print(json.dumps({"source": shown(src), "destination": shown(dst), "tables": rows}, indent=2))
        return
    for c in counts:
        print(f"{c.table:<22} {c.source:>9} → {c.destination:>9}")
    total = sum(c.destination for c in counts)
    err.print(f"copied {total} rows from {shown(src)} to {shown(dst)}; every count matches", markup=False)


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
    store = _open_store(settings.db, create=False)

    text = do_export(store.views.articles(), fmt, output, curation=store.curation.marks())
    store.close()
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def publish(
    out: OutOpt = None,
    db: DbOpt = None,
) -> None:
    """Rewrite every page, story page and the index from the database (no LLM call)."""
    from horizonscan.jobs.corpus import publish_corpus

    settings = _settings(db=db, out=out)
    store = _open_store(settings.db, create=False)
    if not store.analyses.has_analyses():
        store.close()
        raise _fail(
            f"nothing to publish: the database {_shown_db(settings.db)} has no analyses, and the pages in "
            f"{settings.out} were left as they are; run `horizonscan analyze` first (or give --db)",
            EXIT_FAILED,
        )
    _check_out(settings.out)
    published = publish_corpus(store, settings, log=_log)
    store.close()
    err.print(
        f"{len(published.pages)} pages, {len(published.stories)} stories: {_term(published.index)}",
        highlight=False,
        markup=False,
    )


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
    from horizonscan.redact import redact_url, scrub

    keys = {k: ("set" if os.environ.get(k) else "not set") for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    data["OPENAI_BASE_URL"] = redact_url(os.environ.get("OPENAI_BASE_URL"))
    data["ANTHROPIC_BASE_URL"] = redact_url(os.environ.get("ANTHROPIC_BASE_URL"))
    if as_json:
        print(
            scrub(
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
        )
        return
    for k, v in data.items():
        print(scrub(f"{k:22} = {v!r}" + (f"   ({origin[k]})" if k in origin else "")))
    for k, v in keys.items():
        print(f"{k:22} : {v}")


@app.command()
def logs(
    article: Annotated[
        str | None,
        typer.Argument(
            help="Article id, source (file or URL) or text hash; none: the latest calls.", show_default=False
        ),
    ] = None,
    last: Annotated[int, typer.Option("--last", "-n", help="Without ARTICLE: how many calls.")] = 10,
    revalidate: Annotated[
        bool,
        typer.Option(
            "--revalidate",
            help="Re-parse and re-check each stored answer with today's validation (no LLM call).",
        ),
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log: each LLM call with its prompt and raw answer (kept when run with --audit)."""
    from horizonscan.jobs.audit import NoSuchArticle, entries

    settings = _settings(db=db)
    store = _open_store(settings.db, create=False)
    try:
        rows = entries(store, article, last=max(1, last), recheck=revalidate)
    except NoSuchArticle as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    finally:
        store.close()
    if as_json:
        print(_dumps(rows, indent=2))
        return
    if not rows:
        err.print("No LLM calls recorded" + (f" for {_term(article)}." if article else "."), markup=False)
        return
    for r in rows:
        print(
            f"=== call {r['id']}  {r['created_at']}  {_term(r['provider'])}:{_term(r['model'])}  "
            f"{r['purpose']} attempt {r['attempt']}  {r['status']}"
            + (f"  ({_term(r['error'])})" if r["error"] else "")
            + f"  {r['input_tokens']}+{r['output_tokens']} tokens  ${r['cost_usd']:.4f}"
        )
        if r["prompt"] is None and r["response"] is None:
            print("(no prompt or answer kept: run with --audit, or set audit = true, to keep them)")
        else:
            print("--- prompt ---")
            print(_term(r["prompt"] or "", keep_newlines=True))
            print("--- response ---")
            print(_term(r["response"] or "", keep_newlines=True))
        check = r.get("revalidation")
        if check is not None:
            if not check["checked"]:
                print(f"--- revalidation: not checked: {_term(check['problem'])}")
            elif not check["valid"]:
                print(f"--- revalidation: INVALID today: {_term(check['problem'])}")
            else:
                found = check["evidence_found"]
                print(
                    f"--- revalidation: valid today; {check['items']} items"
                    + (f", evidence found for {found}" if found is not None else "")
                )
                for miss in check["evidence_not_found"]:
                    print(
                        f"    not found: {miss['kind']} {_term(miss['name'])!s}: "
                        f"{_term(miss['evidence'])} ({_term(miss.get('note') or '')})"
                    )


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; any but loopback requires a token."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    llm: LlmOpt = None,
    db: DbOpt = None,
) -> None:
    """Browse, search, curate and ask the corpus in a web browser (JSON API under /api).

    Bound to anything but loopback, every request needs a token: HORIZONSCAN_TOKEN, or one
    generated and printed here.
    """
    import os
    import socket

    import uvicorn

    from horizonscan.web.app import create_app
    from horizonscan.web.security import is_loopback, new_token

    settings = _settings(db=db, llm=llm)
    store = _open_store(settings.db, create=False)
    token = None
    from_env = False
    if not is_loopback(host):
        token = os.environ.get("HORIZONSCAN_TOKEN") or None
        from_env = token is not None
        if token is not None and len(token) < 16:
            store.close()
            raise _fail("HORIZONSCAN_TOKEN must be at least 16 characters", EXIT_USAGE)
        token = token or new_token()
    web = create_app(store, settings, token=token)
    shown = host if host not in ("0.0.0.0", "::", "") else socket.gethostname()
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    if token is None:
        err.print(f"horizonscan: {_term(_shown_db(settings.db))} at {url}  (Ctrl-C to stop)", markup=False)
    elif from_env:
        err.print(f"horizonscan at {url}?token=$HORIZONSCAN_TOKEN  (Ctrl-C to stop)", markup=False)
    else:
        err.print(
            f"horizonscan at {url}?token={token}\nEvery request needs this token (or set HORIZONSCAN_TOKEN). "
            "Ctrl-C to stop.",
            highlight=False,
            markup=False,
        )
    try:
        uvicorn.run(web, host=host, port=port, log_level="warning", server_header=False)
    finally:
        store.close()


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in any language.", show_default=False)],
    llm: LlmOpt = None,
    k: Annotated[int, typer.Option("--k", min=1, max=20, help="How many articles to answer from.")] = 8,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the corpus: one LLM call over the most relevant articles, every claim citing them.

    When the articles do not hold the answer, it says so instead of answering from the model's
    own knowledge; when nothing relevant is found, no call is made.
    """
    from horizonscan.analysis.analyzer import make_analyzer
    from horizonscan.llm.base import ConfigurationError
    from horizonscan.store.search import SearchIndex
    from horizonscan.web.asking import ask_corpus

    if not question.strip():
        raise _fail("give a question", EXIT_USAGE)
    settings = _settings(db=db, llm=llm)
    store = _open_store(settings.db, create=False)
    try:
        client = make_analyzer(settings, log=_log).client
    except ConfigurationError as exc:
        store.close()
        raise _fail(str(exc), EXIT_CONFIG) from exc
    try:
        result = asyncio.run(
            ask_corpus(store, SearchIndex(store.engine), settings, question.strip()[:1000], k=k,
                       client_factory=lambda _s: client)
        )  # fmt: skip
    finally:
        store.close()
    if as_json:
        print(_dumps(result.model_dump(), indent=2))
    else:
        if result.error:
            err.print(f"The answer failed: {_term(_scrub(result.error))}", highlight=False, markup=False)
        elif not result.in_corpus:
            print("The corpus does not answer this question." if result.sources else
                  "No analyzed article matches this question (no LLM call made).")  # fmt: skip
        else:
            for n, claim in enumerate(result.claims, 1):
                cites = "".join(f"[{s}]" for s in claim.sources)
                print(f"{n}. {_term(claim.text)} {cites}")
        if result.sources:
            print("\nSources:")
            for s in result.sources:
                where = s.url or f"article {s.article_id}"
                meta = f"{s.date or '?'}, {s.language or '?'}"
                print(f"[{s.number}] {_term(s.title)} ({meta}) #{s.article_id} {_term(where)}")
    if result.error:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def site(
    out: Annotated[Path, typer.Argument(help="Folder to write the site into (e.g. docs/ for GitHub Pages).")],
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="Where the site will be published (absolute links in the feed)."),
    ] = None,
    search: Annotated[
        bool, typer.Option("--search/--no-search", help="Build the client-side search index (pagefind).")
    ] = True,
    db: DbOpt = None,
) -> None:
    """Write a static site: every page as HTML, an Atom feed of new analyses, client-side search.

    Hidden articles and items are left out; stars and notes are shown. Ready for GitHub Pages.
    """
    from horizonscan.web.static_site import SiteError, build_site

    settings = _settings(db=db)
    store = _open_store(settings.db, create=False)
    try:
        built = build_site(store, settings, out, base_url=base_url, search=search, log=_log)
    except SiteError as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    finally:
        store.close()
    err.print(
        f"{built.articles} article pages, {built.stories} stories, {built.trends} trends"
        + (", search index" if built.searchable else "")
        + f": {_term(out / 'index.html')}",
        highlight=False,
        markup=False,
    )


# ----- trends (trends/, publish/trends.py) ---------------------------------------------------

trends_app = typer.Typer(
    help="Trends: items clustered across articles, with a life cycle, a radar and interpretations.",
    invoke_without_command=True,
)
app.add_typer(trends_app, name="trends")

_STATUS_STYLE = {
    "strong": "green", "emerging": "dark_orange", "weak": "cyan", "fading": "magenta", "noise": "dim",
}  # fmt: skip
_MOVED_MARK = {2: "★ new", 1: "▲ in", -1: "▼ out", 0: ""}


def _naive(when: Any) -> Any:
    """Trend dates are naive UTC."""
    from datetime import UTC

    return when.astimezone(UTC).replace(tzinfo=None) if when is not None else None


def _trend_settings(settings: Any, **overrides: Any) -> Any:
    """Trend parameters: the config file's `[trends]` table < HORIZONSCAN_TRENDS_* < flags."""
    from horizonscan.trends import TrendConfigError, load_trend_settings

    try:
        return load_trend_settings(settings, **overrides)
    except TrendConfigError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc


def _split_choice(values: list[str] | None, allowed: tuple[str, ...], option: str) -> set[str] | None:
    chosen = {v.strip().lower() for raw in values or [] for v in raw.split(",") if v.strip()}
    wrong = sorted(chosen - set(allowed))
    if wrong:
        raise _fail(f"{option} {', '.join(wrong)}: use one of {', '.join(allowed)}", EXIT_USAGE)
    return chosen or None


@trends_app.callback()
def trends(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="Only trends seen on or after DATE (e.g. 2024-03-01).")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="noise, weak, emerging, strong, fading (repeat or comma-separate)."),
    ] = None,
    dimension: Annotated[
        list[str] | None,
        typer.Option(
            "--dimension",
            help="social, technological, economic, environmental, political, values, unclassified.",
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Statuses as of DATE [default: the newest article].")
    ] = None,
    ring: Annotated[str, typer.Option("--ring", help="Radar rings: status or horizon.")] = "status",
    period_days: Annotated[
        int | None, typer.Option("--period-days", min=1, max=366, help="Period length [default 7: weeks].")
    ] = None,
    recluster: Annotated[
        bool, typer.Option("--recluster", help="Re-cluster every item (trend ids are kept by overlap).")
    ] = False,
    chart_format: Annotated[str, typer.Option("--chart-format", help="svg or png.")] = "svg",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the trends index, trend pages and radar into DIR/trends/."),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the trends (and with --out, write their pages, charts and the radar)."""
    if ctx.invoked_subcommand is not None:
        return
    from horizonscan.models import TREND_STATUSES, Dimension
    from horizonscan.publish.trends import write_trend_pages
    from horizonscan.trends import (
        cached_interpretation,
        filter_trends,
        load_overview,
        radar,
        rank,
        refresh_trends,
    )

    statuses = _split_choice(status, TREND_STATUSES, "--status")
    dims = _split_choice(dimension, (*(d.value for d in Dimension), "unclassified"), "--dimension")
    if ring not in ("status", "horizon"):
        raise _fail("--ring: use status or horizon", EXIT_USAGE)
    if chart_format not in ("svg", "png"):
        raise _fail("--chart-format: use svg or png", EXIT_USAGE)
    ring_by: Any = ring  # checked above: the Literal the radar wants
    fmt: Any = chart_format
    when = _naive(_parse_since(since))
    ref = _naive(_parse_since(as_of))
    settings = _settings(db=db, out=out)
    ts = _trend_settings(settings, period_days=period_days)
    if out is not None:
        _check_out(out)
    store = _open_store(settings.db, create=False)
    try:
        refresh_trends(store, settings, trend_settings=ts, recluster=recluster, log=_log)
        ov = load_overview(store, ts, as_of=ref, with_members=as_json or out is not None,
                           embedder_spec=settings.embedder if out is not None else None)  # fmt: skip
        ranked = rank(ov.trends)
        shown = filter_trends(ranked, since=when, status=statuses, dimension=dims)
        index = None
        if out is not None:
            view = radar(ov.model_copy(update={"trends": shown}), ring_by=ring_by, limit=ts.radar_max)
            interps = {t.id: i for t in shown if (i := cached_interpretation(store, t.id)) is not None}
            parts = (
                f"since {since}" if since else "",
                f"status {', '.join(sorted(statuses))}" if statuses else "",
                f"dimension {', '.join(sorted(dims))}" if dims else "",
            )
            index = write_trend_pages(settings.out, ov, shown, view, ranked=shown, interpretations=interps,
                                      chart_format=fmt, filters="; ".join(p for p in parts if p))  # fmt: skip
    finally:
        store.close()
    if as_json:
        data = json.loads(ov.model_copy(update={"trends": shown}).model_dump_json())
        print(_dumps(data, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Trends as of {ov.as_of.date()} ({ov.period})")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("trend", max_width=50, overflow="ellipsis", no_wrap=True)
    for name in ("status", "dimension", "horizon"):
        table.add_column(name, no_wrap=True)
    for name in ("articles", "sources"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("first seen", "last seen", "moved"):
        table.add_column(name, no_wrap=True)
    for t in shown:
        style = _STATUS_STYLE[t.status]
        table.add_row(
            str(t.id), _m(t.name), f"[{style}]{t.status}[/{style}]", _m(t.dimension or "—"),
            _m(t.horizon or "—"), str(t.documents), str(t.sources), str(t.first_seen.date()),
            str(t.last_seen.date()), _MOVED_MARK[t.moved],
        )  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    if not shown:
        err.print("No trend matches." if ov.trends else "No trends yet: analyze some articles first.")
    if index is not None:
        err.print(f"Trend pages: {_term(index)}", highlight=False, markup=False)


@trends_app.command("interpret")
def trends_interpret(
    trend_id: Annotated[int, typer.Argument(help="A trend id (see `horizonscan trends`).")],
    llm: LlmOpt = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask again even if cached.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also rewrite DIR/trends/trend-ID.md with it.")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Interpret a trend: one LLM call over its recent members, every point citing them.

    No call when the evidence is too thin (fewer than 3 articles or a single source); cached
    until the trend's members change."""
    from horizonscan.llm.base import ConfigurationError
    from horizonscan.trends import TrendNotFound, interpret, refresh_trends

    settings = _settings(db=db, llm=llm, out=out)
    ts = _trend_settings(settings)
    store = _open_store(settings.db, create=False)
    try:
        refresh_trends(store, settings, trend_settings=ts, log=_log)
        result = asyncio.run(
            interpret(store, settings, trend_id, trend_settings=ts, refresh=refresh, log=_log)
        )
        if out is not None and not result.thin:
            _write_one_trend(store, settings, ts, trend_id, result)
    except TrendNotFound as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    except ConfigurationError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    finally:
        store.close()
    if as_json:
        print(_dumps(json.loads(result.model_dump_json()), indent=2))
    else:
        _print_interpretation(result)
    if result.error:
        raise typer.Exit(EXIT_FAILED)


def _write_one_trend(store: Any, settings: Any, ts: Any, trend_id: int, result: Any) -> None:
    from horizonscan.publish.site import write_if_changed
    from horizonscan.publish.trends import ArticleLinks, render_trend, trend_file
    from horizonscan.trends import trend_detail

    found = trend_detail(store, trend_id, ts, embedder_spec=settings.embedder)
    if found is None:
        return
    folder = settings.out / "trends"
    folder.mkdir(parents=True, exist_ok=True)
    charts = sorted((folder / "charts").glob(f"trend-{trend_id}-*"))
    page = render_trend(found[0], chart=charts[-1].name if charts else None, links=ArticleLinks(settings.out),
                        interpretation=result)  # fmt: skip
    write_if_changed(folder / trend_file(trend_id), page)


def _print_points(title: str, points: Any) -> None:
    if not points:
        return
    print(f"\n{title}")
    for p in points:
        refs = "".join(f"[{n}]" for n in p.cites)
        extra = f" (removed: {', '.join(map(str, p.dropped))})" if p.dropped else ""
        head = f"T{p.trend_id}: " if p.trend_id is not None else ""
        print(f"  - {head}{_term(p.text)} {refs}{extra}")


def _print_sources(sources: Any) -> None:
    if sources:
        print("\nSources:")
        for s in sources:
            where = s.url or f"article {s.article_id}"
            day = s.date.date() if s.date else "?"
            print(f"  [{s.number}] {_term(s.title)} ({day}, {_term(s.site or '?')}) {_term(where)}")


def _print_interpretation(result: Any) -> None:
    from horizonscan.publish.trends import SECTION_TITLES

    t = result.trend
    print(f"Trend {t.id}: {_term(t.name)} — {t.status}, {t.documents} articles from {t.sources} sources")
    if result.thin:
        print(_term(result.thin))
        return
    if result.error:
        err.print(f"The interpretation failed: {_term(_scrub(result.error))}", highlight=False, markup=False)
        return
    for key, title in SECTION_TITLES.items():
        _print_points(title, result.sections.get(key))
    if result.caveat:
        print(f"\nCaveat: {_term(result.caveat)}")
    _print_sources(result.sources)
    if result.cached:
        err.print("(cached: the trend's members have not changed; --refresh asks again)")


@app.command()
def review(
    period: Annotated[str, typer.Option("--period", help="2024, 2024-Q1, 2024-03 or 2024-W07.")],
    llm: LlmOpt = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask again even if cached.")] = False,
    out: OutOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A periodic review page: counts, new, rising and fading trends, new stories, and a short
    narrative citing its articles (one LLM call)."""
    from horizonscan.llm.base import ConfigurationError
    from horizonscan.publish.trends import write_review
    from horizonscan.trends import refresh_trends
    from horizonscan.trends import review as do_review
    from horizonscan.trends.dates import parse_review_period

    try:
        parse_review_period(period)
    except ValueError as exc:
        raise _fail(str(exc), EXIT_USAGE) from exc
    settings = _settings(db=db, llm=llm, out=out)
    ts = _trend_settings(settings)
    _check_out(settings.out)
    store = _open_store(settings.db, create=False)
    try:
        refresh_trends(store, settings, trend_settings=ts, log=_log)
        report = asyncio.run(do_review(store, settings, period, trend_settings=ts, refresh=refresh, log=_log))
    except ConfigurationError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    finally:
        store.close()
    path = write_review(settings.out, report)
    if as_json:
        print(_dumps({**json.loads(report.model_dump_json()), "page": str(path)}, indent=2))
    else:
        c = report.counts
        print(
            f"Review of {report.period}: {c.get('documents', 0)} articles from {c.get('sources', 0)} "
            f"sources; {c.get('new_trends', 0)} new, {c.get('rising_trends', 0)} rising, "
            f"{c.get('fading_trends', 0)} fading trends; {len(report.new_stories)} new stories."
        )
        if report.headline:
            print(f"\n{_term(report.headline)}")
        _print_points("Narrative", report.narrative)
        _print_points("To watch", report.watch)
        if report.note:
            print(f"\n{_term(_scrub(report.note))}")
        err.print(f"Page: {_term(path)}", highlight=False, markup=False)
    if report.note and report.counts.get("documents"):
        raise typer.Exit(EXIT_FAILED)  # there was something to narrate, and the call failed


@app.command()
def explore(
    topic: Annotated[str, typer.Argument(help="A topic, in any language.", show_default=False)],
    llm: LlmOpt = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask again even if cached.")] = False,
    out: OutOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The most relevant items, articles and trends for a topic (meaning and keywords), and a
    digest citing them (one LLM call), written as a page."""
    from horizonscan.llm.base import ConfigurationError
    from horizonscan.publish.trends import write_explore
    from horizonscan.similarity.embed import get_embedder
    from horizonscan.trends import explore as do_explore
    from horizonscan.trends import refresh_trends

    if not topic.strip():
        raise _fail('give a topic, e.g. horizonscan explore "heat pumps"', EXIT_USAGE)
    settings = _settings(db=db, llm=llm, out=out)
    ts = _trend_settings(settings)
    _check_out(settings.out)
    store = _open_store(settings.db, create=False)
    try:
        refresh_trends(store, settings, trend_settings=ts, log=_log)
        embedder = get_embedder(settings.embedder)
        report = asyncio.run(
            do_explore(store, settings, topic[:300], trend_settings=ts, embedder=embedder, refresh=refresh,
                       log=_log)
        )  # fmt: skip
    except ConfigurationError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from exc
    finally:
        store.close()
    path = write_explore(settings.out, report)
    if as_json:
        print(_dumps({**json.loads(report.model_dump_json()), "page": str(path)}, indent=2))
    else:
        print(
            f"Exploring “{_term(report.topic)}”: {len(report.items)} items, {len(report.sources)} "
            f"articles, {len(report.trends)} trends."
        )
        _print_points("Digest", report.summary)
        _print_points("Changes", report.signals)
        _print_points("Open questions", report.questions)
        if report.note:
            print(f"\n{_term(_scrub(report.note))}")
        _print_sources(report.sources)
        err.print(f"Page: {_term(path)}", highlight=False, markup=False)
    if report.note and report.sources:
        raise typer.Exit(EXIT_FAILED)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("Interrupted.")
        sys.exit(EXIT_INTERRUPTED)
