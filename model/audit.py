"""How likely each crowd tag is wrong, and which chips a reviewer should look at first.

A crowd tag is suspect when the model is confident against it. Confidence is measured as the
distance between the model's probability and the tag's threshold in log-odds, so that 0.99 vs a
0.2 threshold counts for more than 0.35 vs 0.2, and a rare tag's low threshold is respected.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def tag_suspicion(probs: np.ndarray, crowd: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(n, 17) >= 0: how strongly the model contradicts each crowd label; 0 where they agree.

    Rows of probs that are NaN (not predicted yet) score 0.
    """
    margin = _logit(np.nan_to_num(probs, nan=0.5)) - _logit(np.asarray(thresholds))
    against = np.where(np.asarray(crowd) > 0.5, -margin, margin)
    score = np.clip(against, 0.0, None)
    score[np.isnan(probs)] = 0.0
    return score


def chip_suspicion(tag_scores: np.ndarray, n_violations: np.ndarray | None = None) -> np.ndarray:
    """One figure per chip: its most suspect tag, plus a little for every other suspect tag and
    for each broken rule, so that ties break towards chips with more wrong."""
    if tag_scores.size == 0:
        return np.zeros(len(tag_scores))
    top = tag_scores.max(axis=1)
    rest = tag_scores.sum(axis=1) - top
    score = top + 0.25 * rest
    if n_violations is not None:
        score = score + 1.0 * np.asarray(n_violations)
    return score


def disagreement_kinds(calls: np.ndarray, crowd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(model yes / crowd no, model no / crowd yes), each (n, 17) boolean."""
    calls, crowd = np.asarray(calls, bool), np.asarray(crowd) > 0.5
    return calls & ~crowd, ~calls & crowd


def suspect_order(scores: np.ndarray) -> np.ndarray:
    """Indices from most to least suspect; stable so equal scores keep folder order."""
    return np.argsort(-scores, kind="stable")
