"""Trends: clustering with known groups, stable ids, documents that count once, dates, and the
life-cycle rules on synthetic timelines with known answers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from horizonscan.similarity.embed import get_embedder
from horizonscan.store import Store
from horizonscan.store.trends import TrendRepository
from horizonscan.trends import (
    TrendConfigError,
    filter_trends,
    list_trends,
    load_trend_settings,
    trends_of_article,
)
from horizonscan.trends.calibration import PARAPHRASES, evaluate, labelled, pairwise_scores
from horizonscan.trends.cluster import TrendClusterer, cluster_all, match_ids
from horizonscan.trends.config import TrendSettings
from horizonscan.trends.dates import (
    article_date,
    parse_date,
    parse_review_period,
    period_index,
    period_label,
)
from horizonscan.trends.engine import overview, update_trends
from horizonscan.trends.lifecycle import EMERGING, FADING, NOISE, STATUSES, STRONG, life_cycle
from tests.test_trends_corpus import add_article

DAY0 = date(2024, 1, 1)


def _texts(concept: int) -> list[tuple[str, str, str]]:
    return [("signal", *p.split(": ", 1)) for p in PARAPHRASES[concept]]  # type: ignore[misc]


# ----- clustering ------------------------------------------------------------------------------
def test_clustering_recovers_items_with_known_groups() -> None:
    """12 concepts (including close neighbours: EV charging vs battery recycling, heat pumps vs
    data-centre heat) × 5 paraphrases, at the calibrated threshold, in shuffled orders."""
    texts, labels = labelled(range(12))
    vectors = get_embedder("use").embed(texts)
    precision, recall, f1 = evaluate(vectors, labels, TrendSettings().threshold, seeds=3)
    assert precision >= 0.85 and recall >= 0.8 and f1 >= 0.85, (precision, recall, f1)
    # The threshold matters: far below it neighbours merge, far above paraphrases split.
    assert evaluate(vectors, labels, 0.2, seeds=1)[0] < 0.5
    assert evaluate(vectors, labels, 0.8, seeds=1)[1] < 0.3


def test_pairwise_scores_ignore_distractor_pairs() -> None:
    # Two distractors clustered together are not a false positive; a distractor in a group is.
    assert pairwise_scores([0, 0, 1, 1], [0, 0, -1, -2]) == (1.0, 1.0, 1.0)
    p, _, _ = pairwise_scores([0, 0, 0], [0, 0, -1])
    assert p == pytest.approx(1 / 3)


def _unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def test_online_assignment_joins_nearest_centroid_or_seeds() -> None:
    rng = np.random.default_rng(0)
    centres = _unit(rng, 3)
    clusterer = TrendClusterer(32, 0.6, batch=4)
    clusterer.load([10], centres[:1] * 3, [3], next_id=11)  # an existing trend, id 10, 3 members
    noisy = centres[[0, 1, 1, 2, 0]] + 0.15 * _unit(rng, 5)
    ids, sims = clusterer.assign(noisy)
    assert ids[0] == ids[4] == 10  # the existing trend
    assert ids[1] == ids[2] and ids[1] not in (10, ids[3])  # a new trend, seeded once
    assert set(ids[1:4]) == {11, 12}  # fresh ids follow next_id
    assert all(s >= 0.6 for s in sims)
    assert clusterer.count(10) == 5 and clusterer.touched == {10, 11, 12}


def test_full_clustering_is_order_robust_and_relabels_compactly() -> None:
    rng = np.random.default_rng(1)
    centres = _unit(rng, 6)
    truth = np.repeat(np.arange(6), 8)
    x = centres[truth] + 0.25 * _unit(rng, len(truth))
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(truth))
        labels, sums, counts = cluster_all(x[order], 0.5)
        assert sorted(counts.tolist()) == [8] * 6 and len(sums) == 6
        assert pairwise_scores(list(labels), list(truth[order]))[2] == 1.0
        assert labels[0] == 0  # labels in order of first member


def test_match_ids_keeps_ids_by_member_overlap() -> None:
    old = {1: 7, 2: 7, 3: 7, 4: 9, 5: 9}
    items = [1, 2, 3, 4, 5, 6]
    # Trend 7 split (1, 2 | 3); 9 kept; item 6 is new.
    mapping, next_id = match_ids(items, np.array([0, 0, 1, 2, 2, 1]), old, next_id=10)
    assert mapping[0] == 7 and mapping[2] == 9
    assert mapping[1] == 10 and next_id == 11  # the smaller part gets a fresh id, never an old one


# ----- the stored corpus -----------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "hs.db")


def _update(store: Store, settings: TrendSettings | None = None, **kw: bool) -> object:
    return update_trends(
        TrendRepository(store.engine), get_embedder("use"), settings or TrendSettings(), **kw
    )


def _variants(concept: int, n: int, start: int = 0) -> list[tuple[str, str, str]]:
    """One paraphrase of a concept, as several articles would word it (a city each)."""
    name, desc = PARAPHRASES[concept][0].split(": ", 1)
    cities = ["Lyon", "Hamburg", "Valencia", "Turin", "Leeds", "Gdansk", "Porto", "Utrecht"]
    return [("signal", f"{name} in {c}", f"{desc[:-1]} in {c}.") for c in cities[start : start + n]]


def test_incremental_update_then_recluster_keeps_ids_and_names(store: Store) -> None:
    for k, item in enumerate(_variants(3, 3) + _variants(22, 3)):  # heat pumps, right to repair
        add_article(store, url=f"https://s{k}.example/a{k}", day=DAY0 + timedelta(days=k), items=[item])
    first = _update(store)
    assert first.reclustered and first.trends == 2  # type: ignore[attr-defined]
    repo = TrendRepository(store.engine)
    before = {t.id: t.name for t in repo.trends()}
    # A batch later: two more articles on each concept join their trends, incrementally.
    for k, item in enumerate(_variants(3, 2, start=3) + _variants(22, 2, start=3)):
        add_article(store, url=f"https://t{k}.example/b{k}", day=DAY0 + timedelta(days=20 + k), items=[item])
    second = _update(store, TrendSettings(recluster_growth=0))
    assert not second.reclustered and second.added == 4 and second.new_trends == 0  # type: ignore[attr-defined]
    assert {t.id: t.name for t in repo.trends()} == before
    assert sorted(t.size for t in repo.trends()) == [5, 5]
    # Explicit re-clustering: same groups, same ids, same names.
    third = _update(store, recluster=True)
    assert third.reclustered  # type: ignore[attr-defined]
    assert {t.id: t.name for t in repo.trends()} == before
    assert {len({m for m, t in repo.members().items() if t == tid}) for tid in before} == {5}


def test_superseded_analysis_leaves_its_trend(store: Store) -> None:
    a = add_article(
        store, url="https://a.example/1", day=DAY0, items=_texts(5)[:1], text="Text one about work."
    )
    add_article(store, url="https://b.example/2", day=DAY0, items=_texts(5)[1:2])
    _update(store)
    repo = TrendRepository(store.engine)
    assert len(repo.members()) == 2
    # The first article is analyzed again (another prompt): its new items are about something else.
    add_article(store, url="https://a.example/1", day=DAY0, items=_texts(17)[:1], text="Text one about work.",
                prompt_version="v-other")  # fmt: skip
    update = _update(store, TrendSettings(recluster_growth=0))
    assert update.removed == 1 and update.added == 1  # type: ignore[attr-defined]
    ov = overview(repo, TrendSettings(), with_members=True)
    names = {m.name for t in ov.trends for m in t.members if m.article_id == a}
    assert names == {_texts(17)[0][1]}


def test_copies_count_once_and_sites_are_distinct(store: Store) -> None:
    """Ten copies of one press release are not ten signals: a reused analysis, the same text on
    other sites, and a near-duplicate text each count once; distinct sites count apart."""
    item = _texts(23)[:1]  # central bank digital currencies
    release = "The central bank designs an electronic currency for everyday payments. " * 8
    first = add_article(store, url="https://www.wire.example/pr", day=DAY0, items=item, text=release)
    add_article(store, url="https://copy1.example/pr", day=DAY0 + timedelta(days=1), items=item,
                text=release + "Republished here.", reused_from=first)  # fmt: skip
    # The same text under another URL has the same text hash: one document.
    add_article(store, url="https://copy2.example/pr", day=DAY0 + timedelta(days=2), items=item, text=release)
    # Then two independent articles from two other sites.
    add_article(store, url="https://news-a.example/x", day=DAY0 + timedelta(days=9), items=_texts(23)[1:2])
    add_article(store, url="https://news-b.example/y", day=DAY0 + timedelta(days=12), items=_texts(23)[2:3])
    _update(store)
    ov = overview(TrendRepository(store.engine), TrendSettings(), with_members=True)
    [trend] = ov.trends
    assert trend.documents == 3 and trend.sources == 3
    assert trend.site_names == ["news-a.example", "news-b.example", "wire.example"]
    release_member = next(m for m in trend.members if m.article_id == first)
    assert len(release_member.copies) == 2
    assert [t.id for t in trends_of_article(store, first)] == [trend.id]
    [brief] = list_trends(store, dimension={"technological"})
    assert (brief.id, brief.documents, brief.sources) == (trend.id, 3, 3)
    assert list_trends(store, status={brief.status}) == [brief] and list_trends(store, status={"x"}) == []


def test_dimension_and_horizon_are_the_members_majority(store: Store) -> None:
    for k, (dim, hor) in enumerate([("economic", "H1"), ("economic", "H3"), ("political", "H3")]):
        day = DAY0 + timedelta(days=k)
        add_article(store, url=f"https://d{k}.example/", day=day, items=_texts(21)[k : k + 1], dimension=dim,
                    horizon=hor)  # fmt: skip
    _update(store)
    ov = overview(TrendRepository(store.engine), TrendSettings())
    [t] = ov.trends
    assert (t.dimension, t.horizon) == ("economic", "H3")
    assert t.dimensions == {"economic": 2, "political": 1}
    assert filter_trends(ov.trends, dimension={"economic"}) == [t]
    assert filter_trends(ov.trends, dimension={"social", "unclassified"}) == []
    assert filter_trends(ov.trends, since=datetime(2024, 2, 1)) == []


# ----- dates and settings ----------------------------------------------------------------------
def test_article_dates_are_parsed_robustly() -> None:
    seen = datetime(2024, 6, 1, 12)
    assert parse_date("2024-03-05T10:00:00Z") == datetime(2024, 3, 5, 10)
    assert parse_date("2024-03-05T10:00:00+02:00") == datetime(2024, 3, 5, 8)
    assert parse_date("Tue, 05 Mar 2024 10:00:00 GMT") == datetime(2024, 3, 5, 10)
    assert parse_date("5 March 2024") == parse_date("March 5th, 2024") == datetime(2024, 3, 5)
    assert parse_date("5. März 2024") == parse_date("5 mars 2024") == datetime(2024, 3, 5)
    assert parse_date("Published on 2024-03-05 by the desk") == datetime(2024, 3, 5)
    assert parse_date("25/03/2024") == datetime(2024, 3, 25) and parse_date("03/25/2024") == datetime(
        2024, 3, 25
    )
    for bad in (None, "", "yesterday", "2024-13-45", "32 March 2024"):
        assert parse_date(bad) is None
    # Implausible dates are not trusted: the first-seen time is used instead.
    assert article_date("2031-01-01", seen) == seen  # after it was seen: a typo or a zone gone wrong
    assert article_date("1970-01-01", seen) == seen
    assert article_date("not a date", seen) == seen
    assert article_date("2024-05-31", seen) == datetime(2024, 5, 31)


def test_review_periods_and_labels() -> None:
    assert parse_review_period("2024-Q1")[:2] == (datetime(2024, 1, 1), datetime(2024, 4, 1))
    assert parse_review_period("2024-q4")[1:] == (datetime(2025, 1, 1), "2024-Q4")
    assert parse_review_period("2024-03")[:2] == (datetime(2024, 3, 1), datetime(2024, 4, 1))
    assert parse_review_period("2024-12")[1] == datetime(2025, 1, 1)
    assert parse_review_period("2024-W07")[:2] == (datetime(2024, 2, 12), datetime(2024, 2, 19))
    assert parse_review_period("2024")[2] == "2024"
    for bad in ("2024-Q5", "2024-13", "2024-W60", "March", "2024-3", ""):
        with pytest.raises(ValueError):
            parse_review_period(bad)
    assert period_label(period_index(datetime(2024, 2, 14), 7), 7) == "2024-W07"  # ISO weeks
    assert period_label(period_index(date(2024, 2, 14), 14), 14) == "2024-02-05"


def test_trend_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HORIZONSCAN_TRENDS_PERIOD_DAYS", "14")
    assert load_trend_settings().period_days == 14
    assert load_trend_settings(period_days=30).period_days == 30  # a flag beats the environment
    monkeypatch.setenv("HORIZONSCAN_TRENDS_THRESHOLD", "1.5")
    with pytest.raises(TrendConfigError, match="threshold"):
        load_trend_settings()
    monkeypatch.delenv("HORIZONSCAN_TRENDS_THRESHOLD")
    with pytest.raises(TrendConfigError, match="low_percentile"):
        load_trend_settings(low_percentile=80)


# ----- life cycle ------------------------------------------------------------------------------
def _background(rng: np.random.Generator, trends: int, weeks: int) -> list[tuple[int, int, int]]:
    """Ordinary trends: a few articles each, at random weeks, from a handful of sites; and busy
    steady ones (3 a week), so the percentiles are those of a living corpus."""
    events = []
    for t in range(trends):
        for _ in range(int(rng.integers(2, 6))):
            events.append((t, int(rng.integers(0, weeks)), int(rng.integers(0, 8))))
    for t in range(trends, trends + 6):
        for w in range(weeks):
            events += [(t, w, int(rng.integers(0, 8))) for _ in range(3)]
    return events


def _run(events: list[tuple[int, int, int]], n: int, weeks: int) -> np.ndarray:
    t, p, s = (np.array(x) for x in zip(*events, strict=True))
    tl = life_cycle(t, p, s, n, TrendSettings(), start=0, end=weeks - 1)
    return tl.status


def _story(codes: np.ndarray) -> str:
    return "".join("-" if c < 0 else STATUSES[c][0].upper() for c in codes)


def test_single_old_mention_is_noise() -> None:
    rng = np.random.default_rng(3)
    events = _background(rng, 30, 52)
    events.append((36, 5, 99))
    status = _run(events, 37, 52)
    assert (status[36, 5:] == NOISE).all(), _story(status[36])
    assert (status[36, :5] < 0).all()  # it did not exist before


def test_spreading_change_becomes_emerging_then_strong() -> None:
    """More articles every week, from more and more sites: emerging first, then strong."""
    rng = np.random.default_rng(4)
    events = _background(rng, 30, 52)
    site = 100
    for w in range(20, 52):
        for _ in range(1 + (w - 20) // 3):
            events.append((36, w, site))
            site += 1
    status = _run(events, 37, 52)
    story = _story(status[36])
    first_emerging = story.find("E")
    first_strong = story.find("S")
    assert 20 <= first_emerging < first_strong, story
    assert story.endswith("S" * 8), story


def test_trend_that_stops_decays_to_fading_then_noise() -> None:
    rng = np.random.default_rng(5)
    events = _background(rng, 30, 80)
    for w in range(5, 30):
        events += [(36, w, int(rng.integers(0, 8))) for _ in range(4)]
    status = _run(events, 37, 80)
    story = _story(status[36])
    assert "S" in story[10:30], story
    assert (status[36, 33:40] == FADING).all(), story  # silent from week 30: fading after 3 weeks
    assert status[36, -1] == NOISE, story  # long silent: below the low percentile
    assert not (status[36, 33:] == STRONG).any(), story  # no way back without new articles


def test_popularity_grows_by_documents_and_decays_as_documented() -> None:
    s = TrendSettings()
    tl = life_cycle(np.array([0, 0, 0]), np.array([0, 0, 1]), np.array([0, 1, 2]), 1, s, start=0, end=12)
    pop = tl.popularity[0]
    assert pop[0] == 2 and pop[1] == 3  # grows with each document
    for t in range(2, 13):  # p·exp(-d·Δt^k) from the last active period
        assert pop[t] == pytest.approx(3 * np.exp(-s.decay_factor * (t - 1) ** s.decay_power))
    assert tl.sources[0].tolist()[:2] == [2, 3]


def test_new_and_diverse_trend_is_emerging_even_before_it_accelerates() -> None:
    rng = np.random.default_rng(6)
    events = _background(rng, 30, 30)
    events += [(36, 28, 200), (36, 28, 201), (36, 29, 202)]  # new, three sites
    status = _run(events, 37, 30)
    assert status[36, -1] in (EMERGING, STRONG), _story(status[36])


def test_stored_summaries_match_the_views(store: Store) -> None:
    """The vectorised summary written after every batch says what the full view says."""
    rng = np.random.default_rng(8)
    for k in range(40):
        concept = int(rng.choice([0, 3, 5, 7, 22]))
        para = PARAPHRASES[concept][int(rng.integers(0, 5))]
        dim = ("economic", "social", "values")[int(rng.integers(0, 3))]
        day = DAY0 + timedelta(days=int(rng.integers(0, 200)))
        add_article(store, url=f"https://s{int(rng.integers(0, 6))}.example/{k}", day=day,
                    items=[("signal", *para.split(": ", 1))], dimension=dim)  # type: ignore[list-item]  # fmt: skip
    _update(store)
    repo = TrendRepository(store.engine)
    stored = {t.id: t for t in repo.trends()}
    views = overview(repo, TrendSettings()).trends
    assert len(views) == len(stored) >= 3
    for v in views:
        s = stored[v.id]
        assert (s.status, s.dimension, s.horizon, s.documents, s.sources) == (
            v.status, v.dimension, v.horizon, v.documents, v.sources,
        )  # fmt: skip
        assert s.popularity == pytest.approx(v.popularity)
        assert abs((s.first_seen - v.first_seen).total_seconds()) < 1  # type: ignore[operator]
        assert abs((s.last_seen - v.last_seen).total_seconds()) < 1  # type: ignore[operator]


def test_trend_parameters_come_from_the_config_file_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `[trends]` table in horizonscan.toml is read; HORIZONSCAN_TRENDS_* overrides it."""
    from horizonscan.config import load_settings
    from horizonscan.trends import TrendConfigError, load_trend_settings

    (tmp_path / "horizonscan.toml").write_text("[trends]\nperiod_days = 30\nhigh_percentile = 80\n")
    settings, _ = load_settings(cwd=tmp_path)
    ts = load_trend_settings(settings)
    assert (ts.period_days, ts.high_percentile) == (30, 80.0)
    monkeypatch.setenv("HORIZONSCAN_TRENDS_PERIOD_DAYS", "14")
    assert load_trend_settings(settings).period_days == 14
    (tmp_path / "horizonscan.toml").write_text("[trends]\nperiod_days = 0\n")
    monkeypatch.delenv("HORIZONSCAN_TRENDS_PERIOD_DAYS")
    with pytest.raises(TrendConfigError, match="period_days"):
        load_trend_settings(load_settings(cwd=tmp_path)[0])
