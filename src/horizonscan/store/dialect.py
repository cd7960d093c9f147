"""The one place that knows which database engine is underneath (SQLite or PostgreSQL).

Everything else in store/ writes portable SQLAlchemy or SQL; what differs between the two
engines (upserts, "insert unless present", connection set-up, string search, driver
placeholders, full-text search, vectors) is asked of this module, which picks by
`engine.dialect.name`. A new backend is a new branch here, not a rewrite of the repositories.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, event
from sqlalchemy.dialects.postgresql import Insert as PGInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SQLiteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url

Bind = Engine | Connection
Insert = SQLiteInsert | PGInsert
# Either column names whose new value replaces the old, or a function of `excluded` (the row
# that was refused) giving the SET clause.
Update = Sequence[str] | Mapping[str, Any] | Callable[[Any], Mapping[str, Any]]

SQLITE, POSTGRES = "sqlite", "postgresql"


def name(bind: Bind) -> str:
    return str(bind.dialect.name)


def is_postgres(bind: Bind) -> bool:
    return name(bind) == POSTGRES


# ----- URLs and engines ----------------------------------------------------------------------
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def is_url(db: str | object) -> bool:
    """A `--db` with a scheme (postgresql://…) names a server; anything else is an SQLite path."""
    return bool(_SCHEME.match(str(db)))


def server_url(db: str) -> URL:
    """`postgresql://…` (or `postgres://…`) with psycopg 3 as the driver."""
    url = make_url(db)
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database URL {url.render_as_string(hide_password=True)!r}: "
                     "give a postgresql://… URL or an SQLite file path")  # fmt: skip


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer, and each commit is durable on its own.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def configure(engine: Engine) -> Engine:
    """Per-connection settings: SQLite's PRAGMAs (PostgreSQL needs none)."""
    if name(engine) == SQLITE:
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def lock_for_migration(conn: Connection) -> None:
    """PostgreSQL: one process at a time checks and upgrades the schema (workers starting
    together on a new database); the lock ends with the transaction. SQLite's write lock
    already does this."""
    if is_postgres(conn):
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7262031)")


# ----- writes --------------------------------------------------------------------------------
def insert(bind: Bind, table: Any) -> Insert:
    """An INSERT that supports ON CONFLICT on this engine."""
    return pg_insert(table) if is_postgres(bind) else sqlite_insert(table)


def upsert(
    bind: Bind,
    table: Any,
    *,
    keys: Sequence[Any],
    update: Update,
    values: Mapping[str, Any] | None = None,
) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE: both engines spell it the same way, but each
    through its own construct."""
    stmt = insert(bind, table)
    if values is not None:
        stmt = stmt.values(**values)
    if callable(update):
        set_ = dict(update(stmt.excluded))
    elif isinstance(update, Mapping):
        set_ = dict(update)
    else:
        set_ = {k: stmt.excluded[k] for k in update}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=set_)


def insert_ignore(bind: Bind, table: Any, values: Mapping[str, Any] | None = None) -> Any:
    """INSERT that skips rows which would break a unique key (SQLite's INSERT OR IGNORE)."""
    stmt = insert(bind, table)
    if values is not None:
        stmt = stmt.values(**values)
    return stmt.on_conflict_do_nothing()


def insert_ignore_sql(bind: Bind, table: str, columns: str, select_sql: str) -> str:
    """`INSERT … SELECT` that skips rows already present, as raw SQL."""
    if is_postgres(bind):
        return f"INSERT INTO {table} ({columns}) {select_sql} ON CONFLICT DO NOTHING"
    return f"INSERT OR IGNORE INTO {table} ({columns}) {select_sql}"


# ----- reads ---------------------------------------------------------------------------------
def contains(bind: Bind, haystack: str, needle: str) -> str:
    """SQL that is true when the string `needle` occurs in `haystack` (both SQL expressions)."""
    if is_postgres(bind):
        return f"strpos({haystack}, {needle}) > 0"
    return f"instr({haystack}, {needle}) > 0"


def driver_sql(bind: Bind, sql: str) -> str:
    """SQL written with `?` placeholders, for the DBAPI cursor of this engine (psycopg: `%s`)."""
    return sql.replace("?", "%s") if is_postgres(bind) else sql


def table_names(bind: Bind) -> list[str]:
    from sqlalchemy import inspect

    return list(inspect(bind).get_table_names())


# ----- vectors (pgvector) -------------------------------------------------------------------
# On PostgreSQL with the `vector` extension, article embeddings are also kept in
# `article_embeddings` (migration 0003) under one HNSW index per dimension, and nearest-neighbour
# search runs there. Elsewhere the caller falls back to its in-process search over the blobs.
EMBEDDINGS = "article_embeddings"
_embeddings_cache: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def has_embeddings(engine: Engine) -> bool:
    """Whether this database keeps embeddings in pgvector (asked once per engine)."""
    found = _embeddings_cache.get(engine)
    if found is None:
        found = _embeddings_cache[engine] = is_postgres(engine) and EMBEDDINGS in table_names(engine)
    return found


def vector_literal(values: Iterable[float]) -> str:
    """pgvector's text form, `[0.1,0.2,…]`."""
    return "[" + ",".join(f"{float(v):.7g}" for v in values) + "]"


def ensure_hnsw(conn: Connection, dim: int) -> None:
    """An HNSW index (cosine) for embeddings of this dimension: a column without a fixed
    dimension is indexed per dimension, through a cast and a partial index."""
    dim = int(dim)
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS ix_{EMBEDDINGS}_hnsw_{dim} ON {EMBEDDINGS} "
        f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) WHERE dim = {dim}"
    )


def upsert_embeddings_sql() -> str:
    return (
        f"INSERT INTO {EMBEDDINGS} (text_hash, dim, embedding) VALUES (:h, :d, CAST(:e AS vector)) "
        "ON CONFLICT (text_hash) DO UPDATE SET dim = excluded.dim, embedding = excluded.embedding"
    )


def nearest_sql(dim: int) -> str:
    """The `:k` embeddings of dimension `dim` closest to `:q` (cosine), through the HNSW index:
    (text_hash, cosine similarity), best first."""
    dim = int(dim)
    dist = f"embedding::vector({dim}) <=> CAST(:q AS vector({dim}))"
    return (
        f"SELECT text_hash, 1 - ({dist}) AS cos FROM {EMBEDDINGS} WHERE dim = {dim} ORDER BY {dist} LIMIT :k"
    )


def reset_sequences(conn: Connection, tables: Sequence[Table]) -> None:
    """After rows were copied in with their ids, move PostgreSQL's id sequences past them
    (SQLite needs nothing: its next rowid is max(rowid) + 1)."""
    if not is_postgres(conn):
        return
    from sqlalchemy import text

    for table in tables:
        for col in table.primary_key.columns:
            if len(table.primary_key.columns) != 1:
                continue
            seq = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": col.name}
            ).scalar()
            if seq:
                top = f"coalesce((SELECT max({col.name}) FROM {table.name}), 0) + 1"
                conn.execute(
                    text(f"SELECT setval(:s, {top}, false)"),
                    {"s": seq},
                )
