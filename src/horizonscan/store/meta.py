"""Small named values the stages keep between runs (e.g. which embedder made the signatures)."""

from __future__ import annotations

from horizonscan.store.base import Repository
from horizonscan.store.schema import MetaRow


class MetaRepo(Repository):
    def get(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MetaRow, key)
            return row.value if row else None

    def set(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(MetaRow(key=key, value=value))
