"""Suspicion scoring: how strongly the model contradicts each crowd tag, and which chips first."""

from __future__ import annotations

import numpy as np
import pytest

from model.audit import (
    LEVEL_MEANINGS,
    LEVEL_NAMES,
    SUSPICION_CUTOFFS,
    chip_suspicion,
    disagreement_kinds,
    suspect_order,
    suspicion_levels,
    tag_suspicion,
)
from model.tags import TAG_INDEX, TAGS

N_TAGS = len(TAGS)


def _thresholds(value: float = 0.2) -> np.ndarray:
    return np.full(N_TAGS, value, dtype=np.float32)


def _row(on: dict[str, float], default: float = 0.0) -> np.ndarray:
    row = np.full(N_TAGS, default, dtype=np.float32)
    for tag, value in on.items():
        row[TAG_INDEX[tag]] = value
    return row


def test_zero_where_model_and_crowd_agree() -> None:
    rng = np.random.default_rng(0)
    thresholds = rng.uniform(0.05, 0.6, N_TAGS).astype(np.float32)
    probs = rng.uniform(0, 1, (200, N_TAGS)).astype(np.float32)
    crowd = (probs >= thresholds).astype(np.float32)  # the crowd says what the model calls
    scores = tag_suspicion(probs, crowd, thresholds)
    assert scores.shape == probs.shape
    assert np.all(scores == 0)
    # Flip every crowd label: now every entry off its threshold disagrees and scores > 0.
    flipped = tag_suspicion(probs, 1 - crowd, thresholds)
    off_threshold = np.abs(probs - thresholds) > 1e-3
    assert np.all(flipped[off_threshold] > 0)
    assert np.all(flipped >= 0)


def test_grows_with_confidence_against_the_crowd() -> None:
    thresholds = _thresholds(0.2)
    grid = np.linspace(0.0, 1.0, 101, dtype=np.float32)
    probs = np.tile(grid[:, None], (1, N_TAGS))
    tag = TAG_INDEX["road"]

    # Crowd says no: suspicion is 0 up to the threshold, then rises with the probability.
    crowd_no = np.zeros_like(probs)
    s_no = tag_suspicion(probs, crowd_no, thresholds)[:, tag]
    assert np.all(s_no[grid <= 0.2] == 0)
    above = s_no[grid > 0.2]
    assert np.all(above > 0)
    assert np.all(np.diff(above) >= 0)
    assert s_no[grid == np.float32(0.99)][0] > s_no[grid == np.float32(0.35)][0]

    # Crowd says yes: suspicion is 0 from the threshold up, and rises as the probability falls.
    crowd_yes = np.ones_like(probs)
    s_yes = tag_suspicion(probs, crowd_yes, thresholds)[:, tag]
    assert np.all(s_yes[grid >= 0.2] == 0)
    below = s_yes[grid < 0.2]
    assert np.all(below > 0)
    assert np.all(np.diff(below) <= 0)


def test_distance_is_measured_in_log_odds() -> None:
    """0.99 against a 0.2 threshold counts for more than 0.35; extreme values stay finite."""
    thresholds = _thresholds(0.2)
    probs = np.stack([_row({"road": p}) for p in (0.35, 0.99, 1.0)])
    crowd = np.zeros_like(probs)
    road = tag_suspicion(probs, crowd, thresholds)[:, TAG_INDEX["road"]]
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert road[0] == pytest.approx(logit(0.35) - logit(0.2), rel=1e-4)
    assert road[1] == pytest.approx(logit(0.99) - logit(0.2), rel=1e-4)
    assert np.isfinite(road).all() and road[2] >= road[1]


def test_respects_per_tag_thresholds() -> None:
    """The same probability is suspect against a rare tag's low threshold, not a high one."""
    probs = np.full((1, N_TAGS), 0.3, dtype=np.float32)
    crowd = np.zeros_like(probs)
    thresholds = _thresholds(0.5)
    thresholds[TAG_INDEX["blow_down"]] = 0.1
    scores = tag_suspicion(probs, crowd, thresholds)[0]
    assert scores[TAG_INDEX["blow_down"]] > 0
    assert np.count_nonzero(scores) == 1
    # And the other way: a crowd yes at 0.3 is suspect only where the threshold is above 0.3.
    scores_yes = tag_suspicion(probs, np.ones_like(probs), thresholds)[0]
    assert scores_yes[TAG_INDEX["blow_down"]] == 0
    assert np.count_nonzero(scores_yes) == N_TAGS - 1


def test_nan_rows_score_zero() -> None:
    """A chip not predicted yet says nothing against its crowd tags, whatever they are: crowd
    yes and crowd no, under thresholds on both sides of 0.5, so that a NaN read as any
    probability would contradict some of them."""
    thresholds = np.where(np.arange(N_TAGS) % 2 == 0, 0.1, 0.8).astype(np.float32)
    nan = np.full(N_TAGS, np.nan, dtype=np.float32)
    probs = np.stack([_row({"road": 0.99}), nan, nan, nan])
    crowd = np.stack(
        [np.zeros(N_TAGS), np.zeros(N_TAGS), np.ones(N_TAGS), np.arange(N_TAGS) % 3 == 0]
    ).astype(np.float32)
    scores = tag_suspicion(probs, crowd, thresholds)
    assert scores[0, TAG_INDEX["road"]] > 0  # a predicted row beside them still scores
    assert not np.isnan(scores).any()
    np.testing.assert_array_equal(scores[1:], 0.0)
    np.testing.assert_array_equal(chip_suspicion(scores)[1:], 0.0)


