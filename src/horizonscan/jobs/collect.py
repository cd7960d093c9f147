"""Collect: sources (newsletters, archives, feeds, sitemaps, OPML, URL lists, folders) → new articles.

Links already known to the database are neither fetched nor analyzed again; every link that
is fetched has its raw bytes archived (so re-extraction never refetches), its text extracted,
and its origin (label + URL) and first-seen time stored. Each bad link gets a reason and the
run goes on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from horizonscan.config import Settings
from horizonscan.extract import ExtractionError, extract_bytes, kind_of, read_local_file
from horizonscan.models import Document, Origin
from horizonscan.sources.archive import RawArchive
from horizonscan.sources.discover import DiscoveryResult, FoundLink, discover
from horizonscan.sources.fetch import Fetcher, FetchError, Kind
from horizonscan.store import Store

ARTICLE_KINDS: frozenset[Kind] = frozenset({"html", "pdf", "text"})


@dataclass
class SourceReport:
    source: str
    kind: str
    title: str | None = None
    links: int = 0
    new: int = 0
    known: int = 0
    not_modified: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class CollectReport:
    sources: list[SourceReport] = field(default_factory=list)
    new_articles: list[str] = field(default_factory=list)  # article sources (URLs or paths), in order
    failed: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "new_articles": self.new_articles,
            "failed": [{"url": u, "reason": r} for u, r in self.failed],
            "sources": [
                {
                    "source": s.source,
                    "kind": s.kind,
                    "title": s.title,
                    "links": s.links,
                    "new": s.new,
                    "known": s.known,
                    "not_modified": s.not_modified,
                    "errors": [{"url": u, "reason": r} for u, r in s.errors],
                    "skipped": [{"url": u, "reason": r} for u, r in s.skipped],
                }
                for s in self.sources
            ],
        }


def make_fetcher(settings: Settings) -> Fetcher:
    return Fetcher(
        allow_private_network=settings.allow_private_network,
        respect_robots=settings.respect_robots,
        timeout=settings.fetch_timeout,
        per_host_delay=settings.per_host_delay,
    )


def _file_path(url: str) -> Path | None:
    parts = urlsplit(url)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None


class Collector:
    def __init__(self, store: Store, settings: Settings, fetcher: Fetcher) -> None:
        self.store = store
        self.settings = settings
        self.fetcher = fetcher
        self.archive = RawArchive(settings.archive_dir())

    async def fetch_document(
        self, url: str, origin: Origin | None, published: datetime | None = None
    ) -> Document:
        """Fetch (or read) one article, archive its bytes, extract it."""
        path = _file_path(url)
        if path is not None:
            data = await asyncio.to_thread(read_local_file, path, max_bytes=self.settings.max_file_bytes())
            doc = await asyncio.to_thread(
                extract_bytes, data, source=str(path), kind=kind_of(path), origin=origin
            )
        else:
            result = await self.fetcher.fetch(url, accept=ARTICLE_KINDS)
            await asyncio.to_thread(self.archive.put, result.body)
            doc = await asyncio.to_thread(
                extract_bytes,
                result.body,
                source=url,
                kind=result.kind,
                url=result.final_url,
                content_type=result.content_type,
                origin=origin,
            )
            if doc.url is None or doc.url != url:
                doc = doc.model_copy(update={"url": doc.url or url})
        if doc.date is None and published is not None:
            doc = doc.model_copy(update={"date": published.date().isoformat()})
        return doc

    async def _take(self, link: FoundLink, report: SourceReport, out: CollectReport) -> None:
        origin = Origin(label=link.origin_label, url=link.origin_url or None)
        try:
            doc = await self.fetch_document(link.url, origin, link.published)
        except FetchError as exc:
            self._failed(link.url, origin, exc.reason, report, out)
            return
        except (ExtractionError, OSError) as exc:
            self._failed(link.url, origin, str(exc), report, out)
            return
        self.store.articles.upsert_article(doc)
        report.new += 1
        out.new_articles.append(doc.source)

    def _failed(
        self, url: str, origin: Origin, reason: str, report: SourceReport, out: CollectReport
    ) -> None:
        self.store.articles.record_fetch_failure(url, origin, reason)
        report.errors.append((url, reason))
        out.failed.append((url, reason))

    async def collect(
        self,
        specs: list[str],
        *,
        origin_label: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> CollectReport:
        out = CollectReport()
        for spec in specs:
            stored = self.store.sources.source_by_spec(spec)
            result: DiscoveryResult = await discover(
                spec,
                self.fetcher,
                since=since,
                limit=limit,
                origin_label=origin_label or (stored.label if stored else None),
                etag=stored.etag if stored else None,
                last_modified=stored.last_modified if stored else None,
            )
            report = SourceReport(
                source=spec,
                kind=result.kind,
                title=result.title,
                links=len(result.links),
                not_modified=result.not_modified,
                skipped=list(result.skipped),
                errors=list(result.errors),
            )
            out.failed.extend(result.errors)
            known = self.store.articles.known_sources(link.url for link in result.links)
            local_known = self.store.articles.known_sources(
                str(p) for link in result.links if (p := _file_path(link.url)) is not None
            )
            fresh: list[FoundLink] = []
            for link in result.links:
                path = _file_path(link.url)
                if link.url in known or (path is not None and str(path) in local_known):
                    report.known += 1
                else:
                    fresh.append(link)
            await asyncio.gather(*(self._take(link, report, out) for link in fresh))
            if stored is not None:
                self.store.sources.update_source(
                    stored.id,
                    kind=result.kind,
                    etag=result.etag or stored.etag,
                    last_modified=result.last_modified or stored.last_modified,
                    last_error="; ".join(r for _, r in result.errors[:3]) or None,
                    links_seen=stored.links_seen + report.new,
                )
            out.sources.append(report)
        return out


async def run_collect(
    store: Store,
    settings: Settings,
    specs: list[str],
    *,
    origin_label: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> CollectReport:
    async with make_fetcher(settings) as fetcher:
        return await Collector(store, settings, fetcher).collect(
            specs, origin_label=origin_label, since=since, limit=limit
        )
