"""What every repository shares: the one engine a `Store` opened, and short sessions on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session


class Repository:
    """One aggregate's reads and writes. Each write commits on its own, so a crash loses at
    most the article in flight."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s


class HasEngine(Protocol):
    """Anything holding the shared engine (a `Store`), for repositories built from one."""

    engine: Engine
