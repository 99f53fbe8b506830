"""How sure a difference between two models' figures on the same validation chips is.

A retrain on a few dozen chips compares two models on a few dozen validation chips; a tag with
one or two positives there swings its F1 from 0 to 1, and macro F1 with it. So the comparison
gives each tag's number of validation positives, marks the tags with too few, and gives a 95%
interval for the differences in samples F2 and macro F1 by a paired bootstrap over the chips
(both models' calls on the same resampled chips), so that "no measurable difference" can be
said where the interval holds zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model.metrics import fbeta_per_sample
from model.tags import TAGS

# Below this many validation positives a tag's figures are not shown as evidence: its F1 then
# moves by more than 0.2 either way from which chips happened to be drawn (a binomial's 95%
# half-width at 25 is 0.2), and threshold tuning leaves such tags alone for the same reason.
MIN_POSITIVES = 25
BOOTSTRAP_DRAWS = 2000
_CHUNK = 250  # resamples weighed at once: (chunk, chips) counts stay a few MB


def tag_positives(y_true: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per tag: its validation positives, and whether they are too few to mean anything."""
    positives = np.asarray(y_true).astype(bool).sum(axis=0)
    return {
        tag: {"positives": int(n), "too_few": bool(n < MIN_POSITIVES)}
        for tag, n in zip(TAGS, positives)
    }


def paired_bootstrap(
    y_true: np.ndarray,
    new_calls: list[np.ndarray],
    old_calls: np.ndarray,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """New minus old in samples F2 and macro F1, each with a 95% percentile interval.

    `new_calls` may hold several call sets for the same chips (the draws of a cross-validation),
    pooled as `metrics.pooled_summary` pools them; `old_calls` is one. Each resample draws the
    chips with replacement and scores both models on the same draw.
    """
    y = np.asarray(y_true).astype(bool)
    n = len(y)
    new = [np.asarray(c, dtype=bool) for c in new_calls]
    old = np.asarray(old_calls, dtype=bool)
    repeats = len(new)
    # Per chip: samples F2 (the new model's averaged over its call sets), and per-tag counts
    # whose weighted sums give each tag's F1 on a resample.
    f2_diff = np.mean([fbeta_per_sample(y, c, 2.0) for c in new], axis=0) - fbeta_per_sample(
        y, old, 2.0
    )
    new_tp = sum((y & c).astype(np.float64) for c in new)
    new_pred = sum(c.astype(np.float64) for c in new)
    new_support = repeats * y.astype(np.float64)
    old_tp, old_pred, support = (
        (y & old).astype(np.float64),
        old.astype(np.float64),
        y.astype(np.float64),
    )

    def macro_f1_diff(weights: np.ndarray) -> np.ndarray:
        def macro(tp: np.ndarray, pred: np.ndarray, sup: np.ndarray) -> np.ndarray:
            tp_w, denom = weights @ tp, weights @ sup + weights @ pred
            with np.errstate(divide="ignore", invalid="ignore"):
                f1 = np.where(denom > 0, 2 * tp_w / denom, 0.0)
            return f1.mean(axis=-1)

        return macro(new_tp, new_pred, new_support) - macro(old_tp, old_pred, support)

    ones = np.ones((1, n))
    point = {"f2_samples": float(f2_diff.mean()), "macro_f1": float(macro_f1_diff(ones)[0])}
    rng = np.random.default_rng(seed)
    f2_samples, macro = [], []
    for start in range(0, draws, _CHUNK):
        size = min(_CHUNK, draws - start)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        f2_samples.append(weights @ f2_diff / n)
        macro.append(macro_f1_diff(weights))
    spreads = {"f2_samples": np.concatenate(f2_samples), "macro_f1": np.concatenate(macro)}
    out: dict[str, dict[str, Any]] = {}
    for key, values in spreads.items():
        low, high = (float(v) for v in np.percentile(values, [2.5, 97.5]))
        out[key] = {
            "difference": point[key],
            "low": low,
            "high": high,
            # The interval holds zero: the figures cannot tell the models apart.
            "measurable": bool(low > 0 or high < 0),
        }
    return out


def verdict(interval: dict[str, Any]) -> str:
    """'no measurable difference', 'new better by 0.012 (95%: +0.004 to +0.021)', ..."""
    if not interval["measurable"]:
        return (
            f"no measurable difference ({interval['difference']:+.4f}; 95% interval "
            f"{interval['low']:+.4f} to {interval['high']:+.4f})"
        )
    better = "new better" if interval["difference"] > 0 else "new worse"
    return (
        f"{better} by {abs(interval['difference']):.4f} (95% interval "
        f"{interval['low']:+.4f} to {interval['high']:+.4f})"
    )
