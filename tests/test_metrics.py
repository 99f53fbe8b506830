"""Scores against scikit-learn, the empty-chip convention, threshold tuning, the weather rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score, precision_recall_fscore_support

from model import metrics
from model.metrics import (
    GRID,
    cross_validated_calls,
    cross_validated_summary,
    cross_validated_thresholds,
    decide,
    fbeta_per_sample,
    fbeta_samples,
    log_odds,
    per_tag_scores,
    rule_summary,
    summary,
    threshold_calls,
    tune_thresholds,
)
from model.tags import LAND_TAGS, TAG_INDEX, TAGS, WEATHER_INDICES, from_vector, rule_violations


def _random_case(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """True tags (every chip has at least one) and noisy predictions, with some tags never
    predicted or never true so that the zero-division cases come up."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.01, 0.6, len(TAGS))
    y_true = rng.random((n, len(TAGS))) < rates
    y_true[np.arange(n), rng.integers(0, len(TAGS), n)] = True
    y_true[:, -1] = False  # a tag nobody has
    flip = rng.random(y_true.shape) < 0.2
    y_pred = y_true ^ flip
    y_pred[:, -2] = False  # a tag the model never calls
    return y_true.astype(np.float32), y_pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_tag_scores_match_sklearn(seed: int) -> None:
    y_true, y_pred = _random_case(seed)
    ours = per_tag_scores(y_true, y_pred)
    p, r, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0
    )
    _, _, f2, _ = precision_recall_fscore_support(
        y_true, y_pred, beta=2.0, average=None, zero_division=0
    )
    for i, tag in enumerate(TAGS):
        s = ours[tag]
        assert s.support == support[i]
        assert s.predicted == int(y_pred[:, i].sum())
        assert s.precision == pytest.approx(p[i])
        assert s.recall == pytest.approx(r[i])
        assert s.f1 == pytest.approx(f1[i])
        assert s.f2 == pytest.approx(f2[i])
    assert ours[TAGS[-1]].support == 0 and ours[TAGS[-1]].recall == 0.0
    assert ours[TAGS[-2]].predicted == 0 and ours[TAGS[-2]].precision == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("beta", [1.0, 2.0, 0.5])
def test_fbeta_samples_matches_sklearn(seed: int, beta: float) -> None:
    y_true, y_pred = _random_case(seed)
    assert y_true.sum(axis=1).min() >= 1
    y_pred[:5] = False  # chips with tags but no predictions score 0
    expected = fbeta_score(y_true, y_pred, beta=beta, average="samples", zero_division=0)
    assert fbeta_samples(y_true, y_pred, beta) == pytest.approx(expected)


def test_summary_matches_sklearn() -> None:
    y_true, y_pred = _random_case(3)
    report = summary(y_true, y_pred)
    assert report["n_chips"] == len(y_true)
    assert report["f2_samples"] == pytest.approx(
        fbeta_score(y_true, y_pred, beta=2, average="samples", zero_division=0), abs=1e-12
    )
    assert report["f1_samples"] == pytest.approx(
        f1_score(y_true, y_pred, average="samples", zero_division=0), abs=1e-12
    )
    assert report["f2_samples"] != pytest.approx(report["f1_samples"])  # the case tells them apart
    assert report["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12
    )
    p, r, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0
    )
    _, _, f2, _ = precision_recall_fscore_support(
        y_true, y_pred, beta=2.0, average=None, zero_division=0
    )
    assert list(report["per_tag"]) == list(TAGS)
    for i, tag in enumerate(TAGS):
        assert report["per_tag"][tag] == pytest.approx(
            {
                "support": support[i],
                "predicted": y_pred[:, i].sum(),
                "precision": p[i],
                "recall": r[i],
                "f1": f1[i],
                "f2": f2[i],
            }
        )


def test_empty_chip_convention_by_hand() -> None:
    none = np.zeros((1, 17), dtype=bool)
    one = none.copy()
    one[0, 4] = True
    # Nothing to find and nothing claimed: a perfect score.
    assert fbeta_per_sample(none, none, 2.0).tolist() == [1.0]
    # Something claimed where nothing was true, or something missed: zero.
    assert fbeta_per_sample(none, one, 2.0).tolist() == [0.0]
    assert fbeta_per_sample(one, none, 2.0).tolist() == [0.0]
    assert fbeta_samples(np.vstack([none, one]), np.vstack([none, one]), 2.0) == 1.0


