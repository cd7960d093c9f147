"""Tests for the similarity stage (no network; real USE model loaded once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from horizonscan.similarity import (
    StoryGrouper,
    VectorIndex,
    build_signatures,
    compare_jsonl,
    exact_key,
    get_embedder,
    get_scorer,
    near_duplicate_key,
    score_signature_pairs,
)
from horizonscan.similarity.gbm import TinyGBM
from horizonscan.similarity.neardup import DEFAULT_JACCARD, jaccard
from horizonscan.similarity.text import (
    chunk_text,
    entity_tokens,
    guess_lang,
    number_tokens,
    repair_text,
    word_shingles,
)


def group(ids, vectors, signatures=None, threshold=None):  # type: ignore[no-untyped-def]
    """Batch grouping from scratch, as the corpus stage does it: one StoryGrouper, all at once."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return StoryGrouper(threshold, dim=vectors.shape[1]).add_batch(ids, vectors, signatures)


def is_near_duplicate(a: str, b: str) -> bool:
    """The corpus stage's rule: same normalised text, or shingle Jaccard >= 0.7."""
    return exact_key(a) == exact_key(b) or jaccard(word_shingles(a), word_shingles(b)) >= DEFAULT_JACCARD


SHARED = Path(__file__).parents[2] / "shared"
SEEDS = SHARED / "seeds"
FR = SEEDS / "000_a10e5551f6d12a21.txt"
DE = SEEDS / "002_3e7c3ba221e95c2a.txt"

UNRELATED_1 = (
    "Heavy rain floods coastal towns in southern Chile\n\n"
    "Emergency services in the Biobío region evacuated 3,200 residents on Tuesday after two days of "
    "torrential rain caused rivers to burst their banks. Officials said schools would stay closed."
)
UNRELATED_2 = (
    "Le club de football de Lyon recrute un nouvel entraîneur\n\n"
    "L'Olympique lyonnais a annoncé jeudi la nomination d'un entraîneur portugais pour la fin de la "
    "saison, après une série de défaites qui a plongé l'équipe dans le bas du classement."
)


@pytest.fixture(scope="session")
def seeds() -> tuple[str, str]:
    if not (FR.exists() and DE.exists()):
        pytest.skip("../shared/seeds not available")
    return FR.read_text(encoding="utf-8"), DE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def sigs(seeds: tuple[str, str]):  # type: ignore[no-untyped-def]
    """Signatures for FR, DE, unrelated 1, unrelated 2 (one batched embedding call)."""
    return build_signatures([seeds[0], seeds[1], UNRELATED_1, UNRELATED_2], ["fr", "de", None, None])


def test_embedder_rows_are_normalised() -> None:
    vecs = get_embedder("use").embed(["Amazon cuts Alexa jobs", "Amazon supprime des emplois", ""])
    assert vecs.shape == (3, 512)
    assert vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


def test_bad_embedder_spec() -> None:
    with pytest.raises(ValueError):
        get_embedder("nope:x:y")


def test_seed_pair_scores_high_unrelated_low(sigs) -> None:  # type: ignore[no-untyped-def]
    fr, de, u1, u2 = sigs
    scores = score_signature_pairs([fr, fr, de, u1, fr], [de, u1, u2, u2, fr])
    assert np.all((scores >= 0) & (scores <= 1))
    thr = get_scorer().threshold
    assert scores[0] >= thr, scores
    assert scores[0] > 0.6
    assert np.all(scores[1:4] < thr), scores
    assert scores[4] > 0.9  # an article with itself


def test_seeds_land_in_one_story(sigs) -> None:  # type: ignore[no-untyped-def]
    vecs = np.stack([s.vector for s in sigs])
    story = group(["fr", "de", "u1", "u2"], vecs, sigs)
    assert story[0] == story[1] == "fr"
    assert story[2] == "u1" and story[3] == "u2"
    # vector-only grouping (cosine model) agrees on this easy case
    story_v = group(["fr", "de", "u1", "u2"], vecs)
    assert story_v[0] == story_v[1] and len(set(story_v)) == 3


