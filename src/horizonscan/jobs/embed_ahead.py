"""Embedding ahead: each stored document and each landed analysis is embedded in a helper
process while the batch still waits on the provider.

Why: the corpus stage after the last answer (stories, closest articles, trends, story items)
needs every article's signature and every item's vector. Embedded there, 120 articles and their
~1 000 items cost seconds after the last answer; embedded here, the provider's latency hides
them, and the corpus stage finds them stored (`similarity.corpus.add_signatures`,
`similarity.cache.CachedEmbedder`).

Why a process and not a thread: the embedder is CPU-bound Python and numpy; in a thread it holds
the GIL in turns with the event loop that feeds the provider, and each answer then waits for it
(the batch's throughput at concurrency 32 fell by half). The helper process opens its own
connection to the same database (a plain subprocess, `python -m horizonscan.jobs.embed_ahead`, fed
JSON lines by a writer thread so the event loop never blocks on its pipe), embeds what has queued
up since its last round in one call, and writes the vectors there. It is a head start only:
whatever it did not do (a crash, an interrupted run) the corpus stage does, exactly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from horizonscan.models import Analysis, Document
from horizonscan.store import Store

MAX_BATCH = 64  # queued tasks (a document, or one analysis's items) merged into one round


@dataclass
class _Work:
    docs: list[tuple[str, str, str | None]] = field(default_factory=list)  # hash, text, language
    items: list[str] = field(default_factory=list)  # "name: description"


@dataclass(frozen=True)
class _Done:
    """One round of the helper (one JSON line on its stdout): how many tasks it took, what it
    stored, and any error."""

    tasks: int
    docs: int
    items: int
    seconds: float
    cpu: float
    error: str | None = None


def _database_of(store: Store) -> str | None:
    """What the helper opens: the SQLite file or the server URL (None: an in-memory database,
    which another process cannot see)."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        return None if url.database in (None, "", ":memory:") else url.database
    return url.render_as_string(hide_password=False)


