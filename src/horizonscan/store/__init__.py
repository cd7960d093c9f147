"""Storage stage: one database (an SQLite file, or PostgreSQL for a team) with a migrated schema.

`Store` opens the engine once and hands out one repository per aggregate, all on that engine:
`store.articles`, `store.sources`, `store.analyses`, `store.ledger`, `store.signatures`,
`store.stories`, `store.meta`, `store.views`, and the later ones `store.trends`,
`store.curation`, `store.search`, `store.batches`. What differs between SQLite and PostgreSQL
lives in `store/dialect.py` only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from horizonscan.store.analyses import AnalysisRepo
from horizonscan.store.articles import ArticleRepo
from horizonscan.store.db import open_engine
from horizonscan.store.ledger import Ledger
from horizonscan.store.meta import MetaRepo
from horizonscan.store.signatures import SignatureRepo
from horizonscan.store.sources import SourceRepo
from horizonscan.store.stories import StoryRepo
from horizonscan.store.views import ViewRepo

if TYPE_CHECKING:
    from horizonscan.store.batches import BatchRepo
    from horizonscan.store.curation import CurationRepo
    from horizonscan.store.limits import LimitRepo
    from horizonscan.store.search import SearchIndex
    from horizonscan.store.trends import TrendRepository


class Store:
    """The open database: its engine and the repositories over it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.articles = ArticleRepo(engine)
        self.sources = SourceRepo(engine)
        self.analyses = AnalysisRepo(engine)
        self.ledger = Ledger(engine)
        self.signatures = SignatureRepo(engine)
        self.stories = StoryRepo(engine)
        self.meta = MetaRepo(engine)
        self.views = ViewRepo(engine)

    @classmethod
    def open(cls, db: str | Path, *, create: bool = True) -> Store:
        """Open (and migrate) a horizonscan database: an SQLite path or a postgresql:// URL.
        Another application's database is refused untouched, and with `create=False`
        (read-only commands) so is a missing one."""
        return cls(open_engine(db, create=create))

    # The later aggregates are built on first use: most commands never touch them.
    @cached_property
    def trends(self) -> TrendRepository:
        from horizonscan.store.trends import TrendRepository

        return TrendRepository(self.engine)

    @cached_property
    def curation(self) -> CurationRepo:
        from horizonscan.store.curation import CurationRepo

        return CurationRepo(self.engine)

    @cached_property
    def search(self) -> SearchIndex:
        from horizonscan.store.search import SearchIndex

        return SearchIndex(self.engine)

    @cached_property
    def batches(self) -> BatchRepo:
        from horizonscan.store.batches import BatchRepo

        return BatchRepo(self.engine)

    @cached_property
    def limits(self) -> LimitRepo:
        from horizonscan.store.limits import LimitRepo

        return LimitRepo(self.engine)

    @property
    def dialect(self) -> str:
        return str(self.engine.dialect.name)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s


__all__ = ["Store"]
