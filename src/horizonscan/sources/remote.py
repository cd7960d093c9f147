"""URLs as analysis inputs: fetch safely, then extract like a file."""

from __future__ import annotations

import asyncio

from horizonscan.extract import extract_bytes
from horizonscan.models import Document, Origin
from horizonscan.sources.fetch import Fetcher, Kind

ARTICLE_KINDS: frozenset[Kind] = frozenset({"html", "pdf", "text"})


def make_fetcher(*, allow_private_network: bool = False) -> Fetcher:
    return Fetcher(allow_private_network=allow_private_network)


async def fetch_document(fetcher: Fetcher, url: str, *, origin: Origin | None = None) -> Document:
    """Fetch a URL (raising the fetcher's error with its reason) and extract its article."""
    result = await fetcher.fetch(url, accept=ARTICLE_KINDS)
    return await asyncio.to_thread(
        extract_bytes,
        result.body,
        source=url,
        kind=result.kind if result.kind != "xml" else None,
        url=result.final_url,
        content_type=result.content_type,
        origin=origin,
    )
