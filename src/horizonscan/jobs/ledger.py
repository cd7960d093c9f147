"""The call ledger of one run, buffered: every LLM call becomes a ledger row, and a successful
call's row is committed in the same transaction as the analysis it produced.

Why buffer: a run killed between "the answer arrived" and "the analysis was saved" must not leave
a paid call that looks like it produced nothing, nor an analysis with no cost. Failed attempts
have no analysis to wait for, so they are committed at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from horizonscan.models import CallRecord
from horizonscan.store import Store


@dataclass
class Tally:
    """What the run's calls cost so far (read live by the progress bar)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def charge(self, rec: CallRecord) -> None:
        self.calls += 1
        self.input_tokens += rec.input_tokens
        self.output_tokens += rec.output_tokens
        self.cost_usd += rec.cost_usd

    def usage(self) -> dict[str, object]:
        """The figures every run summary prints, under the same names."""
        return {
            "llm_calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


class CallLedger:
    """The `on_call` hook of the LLM client for one run (or one worker)."""

    def __init__(self, store: Store, run_id: str, *, audit: bool, tally: Tally | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.audit = audit
        self.tally = tally if tally is not None else Tally()
        self._held: dict[str, list[CallRecord]] = {}

    def record(self, rec: CallRecord) -> None:
        """Hold a successful call until its analysis is saved; commit any other one now."""
        if not self.audit and (rec.prompt is not None or rec.response is not None):
            rec = rec.model_copy(update={"prompt": None, "response": None})  # the audit log is opt-in
        if rec.status == "ok" and rec.text_hash is not None:
            self._held.setdefault(rec.text_hash, []).append(rec)
        else:
            self.store.ledger.record_calls([rec], self.run_id)
        self.tally.charge(rec)

    def take(self, text_hash: str) -> list[CallRecord]:
        """The held rows of this text, to be saved with its analysis (they leave the buffer)."""
        return self._held.pop(text_hash, [])

    def flush(self, text_hash: str) -> None:
        """Commit what is still held for this text (e.g. the parts of a long article whose
        merge failed): paid calls are never dropped."""
        leftover = self._held.pop(text_hash, [])
        if leftover:
            self.store.ledger.record_calls(leftover, self.run_id)
