"""Storage stage: one SQLite file with a migrated schema (articles, analyses, items, LLM ledger)."""

from horizonscan.store.repo import Store

__all__ = ["Store"]
