"""Trend assignment over the stored corpus, and the views built from it.

`update_trends` places the items that have no trend yet (after each batch): each joins the
nearest trend centroid at or above the threshold, else seeds a trend (see `cluster.py`). It
re-clusters everything instead when asked, on the first run, when the threshold or embedder
changed, or when the corpus has grown by `recluster_growth` since the last full clustering;
trend ids then survive by member overlap, and a trend keeps its name while the item it is named
after stays a member. Items of superseded analyses leave their trends.

`overview` computes every trend's counts, source diversity, life cycle and majority dimension
and horizon as of a date (default: the newest document), with members when asked.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from horizonscan.models import (
    TREND_STATUSES,
    Dimension,
    Horizon,
    RadarEntry,
    RadarRing,
    RadarView,
    TrendMember,
    TrendPeriod,
    TrendsOverview,
    TrendStatus,
    TrendView,
)
from horizonscan.similarity.cache import text_key
from horizonscan.similarity.embed import Embedder, l2_normalise
from horizonscan.store.trends import ItemRecord, TrendChanges, TrendRecord, TrendRepository
from horizonscan.trends.cluster import TrendClusterer, cluster_all, match_ids
from horizonscan.trends.config import TrendSettings
from horizonscan.trends.corpus import TrendCorpus
from horizonscan.trends.dates import period_index, period_label, period_start
from horizonscan.trends.lifecycle import NONE, STATUSES, Timeline, life_cycle

EMBED_BATCH = 512
Log = Callable[[str], None]

# Radar rings by status, inner first; noise is not on the radar.
STATUS_RINGS: tuple[TrendStatus, ...] = ("strong", "emerging", "weak", "fading")
HORIZON_RINGS = tuple(h.value for h in Horizon)
SECTORS = tuple(d.value for d in Dimension)
UNCLASSIFIED = "unclassified"
_EPOCH = datetime(1970, 1, 1)


def item_key(embedder: str, text: str) -> str:
    """The key an item's vector is stored under: the same as `similarity.cache`'s, so vectors
    embedded while a batch waits on the provider (or for a story's items) serve trends too."""
    return text_key(embedder, text)


def item_vectors(
    repo: TrendRepository, embedder: Embedder, items: list[ItemRecord], *, log: Log | None = None
) -> np.ndarray:
    """One normalised vector per item, embedded once per distinct text and kept in the database."""
    if not items:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    keys = [item_key(embedder.name, i.text) for i in items]
    have = repo.vectors(keys, embedder=embedder.name)
    missing: dict[str, str] = {}
    for key, item in zip(keys, items, strict=True):
        if key not in have:
            missing.setdefault(key, item.text)
    if missing:
        if log and len(missing) > 2000:
            log(f"Embedding {len(missing)} items for trends …")
        todo = list(missing.items())
        for s in range(0, len(todo), EMBED_BATCH):
            part = todo[s : s + EMBED_BATCH]
            vecs = embedder.embed([t for _, t in part])
            new = {k: v for (k, _), v in zip(part, vecs, strict=True)}
            repo.add_vectors(embedder.name, new)
            have.update({k: v.astype(np.float16).astype(np.float32) for k, v in new.items()})
    return l2_normalise(np.stack([have[k] for k in keys]))


@dataclass
class TrendUpdate:
    items: int  # items of the current analyses
    added: int  # items placed by this update
    removed: int  # items that left (superseded analyses)
    new_trends: int
    trends: int
    reclustered: bool
    seconds: float


def _ordered(corpus: TrendCorpus, items: list[ItemRecord]) -> list[ItemRecord]:
    """Date order (then id): trends form, and get their ids, in the order the changes appeared."""
    return sorted(items, key=lambda i: (corpus.document_of(i).date, i.id))


def _representative(item_ids: list[int], vectors: np.ndarray, centroid: np.ndarray) -> int:
    return item_ids[int(np.argmax(vectors @ centroid))]


def update_trends(
    repo: TrendRepository,
    embedder: Embedder,
    settings: TrendSettings,
    *,
    recluster: bool = False,
    corpus: TrendCorpus | None = None,
    log: Log | None = None,
) -> TrendUpdate:
    """Bring the trends up to date with the corpus (see module docstring)."""
    started = time.perf_counter()
    corpus = corpus or TrendCorpus.load(repo)
    items = corpus.items
    members = repo.members()
    old = {t.id: t for t in repo.trends()}
    state = f"{embedder.name}|{settings.threshold:.4f}"
    clustered = int(repo.meta("clustered_items") or 0)
    next_id = max([int(repo.meta("next_id") or 1), *(t + 1 for t in old)])
    grown = (
        settings.recluster_growth > 0
        and len(items) >= settings.recluster_min_items
        and len(items) >= clustered * (1 + settings.recluster_growth)
    )
    full = recluster or not old or repo.meta("state") != state or grown
    current = {i.id for i in items}
    removed = [i for i in members if i not in current]
    if full:
        items = _ordered(corpus, items)
        vectors = item_vectors(repo, embedder, items, log=log)
        labels, sums, counts = cluster_all(vectors, settings.threshold)
        mapping, next_id = match_ids([i.id for i in items], labels, members, next_id)
        by_label: dict[int, list[int]] = defaultdict(list)
        for pos, label in enumerate(labels):
            by_label[int(label)].append(pos)
        records: list[TrendRecord] = []
        for label, positions in by_label.items():
            tid = mapping[label]
            ids = [items[p].id for p in positions]
            prev = old.get(tid)
            name_item: int | None
            if prev is not None and prev.name_item_id in ids:
                name_item = prev.name_item_id
            else:
                centroid = l2_normalise(sums[label])[0]
                name_item = _representative(ids, vectors[positions], centroid)
            records.append(_record(tid, name_item, corpus, embedder.name, sums[label], int(counts[label])))
        changes = TrendChanges(
            trends=records, members={items[p].id: mapping[int(lab)] for p, lab in enumerate(labels)}
        )
        repo.apply(changes, replace=True)
        repo.set_meta({"state": state, "clustered_items": str(len(items)), "next_id": str(next_id)})
        final_members = dict(changes.members)
        added = sum(1 for i in items if members.get(i.id) is None)
        new_trends = sum(1 for r in records if r.id not in old)
    else:
        clusterer = TrendClusterer(embedder.dim, settings.threshold)
        clusterer.load(
            list(old), np.stack([t.vector_sum for t in old.values()]), [t.size for t in old.values()], next_id
        )
        by_trend: dict[int, list[int]] = defaultdict(list)
        for item_id, tid in members.items():
            if item_id in current:
                by_trend[tid].append(item_id)
        item_by_id = corpus.item_by_id
        affected = {members[i] for i in removed}
        names: dict[int, int | None] = {t.id: t.name_item_id for t in old.values()}
        gone: list[int] = []
        for tid in affected:
            left = [item_by_id[i] for i in by_trend.get(tid, [])]
            vecs = item_vectors(repo, embedder, left)
            clusterer.set_members(tid, vecs)
            if not left:
                gone.append(tid)
            elif names[tid] not in {i.id for i in left}:
                names[tid] = _representative([i.id for i in left], vecs, clusterer.centroid(tid))
        new_items = _ordered(corpus, [i for i in items if i.id not in members])
        vecs = item_vectors(repo, embedder, new_items, log=log)
        assigned, _sims = clusterer.assign(vecs)
        fresh: dict[int, list[int]] = defaultdict(list)
        for pos, tid in enumerate(assigned):
            if int(tid) not in old:
                fresh[int(tid)].append(pos)
        for tid, positions in fresh.items():
            names[tid] = _representative(
                [new_items[p].id for p in positions], vecs[positions], clusterer.centroid(tid)
            )
        records = []
        for tid in sorted(clusterer.touched - set(gone)):
            total, count = clusterer.state(tid)
            kept = names.get(tid)
            if tid in old and old[tid].name_item_id == kept:
                rec = old[tid]
                rec.vector_sum, rec.size = total, count
                records.append(rec)
            else:
                records.append(_record(tid, kept, corpus, embedder.name, total, count))
        changes = TrendChanges(
            trends=records,
            members={i.id: int(t) for i, t in zip(new_items, assigned, strict=True)},
            removed_members=removed,
            removed_trends=gone,
        )
        repo.apply(changes)
        repo.set_meta({"next_id": str(clusterer.next_id)})
        final_members = {i: t for i, t in members.items() if i in current and t not in gone}
        final_members.update(changes.members)
        added, new_trends = len(new_items), len(fresh)
    rows = summaries(corpus, final_members, settings)
    rewritten = {r.id for r in records}
    changed = []
    for row in rows:
        was = old.get(int(row["id"]))
        if (
            was is None
            or was.id in rewritten
            or any(getattr(was, k) != v for k, v in row.items() if k != "id")
        ):
            changed.append(row)
    repo.save_summaries(changed)  # only what changed: most trends keep their summary
    n_trends = len(rows)
    return TrendUpdate(
        items=len(items),
        added=added,
        removed=len(removed),
        new_trends=new_trends,
        trends=n_trends,
        reclustered=full,
        seconds=time.perf_counter() - started,
    )


def _record(
    tid: int, name_item: int | None, corpus: TrendCorpus, embedder: str, total: np.ndarray, size: int
) -> TrendRecord:
    item = corpus.item_by_id.get(name_item) if name_item is not None else None
    return TrendRecord(
        id=tid,
        name=item.name if item else f"Trend {tid}",
        name_item_id=name_item,
        embedder=embedder,
        vector_sum=np.asarray(total, dtype=np.float32),
        size=size,
    )


def summaries(
    corpus: TrendCorpus, members: dict[int, int], settings: TrendSettings, *, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """Every trend's stored summary (status, majority dimension and horizon, documents, sites,
    popularity, first and last seen) as of `as_of`, vectorised: this runs after every batch."""
    when = as_of or corpus.latest or corpus.now
    pdays = settings.period_days
    end = period_index(when, pdays)
    doc_ids = list(corpus.documents)
    doc_pos = {d: k for k, d in enumerate(doc_ids)}
    docs = [corpus.documents[d] for d in doc_ids]
    doc_time = np.array([(d.date - _EPOCH).total_seconds() if d.date <= when else np.inf for d in docs])
    doc_period = np.array([period_index(d.date, pdays) for d in docs], dtype=np.int64)
    site_code: dict[str, int] = {}
    doc_site = np.array([site_code.setdefault(d.site, len(site_code)) for d in docs], dtype=np.int64)
    trend_ids = sorted(set(members.values()))
    arrays = corpus.item_arrays(doc_pos)
    m_items = np.fromiter(members.keys(), dtype=np.int64, count=len(members))
    m_trends = np.fromiter(members.values(), dtype=np.int64, count=len(members))
    pos = np.searchsorted(arrays.ids, m_items)
    pos = np.minimum(pos, max(0, len(arrays.ids) - 1))
    known = (arrays.ids[pos] == m_items) if len(arrays.ids) else np.zeros(len(m_items), dtype=bool)
    pos, m_trends = pos[known], m_trends[known]
    r_arr = np.searchsorted(np.asarray(trend_ids, dtype=np.int64), m_trends)
    d_arr = arrays.doc[pos]
    it_dim, it_hor = arrays.dimension[pos], arrays.horizon[pos]
    seen = np.isfinite(doc_time[d_arr])  # documents dated after `as_of` do not count yet
    n = len(trend_ids)
    dims = np.zeros((n, len(SECTORS) + 1), dtype=np.int64)
    hors = np.zeros((n, len(HORIZON_RINGS) + 1), dtype=np.int64)
    np.add.at(dims, (r_arr[seen], it_dim[seen]), 1)  # -1 (none): the extra last column
    np.add.at(hors, (r_arr[seen], it_hor[seen]), 1)
    n_docs = max(1, len(docs))
    keys = np.unique(r_arr[seen] * n_docs + d_arr[seen])  # one event per (trend, document)
    ev_t, ev_d = keys // n_docs, keys % n_docs
    first_period = int(doc_period[ev_d].min()) if len(ev_d) else end
    start = max(first_period, end - settings.history_days // pdays)
    tl = life_cycle(
        ev_t, np.maximum(doc_period[ev_d], start), doc_site[ev_d], n, settings, start=start, end=end
    )
    documents = np.bincount(ev_t, minlength=n)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, ev_t, doc_time[ev_d])
    np.maximum.at(last, ev_t, doc_time[ev_d])
    out: list[dict[str, Any]] = []
    for r, tid in enumerate(trend_ids):
        if not documents[r]:
            continue
        dim_row, hor_row = dims[r, : len(SECTORS)], hors[r, : len(HORIZON_RINGS)]
        out.append(
            {
                "id": tid,
                "status": _status(int(tl.status[r, -1])) or "noise",
                "dimension": SECTORS[int(dim_row.argmax())] if dim_row.any() else None,
                "horizon": HORIZON_RINGS[int(hor_row.argmax())] if hor_row.any() else None,
                "documents": int(documents[r]),
                "sources": int(tl.sources[r, -1]),
                "popularity": round(float(tl.popularity[r, -1]), 4),
                "first_seen": _EPOCH + timedelta(seconds=float(first[r])),
                "last_seen": _EPOCH + timedelta(seconds=float(last[r])),
            }
        )
    return out


# ----- views ----------------------------------------------------------------------------------
def _majority(counter: Counter[str], order: tuple[str, ...]) -> str | None:
    if not counter:
        return None
    rank = {v: i for i, v in enumerate(order)}
    return min(counter, key=lambda v: (-counter[v], rank.get(v, len(rank)), v))


def _status(code: int) -> TrendStatus | None:
    return None if code == NONE else TREND_STATUSES[code]


def ring_move(previous: TrendStatus | None, status: TrendStatus) -> int:
    """zalando/tech-radar convention on status rings: 2 new, 1 moved in, -1 moved out, 0 same."""
    if status not in STATUS_RINGS:
        return 0
    if previous is None or previous not in STATUS_RINGS:
        return 2
    before, now = STATUS_RINGS.index(previous), STATUS_RINGS.index(status)
    return 1 if now < before else -1 if now > before else 0


def overview(
    repo: TrendRepository,
    settings: TrendSettings,
    *,
    corpus: TrendCorpus | None = None,
    as_of: datetime | None = None,
    with_members: Collection[int] | bool = False,
    embedder: Embedder | None = None,
    with_periods: bool = True,
) -> TrendsOverview:
    """Every trend as of `as_of` (default: the newest document). `with_members`: True for all
    trends, or the ids of the trends whose members to include; `embedder` adds each member's
    cosine to its trend's centroid; `with_periods=False` leaves the timelines out (summaries)."""
    corpus = corpus or TrendCorpus.load(repo)
    pdays = settings.period_days
    when = as_of or corpus.latest or corpus.now
    end = period_index(when, pdays)
    trends = {t.id: t for t in repo.trends()}
    by_trend: dict[int, list[ItemRecord]] = defaultdict(list)
    item_by_id = corpus.item_by_id
    for item_id, tid in repo.members().items():
        item = item_by_id.get(item_id)
        if item is not None and tid in trends and corpus.document_of(item).date <= when:
            by_trend[tid].append(item)
    order = sorted(by_trend)
    row_of = {tid: r for r, tid in enumerate(order)}
    site_code: dict[str, int] = {}
    ev_t: list[int] = []
    ev_p: list[int] = []
    ev_s: list[int] = []
    docs_of: dict[int, dict[int, int]] = {}  # trend → document → period
    for tid in order:
        docs: dict[int, int] = {}
        for item in by_trend[tid]:
            doc = corpus.document_of(item)
            if doc.id not in docs:
                docs[doc.id] = period_index(doc.date, pdays)
                ev_t.append(row_of[tid])
                ev_p.append(docs[doc.id])
                ev_s.append(site_code.setdefault(doc.site, len(site_code)))
        docs_of[tid] = docs
    first = min(ev_p, default=end)
    start = max(first, end - settings.history_days // pdays)
    p_arr = np.maximum(np.asarray(ev_p, dtype=np.int64), start)  # older documents: the first column
    tl = life_cycle(
        np.asarray(ev_t, dtype=np.int64), p_arr, np.asarray(ev_s), len(order), settings, start=start, end=end
    )
    wanted = set(order) if with_members is True else set(with_members or ())
    vectors: dict[int, np.ndarray] = {}
    if embedder is not None and wanted:
        chosen = [i for tid in order if tid in wanted for i in by_trend[tid]]
        vecs = item_vectors(repo, embedder, chosen)
        vectors = {i.id: v for i, v in zip(chosen, vecs, strict=True)}
    columns = (
        [(period_label(tl.start + c, pdays), period_start(tl.start + c, pdays)) for c in range(tl.periods)]
        if with_periods
        else []
    )
    views: list[TrendView] = []
    for tid in order:
        views.append(
            _view(
                trends[tid],
                by_trend[tid],
                docs_of[tid],
                corpus,
                tl,
                row_of[tid],
                columns,
                members=tid in wanted,
                vectors=vectors,
            )
        )
    col = tl.periods - 1
    return TrendsOverview(
        as_of=when,
        period=period_label(end, pdays),
        period_days=pdays,
        low_threshold=float(tl.low[col]) if np.isfinite(tl.low[col]) else 0.0,
        high_threshold=float(tl.high[col]) if np.isfinite(tl.high[col]) else 0.0,
        trends=views,
    )


def _view(
    rec: TrendRecord,
    items: list[ItemRecord],
    docs: dict[int, int],
    corpus: TrendCorpus,
    tl: Timeline,
    row: int,
    columns: list[tuple[str, date]],
    *,
    members: bool,
    vectors: dict[int, np.ndarray],
) -> TrendView:
    documents = [corpus.documents[d] for d in docs]
    status_row = tl.status[row]
    last = int(status_row[-1])
    prev = int(status_row[-2]) if tl.periods > 1 else NONE
    status = _status(last) or "noise"
    previous = _status(prev)
    first_col = max(0, min(docs.values()) - tl.start)
    # Built without re-validation: a long corpus has trends × periods of them.
    docs_row, sources_row, pop_row = (
        tl.docs[row].tolist(),
        tl.sources[row].tolist(),
        tl.popularity[row].tolist(),
    )
    codes = status_row.tolist()
    periods = [
        TrendPeriod.model_construct(
            period=columns[c][0],
            start=columns[c][1],
            documents=docs_row[c],
            sources=sources_row[c],
            popularity=round(pop_row[c], 4),
            status=_status(codes[c]),
        )
        for c in range(first_col, len(columns))
    ]
    dims = Counter(i.dimension for i in items if i.dimension)
    hors = Counter(i.horizon for i in items if i.horizon)
    centroid = l2_normalise(rec.vector_sum)[0]
    member_views: list[TrendMember] = []
    if members:
        for item in sorted(items, key=lambda i: (corpus.document_of(i).date, i.id), reverse=True):
            doc = corpus.document_of(item)
            art = corpus.articles[doc.id]
            analysis = corpus.analyses[item.analysis_id]
            vec = vectors.get(item.id)
            member_views.append(
                TrendMember(
                    item_id=item.id,
                    article_id=doc.id,
                    document_id=doc.id,
                    copies=[a for a in doc.articles if a != doc.id],
                    kind=item.kind,
                    name=item.name,
                    description=item.description,
                    evidence=item.evidence,
                    evidence_found=item.evidence_found,
                    relevancy=item.relevancy,
                    dimension=item.dimension,
                    horizon=item.horizon,
                    similarity=None if vec is None else round(float(vec @ centroid), 4),
                    date=doc.date,
                    title=analysis.title,
                    url=art.url,
                    site=doc.site,
                    origin=art.origin_label,
                    language=art.language,
                )
            )
    return TrendView(
        id=rec.id,
        name=rec.name,
        status=status,
        previous_status=previous,
        moved=ring_move(previous, status),
        dimension=_majority(dims, SECTORS),
        horizon=_majority(hors, HORIZON_RINGS),
        dimensions=dict(dims.most_common()),
        horizons=dict(hors.most_common()),
        kinds=dict(Counter(i.kind for i in items).most_common()),
        items=len(items),
        documents=len(documents),
        sources=len({d.site for d in documents}),
        origins=len({o for d in documents for o in d.origins}),
        site_names=sorted({d.site for d in documents}),
        languages=sorted({lang for d in documents if (lang := corpus.articles[d.id].language)}),
        first_seen=min(d.date for d in documents),
        last_seen=max(d.date for d in documents),
        popularity=round(float(tl.popularity[row, -1]), 4),
        periods=periods,
        members=member_views,
    )


def filter_trends(
    trends: list[TrendView],
    *,
    since: datetime | None = None,
    status: Collection[str] | None = None,
    dimension: Collection[str] | None = None,
) -> list[TrendView]:
    """Trends seen since a date, with one of the statuses and one of the dimensions given
    ("unclassified" matches trends without a dimension)."""
    out = []
    for t in trends:
        if since is not None and t.last_seen < since:
            continue
        if status and t.status not in status:
            continue
        if dimension and (t.dimension or UNCLASSIFIED) not in dimension:
            continue
        out.append(t)
    return out


def rank(trends: list[TrendView]) -> list[TrendView]:
    """Most notable first: status (strong, emerging, weak, fading, noise), then popularity."""
    order = {s: i for i, s in enumerate((*STATUS_RINGS, "noise"))}
    return sorted(trends, key=lambda t: (order[t.status], -t.popularity, -t.documents, t.id))


def radar(overview_: TrendsOverview, *, ring_by: RadarRing = "status", limit: int = 40) -> RadarView:
    """Trends on the radar: sector = majority dimension, ring = status (or horizon); noise is off.

    The strongest statuses are kept first when there are more than `limit`; entries are
    numbered sector by sector, ring by ring (inner first), like zalando/tech-radar."""
    candidates = [t for t in rank(overview_.trends) if t.status != "noise"][:limit]
    rings: list[str] = list(STATUS_RINGS) if ring_by == "status" else list(HORIZON_RINGS)
    sectors = list(SECTORS)
    if ring_by == "horizon":
        candidates = [t for t in candidates if t.horizon]
    if any(not t.dimension for t in candidates):
        sectors.append(UNCLASSIFIED)

    def ring_of(t: TrendView) -> str:
        return t.status if ring_by == "status" else str(t.horizon)

    placed = sorted(
        candidates,
        key=lambda t: (sectors.index(t.dimension or UNCLASSIFIED), rings.index(ring_of(t)), -t.popularity),
    )
    entries = [
        RadarEntry(
            number=n,
            trend_id=t.id,
            name=t.name,
            sector=t.dimension or UNCLASSIFIED,
            ring=ring_of(t),
            status=t.status,
            horizon=t.horizon,
            moved=t.moved if ring_by == "status" else (2 if t.moved == 2 else 0),
            popularity=t.popularity,
        )
        for n, t in enumerate(placed, 1)
    ]
    return RadarView(
        as_of=overview_.as_of,
        period=overview_.period,
        ring_by=ring_by,
        sectors=sectors,
        rings=rings,
        entries=entries,
    )


def previous_period_end(as_of: datetime, period_days: int) -> datetime:
    """The last moment of the period before the one containing `as_of`."""
    start = period_start(period_index(as_of, period_days), period_days)
    return datetime.combine(start, datetime.min.time()) - timedelta(seconds=1)


__all__ = [
    "STATUSES",
    "TrendUpdate",
    "filter_trends",
    "item_vectors",
    "overview",
    "radar",
    "rank",
    "update_trends",
]
