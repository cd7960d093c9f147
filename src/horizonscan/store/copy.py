"""`migrate-db`: copy a whole corpus from one database to another (SQLite → PostgreSQL, or back).

Every table of the schema is copied with its ids, parents before children, in batches, inside
one transaction on the destination: an interrupted copy leaves the destination empty, so it can
simply be run again. A destination that already holds data is refused (nothing is merged or
overwritten). The full-text index is rebuilt on the destination (its form differs per engine),
and row counts are compared table by table before the copy is reported done.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from horizonscan.store import dialect
from horizonscan.store.db import DatabaseError, open_engine, shown
from horizonscan.store.schema import Base
from horizonscan.store.signatures import SignatureRepo

# Derived from the other tables and rebuilt on the destination: the search index.
DERIVED = frozenset({"search_docs"})


class CopyError(DatabaseError):
    """The copy cannot start or did not verify; nothing was committed to the destination."""


@dataclass
class TableCount:
    table: str
    source: int
    destination: int

    @property
    def ok(self) -> bool:
        return self.source == self.destination


def tables() -> list[Table]:
    """The schema's tables (every `store/schema*.py`), parents before children (foreign keys)."""
    import horizonscan.store as package

    for mod in pkgutil.iter_modules(package.__path__):
        if mod.name.startswith("schema"):
            importlib.import_module(f"horizonscan.store.{mod.name}")
    return [t for t in Base.metadata.sorted_tables if t.name not in DERIVED]


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _indexable(engine: Engine) -> int:
    """Analyzed articles with an analysis: what the search index holds once synced."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM articles a WHERE a.status = 'analyzed' AND a.text_hash IS NOT NULL "
                    "AND EXISTS (SELECT 1 FROM analyses an WHERE an.text_hash = a.text_hash)"
                )
            ).scalar_one()
        )


def copy_database(
    src: str | Path,
    dst: str | Path,
    *,
    batch: int = 1000,
    progress: Callable[[str, int], None] | None = None,
) -> list[TableCount]:
    """Copy every row of `src` into the empty database `dst` (both migrated to the newest
    schema first) and return the per-table counts, the search index's included."""
    if str(src) == str(dst):
        raise CopyError("the source and the destination are the same database")
    source = open_engine(src, create=False)
    try:
        destination = open_engine(dst, create=True)
        try:
            return _copy(source, destination, shown(dst), batch=max(1, batch), progress=progress)
        finally:
            destination.dispose()
    finally:
        source.dispose()


def _copy(
    source: Engine,
    destination: Engine,
    where: str,
    *,
    batch: int,
    progress: Callable[[str, int], None] | None,
) -> list[TableCount]:
    from horizonscan.store.search import SearchIndex

    todo = tables()
    busy = [t.name for t in todo if _count(destination, t) > 0]
    if busy:
        raise CopyError(
            f"the destination {where} already holds data ({', '.join(busy[:5])}): migrate-db copies "
            "into an empty database only, and never merges; give a new database (or drop this one)"
        )
    with source.connect() as src, destination.begin() as dst:
        for table in todo:
            order = list(table.primary_key.columns)
            result = src.execution_options(stream_results=True).execute(select(table).order_by(*order))
            done = 0
            for rows in result.mappings().partitions(batch):
                try:
                    dst.execute(insert(table), [dict(r) for r in rows])
                except DBAPIError as exc:  # e.g. a value SQLite kept that PostgreSQL's types refuse
                    raise CopyError(
                        f"cannot copy table {table.name} (rows after {done}): {str(exc.orig).strip()}; "
                        "nothing was committed to the destination"
                    ) from exc
                done += len(rows)
                if progress is not None:
                    progress(table.name, done)
        dialect.reset_sequences(dst, todo)
    counts = [TableCount(t.name, _count(source, t), _count(destination, t)) for t in todo]
    wrong = [c for c in counts if not c.ok]
    if wrong:
        shown_wrong = ", ".join(f"{c.table}: {c.source} → {c.destination}" for c in wrong)
        raise CopyError(f"row counts differ after the copy ({shown_wrong})")
    # The search index: rebuilt for the destination's engine from the copied rows; it must hold
    # every analyzed article of the source (whether or not the source's own index was synced).
    SearchIndex(destination).reindex_all()
    indexed = TableCount(
        "search_docs", _indexable(source), _count(destination, Base.metadata.tables["search_docs"])
    )
    if not indexed.ok:
        raise CopyError(f"the search index holds {indexed.destination} articles, not {indexed.source}")
    counts.append(indexed)
    # Embeddings into pgvector when the destination has it (one per signature).
    signatures = SignatureRepo(destination)
    if dialect.has_embeddings(destination):
        signatures.sync_embeddings()
        with destination.connect() as conn:
            n = int(conn.execute(text(f"SELECT count(*) FROM {dialect.EMBEDDINGS}")).scalar_one())
        counts.append(TableCount(dialect.EMBEDDINGS, _count(source, Base.metadata.tables["signatures"]), n))
    return counts