def test_compare_jsonl_keeps_keys_and_scores(seeds: tuple[str, str]) -> None:
    lines = [
        json.dumps({"id": 7, "text1": seeds[0], "text2": seeds[1], "lang1": "fr", "lang2": "de"}),
        "",
        json.dumps({"id": 8, "text1": UNRELATED_1, "text2": UNRELATED_2, "extra": [1, 2]}),
    ]
    out = [json.loads(x) for x in compare_jsonl(lines)]
    assert [o["id"] for o in out] == [7, 8]
    assert out[1]["extra"] == [1, 2]
    assert 0.0 <= out[1]["score"] < out[0]["score"] <= 1.0


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", '{"text1": "a"}', '{"text1": "a", "text2": 3}'])
def test_compare_jsonl_bad_line_raises_with_line_number(bad: str) -> None:
    with pytest.raises(ValueError, match="line 1"):
        list(compare_jsonl([bad]))


def test_near_duplicates() -> None:
    a = UNRELATED_1
    b = UNRELATED_1.replace("Tuesday", "Wednesday").upper() + "  "
    assert exact_key(a) == exact_key(a.upper().replace(",", " , "))
    assert is_near_duplicate(a, b)
    assert not is_near_duplicate(a, UNRELATED_2)
    assert set(near_duplicate_key(a)) & set(near_duplicate_key(b))
    assert not set(near_duplicate_key(a)) & set(
        near_duplicate_key("Something entirely different about markets and interest rates today.")
    )


def test_text_helpers() -> None:
    assert "ã" not in repair_text("franÃ§ais")
    assert {"amazon", "alexa"} <= entity_tokens("Amazon cuts jobs in its Alexa unit, says CEO.")
    assert number_tokens("1,200 people and 1.200 more in 2023") == frozenset({"1200", "2023"})
    assert guess_lang("Der Hund ist nicht in dem Haus und die Katze auch nicht.") == "de"
    assert guess_lang("这是一个关于经济的新闻报道。") == "zh"
    chunks = chunk_text("Sentence one. " * 100, max_chars=100, max_chunks=3)
    assert len(chunks) == 3 and all(len(c) <= 100 for c in chunks)


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 4 + 1, dim))
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_knn_matches_brute_force() -> None:
    x = _clustered(700, 64, 0)
    index = VectorIndex(64, block=128)
    index.add(list(range(len(x))), x)
    nbr, sims = index.knn_all(5, exact=True)
    full = x @ x.T
    np.fill_diagonal(full, -np.inf)
    brute = np.argsort(-full, axis=1)[:, :5]
    assert np.array_equal(np.sort(nbr, axis=1), np.sort(brute, axis=1))
    assert np.allclose(sims, np.take_along_axis(full, brute, 1), atol=1e-5)
    # IVF mode (both batching strategies): exact scores for what it returns and
    # high recall of the strong neighbours (cosine >= 0.5), which grouping needs
    strong = np.take_along_axis(full, brute, 1) >= 0.5
    for pnbr, psims in (
        index.knn_all(5, exact=False),
        index.search(x[:50], 5, exclude=np.arange(50), exact=False),
    ):
        m = len(pnbr)
        found = sum(len(set(a) & set(b[s])) for a, b, s in zip(pnbr, brute[:m], strong[:m], strict=True))
        assert found / strong[:m].sum() > 0.95
        assert np.allclose(psims, np.take_along_axis(full[:m], np.where(pnbr >= 0, pnbr, 0), 1), atol=1e-5)
    # "before" restricts to earlier positions
    bn, _ = index.search(x[10:20], 3, before=np.arange(10, 20))
    assert np.all(bn < np.arange(10, 20)[:, None])


def test_grouping_incremental_equals_batch() -> None:
    x = _clustered(300, 32, 1)
    ids = [f"a{i}" for i in range(len(x))]
    batch = group(ids, x, threshold=0.5)
    inc = StoryGrouper(0.5, dim=32)
    one_by_one = [inc.add(i, v) for i, v in zip(ids, x, strict=True)]
    assert batch == one_by_one
    assert 1 < len(set(batch)) < len(ids)
    assert inc.stories[batch[0]][0] == batch[0]


def test_tiny_gbm_learns_and_roundtrips() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((400, 3))
    y = np.where(x[:, 0] > 0.5, 1.0, 0.0) + 0.5 * x[:, 1]
    m = TinyGBM(n_trees=80, learning_rate=0.2).fit(x, y)
    assert np.corrcoef(m.predict(x), y)[0, 1] > 0.95
    m2 = TinyGBM.from_json(json.loads(json.dumps(m.to_json())))
    assert np.allclose(m.predict(x), m2.predict(x), atol=1e-4)