def test_one_strong_contradiction_outranks_a_weak_disagreement() -> None:
    thresholds = _thresholds(0.2)
    strong = _row({"primary": 0.99})  # crowd forgot primary; the model is sure of it
    weak = _row({"road": 0.25, "water": 0.22})  # two slight disagreements
    probs = np.stack([weak, strong])
    crowd = np.zeros_like(probs)
    scores = chip_suspicion(tag_suspicion(probs, crowd, thresholds))
    assert scores[1] > scores[0] > 0
    assert list(suspect_order(scores)) == [1, 0]


def test_chip_score_is_top_tag_plus_a_little_for_the_rest() -> None:
    tag_scores = np.zeros((3, N_TAGS))
    tag_scores[0, 0] = 2.0
    tag_scores[1, 0] = 2.0
    tag_scores[1, 5] = 1.0  # same top, one more suspect tag: ranks higher, but not doubled
    tag_scores[2, 3] = 2.5
    scores = chip_suspicion(tag_scores)
    assert scores[1] > scores[0] == pytest.approx(2.0)
    assert scores[1] < 3.0
    assert scores[2] > scores[1]


def test_violations_add() -> None:
    tag_scores = np.zeros((3, N_TAGS))
    tag_scores[:, 4] = 0.5
    base = chip_suspicion(tag_scores)
    with_viol = chip_suspicion(tag_scores, np.array([0, 1, 2]))
    assert with_viol[0] == pytest.approx(base[0])
    assert with_viol[1] > base[1]
    assert with_viol[2] - with_viol[1] == pytest.approx(with_viol[1] - with_viol[0])
    # A chip whose only problem is a broken rule is still a suspect.
    only_rule = chip_suspicion(np.zeros((2, N_TAGS)), np.array([0, 1]))
    assert only_rule[0] == 0 and only_rule[1] > 0


def test_chip_suspicion_of_no_chips() -> None:
    assert chip_suspicion(np.zeros((0, N_TAGS))).shape == (0,)
    assert suspect_order(np.zeros(0)).shape == (0,)


def test_disagreement_kinds() -> None:
    calls = np.array([[1, 0, 1, 0], [0, 0, 1, 1]], dtype=bool)
    crowd = np.array([[1, 1, 0, 0], [0, 1, 1, 0]], dtype=np.float32)
    yes_no, no_yes = disagreement_kinds(calls, crowd)
    assert yes_no.dtype == bool and no_yes.dtype == bool
    np.testing.assert_array_equal(yes_no, [[0, 0, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(no_yes, [[0, 1, 0, 0], [0, 1, 0, 0]])
    assert not (yes_no & no_yes).any()
    # Where they agree, neither kind.
    agree = ~(yes_no | no_yes)
    np.testing.assert_array_equal(agree, calls == (crowd > 0.5))


def test_suspect_order_is_stable_and_descending() -> None:
    scores = np.array([0.0, 2.0, 1.0, 2.0, 0.0, 1.0, 2.0])
    order = list(suspect_order(scores))
    assert order == [1, 3, 6, 2, 5, 0, 4]  # equal scores keep folder order
    rng = np.random.default_rng(1)
    many = rng.integers(0, 4, 500).astype(float)
    order = suspect_order(many)
    assert np.all(np.diff(many[order]) <= 0)
    for value in np.unique(many):
        same = order[many[order] == value]
        assert np.all(np.diff(same) > 0)


def test_suspicion_levels_at_their_cutoffs() -> None:
    assert SUSPICION_CUTOFFS == (3.0, 5.0, 8.0)
    scores = np.array([0.0, 2.9, 3.0, 3.01, 5.0, 5.01, 8.0, 8.01, 30.0])
    assert suspicion_levels(scores).tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3]
    assert suspicion_levels(np.zeros(0)).shape == (0,)
    assert len(LEVEL_NAMES) == len(LEVEL_MEANINGS) == len(SUSPICION_CUTOFFS) + 1
    # One sentence each, for the legend.
    assert all(m.count(". ") == 0 and m.endswith(".") for m in LEVEL_MEANINGS)


def test_a_confident_contradiction_is_high_and_a_borderline_one_none() -> None:
    thresholds = _thresholds(0.25)
    crowd = np.stack([_row({"clear": 1, "primary": 1})] * 3)
    probs = np.stack(
        [
            _row({"clear": 0.9, "primary": 0.95}, default=0.01),  # agrees
            _row({"clear": 0.9, "primary": 0.95, "road": 0.6}, default=0.01),  # a road, maybe
            _row({"clear": 0.9, "primary": 0.0001, "cloudy": 0.9999}, default=0.01),
        ]
    )
    scores = chip_suspicion(tag_suspicion(probs, crowd, thresholds))
    # road at 0.6 over a 0.25 threshold: log(0.6/0.4) - log(0.25/0.75) = 1.50 in log-odds.
    assert scores[1] == pytest.approx(np.log(1.5) + np.log(3), abs=1e-4)
    assert suspicion_levels(scores).tolist() == [0, 0, 3]
