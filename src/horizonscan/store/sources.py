"""Saved sources: newsletters, archives, feeds, sitemaps, OPML files, URL lists and folders that
`collect` reads again and again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from horizonscan.store.base import Repository
from horizonscan.store.schema import SourceRow, utcnow


class SourceRepo(Repository):
    def add_source(self, spec: str, *, label: str | None = None, kind: str | None = None) -> SourceRow:
        with self.session() as s:
            row = s.scalar(select(SourceRow).where(SourceRow.spec == spec))
            if row is None:
                row = SourceRow(spec=spec, links_seen=0)
                s.add(row)
            if label is not None:
                row.label = label
            if kind is not None:
                row.kind = kind
            s.flush()
            return row

    def list_sources(self) -> list[SourceRow]:
        with self.session() as s:
            return list(s.scalars(select(SourceRow).order_by(SourceRow.id)))

    def source_by_spec(self, spec: str) -> SourceRow | None:
        with self.session() as s:
            return s.scalar(select(SourceRow).where(SourceRow.spec == spec))

    def remove_source(self, key: str) -> bool:
        with self.session() as s:
            cond = SourceRow.spec == key
            if key.isdigit():
                cond = cond | (SourceRow.id == int(key))
            row = s.scalar(select(SourceRow).where(cond))
            if row is None:
                return False
            s.delete(row)
            return True

    def update_source(self, source_id: int, **values: Any) -> None:
        with self.session() as s:
            row = s.get(SourceRow, source_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)
                row.last_checked = utcnow()
