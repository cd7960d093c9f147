"""Open the database (an SQLite file, or a PostgreSQL server given by URL), refuse one that is
not horizonscan's, and bring its schema up to date."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import OperationalError

from horizonscan.store import dialect

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_HEADER = b"SQLite format 3\x00"
# Tables every horizonscan database has had since the first migration.
OUR_TABLES = frozenset({"articles", "analyses", "items", "llm_calls"})


class DatabaseError(Exception):
    """The --db file or URL cannot be used; the message says why and what to do."""


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


def make_engine(path: str | Path) -> Engine:
    """The engine of an SQLite file (a `--db` path) or a PostgreSQL server (a `--db` URL)."""
    if dialect.is_url(path):
        return make_server_engine(str(path))
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    return dialect.configure(create_engine(f"sqlite:///{path}"))


def make_server_engine(db: str) -> Engine:
    """A pooled PostgreSQL engine: a web app and several workers share a few connections each,
    and pre-ping replaces connections the server dropped (restart, idle timeout)."""
    try:
        url = dialect.server_url(db)
    except ValueError as exc:
        raise DatabaseError(str(exc)) from exc
    return dialect.configure(
        create_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True, pool_recycle=1800)
    )


def shown(db: str | Path) -> str:
    """A database as it may be printed: a URL as given, without its password."""
    if dialect.is_url(db):
        return re.sub(r"^([^:/]+://[^:/@]*):[^@/]+@", r"\1:***@", str(db))
    return str(db)


def check_server(engine: Engine, db: str, *, must_exist: bool = False) -> None:
    """PostgreSQL's version of `check_database`: a missing database is created (or, for a
    read-only command, refused), and one with other tables and no horizonscan revision is
    refused untouched."""
    where = shown(db)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            revision = None
            if "alembic_version" in tables:
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError as exc:
        if "does not exist" not in str(exc.orig):
            raise DatabaseError(f"cannot connect to {where}: {str(exc.orig).strip()}") from exc
        if must_exist:
            raise MissingDatabase(
                f"no database at {where}: run `horizonscan analyze` first, or give --db (env HORIZONSCAN_DB)"
            ) from exc
        create_server_database(engine, where)
        return
    if not tables:
        if must_exist:
            raise MissingDatabase(f"the database {where} is empty: run `horizonscan analyze` first")
        return
    ours = set(tables) >= OUR_TABLES and revision in _known_revisions()
    if not ours:
        names = ", ".join(sorted(tables)[:6])
        why = (
            f"its schema revision {revision!r} is not one of horizonscan's (a newer version?)"
            if set(tables) >= OUR_TABLES and revision is not None
            else f"it has other tables ({names}) and no horizonscan schema revision"
        )
        raise ForeignDatabase(
            f"{where} belongs to another application, not horizonscan: {why}; it was left untouched. "
            "Give another --db"
        )


def create_server_database(engine: Engine, where: str) -> None:
    """CREATE DATABASE for a URL that names one the server does not have yet."""
    name = engine.url.database
    if not name:
        raise DatabaseError(f"{where}: the URL names no database")
    admin = create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            quoted = '"' + name.replace('"', '""') + '"'
            conn.execute(text(f"CREATE DATABASE {quoted}"))
    except OperationalError as exc:
        raise DatabaseError(f"cannot create the database {name!r}: {str(exc.orig).strip()}") from exc
    finally:
        admin.dispose()


def open_engine(db: str | Path, *, create: bool = True) -> Engine:
    """Check, open and migrate: what `Store.open` and `migrate-db` do with a `--db`."""
    if dialect.is_url(db):
        engine = make_server_engine(str(db))
        try:
            check_server(engine, str(db), must_exist=not create)
        except DatabaseError:
            engine.dispose()
            raise
    else:
        check_database(db, must_exist=not create)
        engine = make_engine(db)
    migrate(engine)
    return engine


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def migrate(engine: Engine) -> None:
    """Upgrade to the newest schema; cheap when already there (one read of alembic_version)."""
    with engine.begin() as conn:
        dialect.lock_for_migration(conn)
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head_revision():
            return
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
