"""Article leases: two runs (or workers) never pay for the same article at the same time.

A lease is a row-level hold in the database (`articles.lease_owner`, `lease_until`) taken before
any paid call and renewed while the holder works; a holder that dies stops renewing, so its
leases expire, and one that died on this machine is noticed at once by its process id.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from horizonscan.models import Analysis, Document
from horizonscan.store import Store


def lease_owner(run_id: str) -> str:
    """Who holds a lease: host and process too, so a run can tell that a holder on the same
    machine was killed and take its articles over at once instead of waiting for expiry."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{run_id}"


def owner_is_gone(owner: str) -> bool:
    """True only when the holder ran on this machine and its process no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:40] or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, but not ours to signal
        return False
    return False


@dataclass(frozen=True)
class Claim:
    """The outcome of asking for an article: `held` (do the work), `done` (another run finished
    it meanwhile: `analysis` serves), or `busy` (another run holds it; come back later)."""

    outcome: Literal["held", "done", "busy"]
    analysis: Analysis | None = None


class Leases:
    """The leases of one owner (a run or a worker) on one database."""

    def __init__(
        self,
        store: Store,
        owner: str,
        *,
        seconds: float,
        prompt_version: str,
        model: str,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.seconds = seconds
        self.prompt_version = prompt_version
        self.model = model
        self.log = log

    async def claim(
        self, source: str, article_id: int, doc: Document, *, may_defer: Callable[[], bool]
    ) -> Claim:
        """Hold the article (and its text) for this owner before any paid call.

        Another holder is left to finish: while `may_defer()` the caller is told `busy` (it has
        other work to do first); otherwise this waits, and the other holder's analysis serves when it
        comes. A holder killed on this machine is released at once.
        """
        articles = self.store.articles
        delay, noted = 0.1, False
        while True:
            if articles.claim_article(article_id, self.owner, seconds=self.seconds, text_hash=doc.text_hash):
                done = self.store.analyses.find_analysis(doc.text_hash, self.prompt_version, self.model)
                if done is not None:  # finished by another run since this one started
                    articles.release_article(article_id, self.owner)
                    return Claim("done", done)
                return Claim("held")
            holders = articles.lease_holders(article_id, text_hash=doc.text_hash) - {self.owner}
            gone = {h for h in holders if owner_is_gone(h)}
            if gone:  # a killed run on this machine: its leases need not expire first
                for holder in gone:
                    articles.release_leases(holder)
                continue
            if may_defer():
                return Claim("busy")
            if not noted and self.log is not None:
                self.log(f"{source}: being analyzed by another run; waiting for its result")
            noted = True
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 1.5)

    def release(self, article_id: int) -> None:
        self.store.articles.release_article(article_id, self.owner)

    def release_all(self) -> int:
        """Everything this owner still holds (end of a run, Ctrl-C)."""
        return self.store.articles.release_leases(self.owner)

    async def keep_renewed(self) -> None:
        """Renew this owner's leases every third of their length, until cancelled."""
        while True:
            await asyncio.sleep(self.seconds / 3)
            self.store.articles.renew_leases(self.owner, seconds=self.seconds)
