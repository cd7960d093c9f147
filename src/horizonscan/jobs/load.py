"""Loading an input: a local file or a URL → a `Document`.

A file is read first and extracted only afterwards, so that unchanged bytes (see `reuse.py`) cost
no extraction; a URL whose text is already in the database is not fetched again. Reading and
extraction run in threads: the event loop keeps feeding the provider meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from horizonscan.extract import (
    MAX_FILE_BYTES,
    ExtractionError,
    extract_bytes,
    kind_of,
    raw_hash,
    read_local_file,
)
from horizonscan.models import Document, Origin
from horizonscan.store import Store
from horizonscan.store.schema import ArticleRow

if TYPE_CHECKING:
    from horizonscan.jobs.collect import Collector


@dataclass(frozen=True)
class RawFile:
    """A local file's bytes, read but not yet extracted."""

    path: Path
    data: bytes
    digest: str  # `raw_hash` of the bytes: the same-bytes check compares it with the stored one


class DocumentLoader:
    """Reads files and fetches URLs for one run (a fetcher only when a URL is among the inputs)."""

    def __init__(
        self,
        store: Store,
        *,
        collector: Collector | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.store = store
        self.collector = collector
        self.max_file_bytes = max_file_bytes

    async def read_file(self, source: str) -> RawFile:
        """The file's bytes (refused over `max_file_bytes` before being read)."""
        path = Path(source)
        data = await asyncio.to_thread(read_local_file, path, max_bytes=self.max_file_bytes)
        return RawFile(path, data, raw_hash(data))

    async def extract(self, raw: RawFile, *, source: str, origin: Origin | None) -> Document:
        return await asyncio.to_thread(
            extract_bytes, raw.data, source=source, kind=kind_of(raw.path), origin=origin
        )

    async def url_document(self, source: str, row: ArticleRow | None, origin: Origin | None) -> Document:
        """The stored text of a URL collected or analyzed before, else the page fetched now."""
        if row is not None and row.text and row.status != "failed":
            doc = self.store.articles.document(row.id)
            if doc is not None:
                return doc
        if self.collector is None:
            raise ExtractionError("URL inputs need a fetcher")
        return await self.collector.fetch_document(source, origin)
