"""New against old on the same chips: positives per tag, and a paired bootstrap's intervals."""

from __future__ import annotations

import numpy as np
import pytest

from model.comparison import MIN_POSITIVES, paired_bootstrap, tag_positives, verdict
from model.metrics import summary
from model.tags import TAGS


def _truth(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n, len(TAGS))) < np.linspace(0.6, 0.02, len(TAGS))


def _noisy(y: np.ndarray, flip: float, seed: int) -> np.ndarray:
    return y ^ (np.random.default_rng(seed).random(y.shape) < flip)


def test_the_point_is_the_difference_of_the_pooled_figures() -> None:
    """Several call sets for the new model (cross-validation draws) are pooled as the card
    pools them: the point difference is summary(pooled) minus summary(old), exactly."""
    y = _truth(300, 0)
    new = [_noisy(y, 0.05, seed) for seed in (1, 2, 3)]
    old = _noisy(y, 0.12, 4)
    pooled = summary(np.tile(y, (3, 1)), np.vstack(new))
    single = summary(y, old)
    spreads = paired_bootstrap(y, new, old, draws=500)
    for key in ("f2_samples", "macro_f1"):
        assert spreads[key]["difference"] == pytest.approx(pooled[key] - single[key], abs=1e-12)
        assert spreads[key]["low"] <= spreads[key]["difference"] <= spreads[key]["high"]
    # 0.05 against 0.12 of the tags wrong, on 300 chips: a real gap.
    assert spreads["f2_samples"]["measurable"] and spreads["f2_samples"]["low"] > 0
    assert verdict(spreads["f2_samples"]).startswith("new better by ")


def test_the_same_model_twice_shows_no_measurable_difference() -> None:
    y = _truth(200, 5)
    calls = _noisy(y, 0.1, 6)
    spreads = paired_bootstrap(y, [calls], calls, draws=300)
    for key in ("f2_samples", "macro_f1"):
        assert spreads[key] == {"difference": 0.0, "low": 0.0, "high": 0.0, "measurable": False}
        assert verdict(spreads[key]).startswith("no measurable difference")


def test_on_35_chips_a_small_gap_is_not_measurable_but_on_3500_it_is() -> None:
    """The issue's retrain compared on 35 validation chips. A model 2 points of flipped tags
    better is lost in their noise, and found on a hundred times as many chips."""
    few, many = _truth(35, 7), _truth(3500, 7)
    small = paired_bootstrap(few, [_noisy(few, 0.08, 8)], _noisy(few, 0.10, 9), draws=1000)
    large = paired_bootstrap(many, [_noisy(many, 0.08, 8)], _noisy(many, 0.10, 9), draws=1000)
    assert not small["macro_f1"]["measurable"]
    assert large["f2_samples"]["measurable"] and large["f2_samples"]["difference"] > 0
    width = {
        k: s["f2_samples"]["high"] - s["f2_samples"]["low"]
        for k, s in (("few", small), ("many", large))
    }
    assert width["few"] > 5 * width["many"]  # about sqrt(100) = 10 times wider


def test_tag_positives_marks_the_ones_too_few_to_mean_anything() -> None:
    y = np.zeros((40, len(TAGS)), dtype=bool)
    y[:30, 0] = True
    y[:MIN_POSITIVES, 1] = True
    y[: MIN_POSITIVES - 1, 2] = True
    y[:2, -1] = True
    marks = tag_positives(y)
    assert marks[TAGS[0]] == {"positives": 30, "too_few": False}
    assert marks[TAGS[1]] == {"positives": MIN_POSITIVES, "too_few": False}
    assert marks[TAGS[2]] == {"positives": MIN_POSITIVES - 1, "too_few": True}
    assert marks[TAGS[-1]] == {"positives": 2, "too_few": True}
    assert marks[TAGS[3]] == {"positives": 0, "too_few": True}
