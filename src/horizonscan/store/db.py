"""Open the SQLite file, bring its schema up to date, and tune it for a single-writer pipeline."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_HEADER = b"SQLite format 3\x00"
# Tables every horizonscan database has had since the first migration.
OUR_TABLES = frozenset({"articles", "analyses", "items", "llm_calls"})


class DatabaseError(Exception):
    """The --db file cannot be used; the message says why and what to do."""


class MissingDatabase(DatabaseError):
    """A command that only reads was pointed at a database that does not exist."""


class ForeignDatabase(DatabaseError):
    """The file is not a horizonscan database (another application's, or not SQLite at all)."""


def _peek(path: Path) -> tuple[list[str], str | None]:
    """Table names and Alembic revision, read without changing a byte of the file."""
    uri = f"file:{quote(str(path.resolve()))}"
    for params in ("?mode=ro", "?mode=ro&immutable=1"):
        try:
            con = sqlite3.connect(uri + params, uri=True)
        except sqlite3.Error:
            continue
        try:
            tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
            revision = None
            if "alembic_version" in tables:
                row = con.execute("select version_num from alembic_version").fetchone()
                revision = row[0] if row else None
            return tables, revision
        except sqlite3.DatabaseError:
            continue
        finally:
            con.close()
    raise ForeignDatabase(f"{path}: not a readable SQLite database; give another --db")


def check_database(path: str | Path, *, must_exist: bool = False) -> None:
    """Refuse a file that is not ours before anything opens it for writing.

    Opening another application's SQLite file would add our tables to it (and switch it to WAL);
    a read-only command on a missing file would create an empty database and report nothing.
    """
    if str(path) == ":memory:":
        return
    path = Path(path)
    if not path.exists():
        if must_exist:
            raise MissingDatabase(
                f"no database at {path}: run `horizonscan analyze` first, or give --db (env HORIZONSCAN_DB)"
            )
        return
    if not path.is_file():
        raise ForeignDatabase(f"{path} is not a database file (a folder?); give another --db")
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_HEADER))
    if not head:
        if must_exist:
            raise MissingDatabase(f"the database {path} is empty: run `horizonscan analyze` first")
        return  # an empty file: SQLite makes a new database of it
    if head != SQLITE_HEADER:
        raise ForeignDatabase(f"{path} is not a SQLite database; give another --db")
    tables, revision = _peek(path)
    if not tables:
        if must_exist:
            raise MissingDatabase(f"the database {path} is empty: run `horizonscan analyze` first")
        return
    ours = set(tables) >= OUR_TABLES and revision in _known_revisions()
    if not ours:
        shown = ", ".join(sorted(t for t in tables if not t.startswith("sqlite_"))[:6])
        why = (
            f"its schema revision {revision!r} is not one of horizonscan's (a newer version?)"
            if set(tables) >= OUR_TABLES and revision is not None
            else f"it has other tables ({shown})"
        )
        raise ForeignDatabase(
            f"{path} belongs to another application, not horizonscan: {why}; it was left untouched. "
            "Give another --db"
        )


def _known_revisions() -> set[str]:
    return {rev.revision for rev in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer, and each commit is durable on its own.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(path: str | Path) -> Engine:
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", future=True)
    event.listen(engine, "connect", _on_connect)
    return engine


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def migrate(engine: Engine) -> None:
    """Upgrade to the newest schema; cheap when already there (one read of alembic_version)."""
    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head_revision():
            return
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