def test_fbeta_per_sample_by_hand() -> None:
    y_true = np.zeros((1, 17), dtype=bool)
    y_pred = np.zeros((1, 17), dtype=bool)
    y_true[0, [0, 4, 5]] = True  # three true tags
    y_pred[0, [0, 4, 6, 7]] = True  # two right, two wrong
    precision, recall = 2 / 4, 2 / 3
    f2 = 5 * precision * recall / (4 * precision + recall)
    assert fbeta_per_sample(y_true, y_pred, 2.0)[0] == pytest.approx(f2)
    assert np.isnan(fbeta_samples(y_true[:0], y_pred[:0], 2.0))


def _probabilities(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Labels with exactly one weather tag, and probabilities that rank them imperfectly,
    calibrated so that 0.2 is not the best threshold."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, len(TAGS)), dtype=np.float32)
    y[np.arange(n), rng.choice(WEATHER_INDICES, n, p=[0.6, 0.2, 0.1, 0.1])] = 1
    land = rng.random((n, len(TAGS) - 4)) < np.linspace(0.5, 0.05, len(TAGS) - 4)
    y[:, 4:] = land
    noise = rng.normal(0, 0.18, y.shape)
    probs = np.clip(0.45 * y + 0.25 + noise, 0, 1).astype(np.float32)
    return y, probs


def test_tune_thresholds_beats_or_equals_the_default() -> None:
    y, probs = _probabilities(0)
    default = fbeta_samples(y, threshold_calls(probs, np.full(17, 0.2)), 2.0)
    thresholds = tune_thresholds(y, probs)
    tuned = fbeta_samples(y, threshold_calls(probs, thresholds), 2.0)
    assert thresholds.shape == (17,)
    assert np.isin(np.round(thresholds, 2), GRID).all()
    assert tuned >= default
    assert tuned > default + 0.01  # probabilities shifted by +0.25: 0.2 is clearly too low


def test_tune_thresholds_for_f2_leaves_rare_tags_on_the_global_value() -> None:
    y, probs = _probabilities(1)
    y[:, -1] = 0
    y[:3, -1] = 1  # 3 positives: too few to fit a threshold on
    thresholds = tune_thresholds(y, probs, min_positives=25, tag_f1_last=False)
    scores = [fbeta_samples(y, threshold_calls(probs, np.full(17, g)), 2.0) for g in GRID]
    global_value = float(GRID[int(np.argmax(scores))])
    assert thresholds[-1] == pytest.approx(global_value)
    # Common land tags are free to move off it.
    assert not np.allclose(thresholds[4:10], global_value)


def test_tag_f1_step_raises_macro_f1_and_gives_no_samples_f2_back() -> None:
    y, probs = _probabilities(3)
    y[:, -1] = 0
    y[:6, -1] = 1  # a rare tag, left on the global value by the F2 step...
    noise = np.random.default_rng(3).normal(0, 0.12, len(y))
    probs[:, -1] = np.clip(0.5 * y[:, -1] + 0.2 + noise, 0, 1)  # ...where it is called too often
    for_f2 = tune_thresholds(y, probs, tag_f1_last=False)
    final = tune_thresholds(y, probs)
    f2_calls, final_calls = threshold_calls(probs, for_f2), threshold_calls(probs, final)
    assert fbeta_samples(y, final_calls, 2) >= fbeta_samples(y, f2_calls, 2)
    before, after = per_tag_scores(y, f2_calls), per_tag_scores(y, final_calls)
    assert all(after[tag].f1 >= before[tag].f1 for tag in TAGS)
    assert after[TAGS[-1]].f1 > before[TAGS[-1]].f1 + 0.05
    assert summary(y, final_calls)["macro_f1"] > summary(y, f2_calls)["macro_f1"]


def test_cross_validated_calls_shape_and_honesty() -> None:
    y, probs = _probabilities(2)
    for argmax in (False, True):
        calls = cross_validated_calls(y, probs, argmax, folds=2, seed=0)
        assert calls.shape == probs.shape and calls.dtype == bool
        assert not any(rule_violations(from_vector(row)) for row in calls)
        in_sample = decide(probs, tune_thresholds(y, probs), argmax)
        # Out-of-fold thresholds cannot beat thresholds fitted on the very same chips by much.
        assert fbeta_samples(y, calls, 2) <= fbeta_samples(y, in_sample, 2) + 0.02
    assert np.array_equal(
        cross_validated_calls(y, probs, True, seed=5), cross_validated_calls(y, probs, True, seed=5)
    )


@pytest.mark.parametrize("argmax", [False, True])
def test_cross_validated_thresholds_are_tuned_on_the_other_half_only(
    argmax: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy on threshold tuning: which chips each fold's thresholds were fitted on."""
    y, probs = _probabilities(2)
    n = len(probs)
    row_of = {row.tobytes(): i for i, row in enumerate(probs)}
    assert len(row_of) == n  # every chip's probabilities differ: rows can be told apart
    fits: list[tuple[set[int], np.ndarray]] = []
    real_tune = metrics.tune_thresholds

    def spy(y_rows: np.ndarray, prob_rows: np.ndarray, *args, **kwargs) -> np.ndarray:
        rows = [row_of[row.tobytes()] for row in prob_rows]
        np.testing.assert_array_equal(y_rows, y[rows])  # labels travel with their chips
        thresholds = real_tune(y_rows, prob_rows, *args, **kwargs)
        fits.append((set(rows), thresholds))
        return thresholds

    monkeypatch.setattr(metrics, "tune_thresholds", spy)
    calls = cross_validated_calls(y, probs, argmax, folds=2, seed=0)
    assert len(fits) == 2
    (first, _), (second, _) = fits
    assert first.isdisjoint(second) and first | second == set(range(n))
    assert abs(len(first) - len(second)) <= 1
    for fitted_on, thresholds in fits:
        # The chips left out of this fit are called with its thresholds, and only they are.
        held = sorted(set(range(n)) - fitted_on)
        np.testing.assert_array_equal(calls[held], decide(probs[held], thresholds, argmax))


def test_cross_validated_summary_pools_the_draws() -> None:
    y, probs = _probabilities(4)
    pooled = cross_validated_summary(y, probs, False, folds=2, repeats=3, seed=7)
    draws = [summary(y, cross_validated_calls(y, probs, False, 2, seed)) for seed in (7, 8, 9)]
    assert pooled["n_chips"] == len(y)
    # Samples F1/F2: the mean of the draws; per tag: counts summed over the draws.
    assert pooled["f2_samples"] == pytest.approx(np.mean([d["f2_samples"] for d in draws]))
    assert pooled["f1_samples"] == pytest.approx(np.mean([d["f1_samples"] for d in draws]))
    assert pooled["per_draw"]["macro_f1"] == [round(d["macro_f1"], 4) for d in draws]
    for tag in TAGS:
        counts = [d["per_tag"][tag] for d in draws]
        assert pooled["per_tag"][tag]["support"] == counts[0]["support"]
        predicted = sum(c["predicted"] for c in counts)
        assert pooled["per_tag"][tag]["predicted"] == round(predicted / 3, 1)
        true_positives = sum(c["recall"] * c["support"] for c in counts)
        f1 = 2 * true_positives / (3 * counts[0]["support"] + predicted)
        assert pooled["per_tag"][tag]["f1"] == pytest.approx(f1)
    tag_f1 = [score["f1"] for score in pooled["per_tag"].values()]
    assert pooled["macro_f1"] == pytest.approx(np.mean(tag_f1))
    # Beside it, the plain threshold rule's samples F2 with the same out-of-fold thresholds.
    plain = [
        fbeta_samples(y, threshold_calls(probs, cross_validated_thresholds(y, probs, 2, seed)), 2)
        for seed in (7, 8, 9)
    ]
    assert pooled["f2_samples_threshold_rule"] == pytest.approx(np.mean(plain))
    assert pooled["rule"] == rule_summary(y, probs, np.full(17, 0.5), False)["rule"]


def _one_chip(**probs: float) -> np.ndarray:
    row = np.full((1, len(TAGS)), 0.01, dtype=np.float32)
    for tag, p in probs.items():
        row[0, TAG_INDEX[tag]] = p
    return row


def _called(probs: np.ndarray, thresholds: np.ndarray, argmax: bool = False) -> list[str]:
    return from_vector(decide(probs, thresholds, argmax)[0])


def test_decide_keeps_one_weather_tag_by_log_odds_over_its_threshold() -> None:
    thresholds = np.full(17, 0.3)
    thresholds[TAG_INDEX["haze"]] = 0.6
    # Two weather tags over their thresholds: clear is 0.9 over 0.3, haze 0.7 over 0.6.
    probs = _one_chip(clear=0.9, haze=0.7, primary=0.95)
    assert threshold_calls(probs, thresholds)[0, :4].sum() == 2
    assert _called(probs, thresholds) == ["clear", "primary"]
    # The argmax rule takes the likelier one instead...
    probs = _one_chip(clear=0.55, haze=0.7, primary=0.95)
    assert _called(probs, thresholds, argmax=True) == ["haze", "primary"]
    # ...where the threshold rule weighs each against its own threshold.
    margins = log_odds(np.array([0.55, 0.7])) - log_odds(np.array([0.3, 0.6]))
    assert margins[0] > margins[1]
    assert _called(probs, thresholds) == ["clear", "primary"]
    # No weather tag over its threshold: the nearest one is still called.
    probs = _one_chip(clear=0.1, partly_cloudy=0.25, primary=0.95)
    assert threshold_calls(probs, thresholds)[0, :4].sum() == 0
    assert _called(probs, thresholds) == ["partly_cloudy", "primary"]


def test_decide_never_calls_cloudy_with_land_tags() -> None:
    thresholds = np.full(17, 0.3)
    # Cloudy surer than any land tag called: cloudy alone.
    probs = _one_chip(cloudy=0.95, partly_cloudy=0.5, primary=0.4)
    assert _called(probs, thresholds) == ["cloudy"]
    # A land tag surer than cloudy: the ground shows, the best other weather tag is taken.
    probs = _one_chip(cloudy=0.6, partly_cloudy=0.35, primary=0.9, water=0.5)
    assert _called(probs, thresholds) == ["partly_cloudy", "primary", "water"]
    assert _called(probs, thresholds, argmax=True) == ["partly_cloudy", "primary", "water"]
    # Land tags under their thresholds do not count against cloudy.
    probs = _one_chip(cloudy=0.6, primary=0.29)
    assert _called(probs, thresholds) == ["cloudy"]


def test_decide_keeps_every_rule_on_random_probabilities() -> None:
    rng = np.random.default_rng(4)
    probs = rng.random((2000, 17)).astype(np.float32)
    probs[:50, :4] = 0.0  # no weather above any threshold
    probs[50:100, :4] = 0.9  # every weather tag above it (ties)
    thresholds = rng.uniform(0.1, 0.8, 17)
    plain = threshold_calls(probs, thresholds)
    assert sum(bool(rule_violations(from_vector(row))) for row in plain) > 1000
    land = [TAG_INDEX[t] for t in LAND_TAGS]
    for argmax in (False, True):
        calls = decide(probs, thresholds, argmax)
        assert not any(rule_violations(from_vector(row)) for row in calls)
        # Land tags follow their thresholds except on chips called cloudy, which have none.
        cloudy = calls[:, TAG_INDEX["cloudy"]]
        assert np.array_equal(calls[~cloudy][:, land], plain[~cloudy][:, land])
        assert not calls[cloudy][:, land].any()
        # One row of thresholds per chip (cross-validation) gives the same calls.
        per_chip = np.tile(thresholds, (len(probs), 1))
        assert np.array_equal(decide(probs, per_chip, argmax), calls)
    assert decide(probs[:0], thresholds, True).shape == (0, 17)


def test_rule_summary_names_the_rule_and_keeps_the_plain_f2() -> None:
    y, probs = _probabilities(5)
    thresholds = tune_thresholds(y, probs)
    report = rule_summary(y, probs, thresholds, False)
    assert report["f2_samples"] == fbeta_samples(y, decide(probs, thresholds, False), 2.0)
    assert report["f2_samples_threshold_rule"] == fbeta_samples(
        y, threshold_calls(probs, thresholds), 2.0
    )
    assert "one weather tag" in report["rule"]
