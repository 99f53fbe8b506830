"""Nearest chips by cosine similarity of their features, against a brute-force reference; the
neighbours' share of each tag; near-duplicate pairs whose tags differ."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_similarity

import model.neighbours
from model.audit import tag_reason
from model.neighbours import disagreeing_duplicates, nearest, neighbour_share
from model.tags import TAG_INDEX, TAGS


def _reference(features: np.ndarray, k: int, candidates: np.ndarray) -> list[list[int]]:
    """Every pair's cosine (scikit-learn), then each row's k best other candidates, ties to the
    lower row: one sort per row, no blocks, no partitioning."""
    sims = cosine_similarity(features)
    out = []
    for i in range(len(features)):
        others = [j for j in range(len(features)) if j != i and candidates[j]]
        out.append(sorted(others, key=lambda j: (-sims[i, j], j))[:k])
    return out


# Most chips candidates (every column computed, the others masked) or few (theirs copied).
@pytest.mark.parametrize("candidate_share", [0.8, 0.3])
@pytest.mark.parametrize("block_rows", [7, 1024])
def test_nearest_equals_brute_force(
    monkeypatch: pytest.MonkeyPatch, block_rows: int, candidate_share: float
) -> None:
    monkeypatch.setattr(model.neighbours, "BLOCK_ROWS", block_rows)
    rng = np.random.default_rng(3)
    # Clustered, non-negative like pooled ReLU features, and one exact duplicate row.
    centres = rng.gamma(2.0, 1.0, (5, 24))
    features = centres[rng.integers(0, 5, 60)] + rng.gamma(1.0, 0.3, (60, 24))
    features[17] = features[3]
    candidates = rng.random(60) < candidate_share
    candidates[17] = True
    found = nearest(features.astype(np.float16), 6, candidates=candidates)
    expected = _reference(features.astype(np.float16).astype(np.float32), 6, candidates)
    assert found.index.tolist() == expected
    sims = cosine_similarity(features.astype(np.float16).astype(np.float32))
    for i, row in enumerate(expected):
        np.testing.assert_allclose(found.similarity[i], sims[i, row], atol=1e-5)
    assert 3 not in found.index[3] and 17 in found.index[3] and found.similarity[3, 0] > 0.9999


def test_rows_without_features_and_too_few_candidates() -> None:
    features = np.array([[1, 0], [1, 0.1], [np.nan, np.nan], [0, 1]], dtype=np.float32)
    found = nearest(features, 5)
    # Three chips have features: each has the two others; the chip without has none, and is no
    # one's neighbour.
    assert found.index[:, 2:].tolist() == [[-1] * 3] * 4
    assert found.index[0, :2].tolist() == [1, 3]
    assert found.index[2].tolist() == [-1] * 5
    assert 2 not in found.index
    # Asked for some rows only, answers for those rows in that order.
    some = nearest(features, 1, rows=np.array([3, 0]))
    assert some.index[:, 0].tolist() == [1, 1]


def test_neighbour_share_and_reason() -> None:
    labels = np.zeros((5, len(TAGS)), np.float32)
    road = TAG_INDEX["road"]
    labels[[1, 2, 3], road] = 1
    features = np.array([[1, 0], [1, 0.1], [1, 0.2], [1, 0.3], [0, 1]], dtype=np.float32)
    found = nearest(features, 4)
    share, count = neighbour_share(found, labels)
    assert count.tolist() == [4] * 5
    assert share[0, road] == pytest.approx(3 / 4)  # chips 1, 2, 3 of its 4 neighbours
    assert share[1, road] == pytest.approx(2 / 4)
    assert (
        tag_reason("road", 0.031, False, share[0], 4) == "model 0.03; 3 of 4 similar chips have it"
    )
    assert (
        tag_reason("road", 0.031, True, share[0], 4) == "model 0.03; 1 of 4 similar chips lack it"
    )
    assert tag_reason("road", 0.5, True, None, None) == "model 0.50"


def test_disagreeing_duplicates() -> None:
    features = np.array([[1, 0, 0], [1, 0, 1e-4], [0, 1, 0], [0, 1, 1e-4], [0, 0, 1]], np.float32)
    labels = np.zeros((5, len(TAGS)), np.float32)
    labels[:, TAG_INDEX["clear"]] = 1
    labels[1, TAG_INDEX["road"]] = 1  # chips 0 and 1 are twins with different tags
    labelled = np.array([True, True, True, True, True])
    found = nearest(features, 2)
    pairs = disagreeing_duplicates(found, labels, labelled, cutoff=0.999)
    assert [(a, b) for a, b, _ in pairs] == [(0, 1)]  # 2 and 3 are twins who agree
    labelled[1] = False
    assert disagreeing_duplicates(found, labels, labelled, cutoff=0.999) == []