class EmbedAhead:
    """The background embedder of one run; `document` and `landed` queue work, `drain` waits
    until it is stored, `close` ends the helper."""

    def __init__(self, store: Store, embedder: str, *, log: Callable[[str], None] | None = None) -> None:
        self._db = _database_of(store)
        self._spec = embedder
        self.log = log
        self.docs = 0  # signatures stored by this run
        self.items = 0  # item texts embedded by this run
        self.seconds = 0.0  # time the helper spent embedding and storing
        self.cpu = 0.0  # the helper's CPU time for it
        self._process: subprocess.Popen[bytes] | None = None
        self._outbox: queue.Queue[_Work | None] = queue.Queue()  # the writer thread sends these
        self._lock = threading.Condition()
        self._sent = 0
        self._acknowledged = 0
        self._ended = False  # the helper's output has ended (it exited or died)
        self._closed = False

    def document(self, doc: Document) -> None:
        """A document is stored: its signature can be computed now."""
        self._submit(_Work(docs=[(doc.text_hash, doc.text, doc.language)]))

    def landed(self, analysis: Analysis) -> None:
        """An analysis is saved (or reused): its items' vectors can be computed now."""
        if analysis.items:
            self._submit(_Work(items=[f"{i.name}: {i.description}" for i in analysis.items]))

    def _submit(self, work: _Work) -> None:
        """Never blocks the event loop: a thread writes to the helper's pipe."""
        if self._closed or self._db is None:
            return
        if self._process is None:
            # A plain subprocess, not multiprocessing: nothing of the caller's script is re-run.
            self._process = subprocess.Popen(
                [sys.executable, "-m", "horizonscan.jobs.embed_ahead", self._db, self._spec],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            threading.Thread(target=self._write, name="embed-ahead-writer", daemon=True).start()
            threading.Thread(target=self._read, name="embed-ahead-reader", daemon=True).start()
        with self._lock:
            self._sent += 1
        self._outbox.put(work)

    def _write(self) -> None:
        assert self._process is not None and self._process.stdin is not None
        pipe = self._process.stdin
        try:
            while (work := self._outbox.get()) is not None:
                pipe.write(json.dumps({"docs": work.docs, "items": work.items}).encode() + b"\n")
                pipe.flush()
            pipe.close()
        except OSError:  # the helper died: `_read` sees its output end
            return

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            try:
                done = _Done(**json.loads(line))
            except (ValueError, TypeError):
                continue
            with self._lock:
                self._acknowledged += done.tasks
                self.docs += done.docs
                self.items += done.items
                self.seconds += done.seconds
                self.cpu += done.cpu
                self._lock.notify_all()
            if done.error is not None and self.log is not None:
                self.log(f"embedding ahead: {done.error}; the corpus stage embeds the rest")
        with self._lock:
            self._ended = True
            self._lock.notify_all()

    async def drain(self) -> None:
        """Wait until everything queued is embedded and stored (or the helper has died)."""
        if self._process is not None:
            await asyncio.to_thread(self._wait)

    def _wait(self) -> None:
        with self._lock:
            self._lock.wait_for(lambda: self._acknowledged >= self._sent or self._ended)
            left = self._sent - self._acknowledged
        if left > 0 and self.log is not None:
            self.log("embedding ahead stopped early; the corpus stage embeds the rest")

    def close(self) -> None:
        """End the helper: at once when work is left (an interrupted run does not wait for
        it), after its last round otherwise."""
        self._closed = True
        process = self._process
        if process is None:
            return
        with self._lock:
            idle = self._acknowledged >= self._sent
        self._outbox.put(None)  # the writer closes the pipe: the helper ends after its round
        if idle:
            with contextlib.suppress(subprocess.TimeoutExpired):  # then it is terminated below
                process.wait(timeout=10)
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


# ----- the helper process ------------------------------------------------------------------------
def _rounds(lines: Iterator[bytes]) -> Iterator[tuple[_Work, int]]:
    """Merge what has queued up on stdin into rounds of at most MAX_BATCH tasks."""
    pending: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:
        for line in lines:
            pending.put(line)
        pending.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        taken = [pending.get()]
        while len(taken) < MAX_BATCH and taken[-1] is not None:
            try:
                taken.append(pending.get_nowait())
            except queue.Empty:
                break
        work = _Work()
        tasks = 0
        for line in taken:
            if line is None:
                continue
            data = json.loads(line)
            work.docs += [(h, t, lang) for h, t, lang in data["docs"]]
            work.items += data["items"]
            tasks += 1
        if tasks:
            yield work, tasks
        if taken[-1] is None:
            return


def _helper(db: str, spec: str) -> None:
    """The helper's loop: embed each round's documents and items, store them, report a line."""
    from horizonscan.similarity.cache import CachedEmbedder
    from horizonscan.similarity.corpus import add_signatures
    from horizonscan.similarity.embed import get_embedder

    store = Store.open(db, create=False)
    embedder = get_embedder(spec)
    cached = CachedEmbedder(embedder, store)
    out = sys.stdout
    try:
        for work, tasks in _rounds(iter(sys.stdin.buffer.readline, b"")):
            started, cpu = time.perf_counter(), time.process_time()
            docs = items = 0
            error = None
            try:
                if work.docs:
                    docs = add_signatures(store, work.docs, embedder=embedder)
                if work.items:
                    todo = cached.missing(work.items)
                    if todo:
                        cached.embed(todo)
                        items = len(todo)
            except Exception as exc:  # a head start only: the corpus stage redoes what failed here
                error = f"{type(exc).__name__}: {exc}"
            done = _Done(tasks, docs, items, time.perf_counter() - started, time.process_time() - cpu, error)
            out.write(json.dumps(asdict(done)) + "\n")
            out.flush()
    finally:
        store.close()


if __name__ == "__main__":
    _helper(sys.argv[1], sys.argv[2])
