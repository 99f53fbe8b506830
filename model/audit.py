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


# What each suspect tag after a chip's most suspect one adds to its score: only enough to break
# ties towards chips with more wrong. Measured with planted mistakes (bench/audit_quality.py, 5
# seeds), average precision on the full-size / 32 px validation chips: with 0.25, 0.641 / 0.715
# on simple mistakes (a swapped weather tag, a land tag added or dropped) and 0.712 / 0.774 on
# confusion-shaped ones; with 0.01, 0.678 / 0.747 and 0.708 / 0.769. A chip whose tags are right
# also has doubtful tags besides its worst one, and adding them up ranked it higher.
REST_WEIGHT = 0.01


def chip_suspicion(
    tag_scores: np.ndarray,
    n_violations: np.ndarray | None = None,
    rest_weight: float = REST_WEIGHT,
) -> np.ndarray:
    """One figure per chip: its most suspect tag, plus a little for every other suspect tag
    (`rest_weight`) and one for each broken rule."""
    if tag_scores.size == 0:
        return np.zeros(len(tag_scores))
    top = tag_scores.max(axis=1)
    rest = tag_scores.sum(axis=1) - top
    score = top + rest_weight * rest
    if n_violations is not None:
        score = score + 1.0 * np.asarray(n_violations)
    return score


# Cut-offs on a chip's suspicion (its `chip_suspicion`, broken rules left out) between the levels
# none, low, medium and high. Chosen by planting mistakes: on the 852 full-size chips (and the
# bundled model's 3,547 validation chips), 5% of chips had a weather tag swapped or a land tag
# added or dropped, 40 seeded draws, and each band of scores was weighed by how much likelier a
# planted chip is to fall in it than an untouched one (a likelihood ratio; untouched chips
# include the crowd's own mistakes, so these understate). Up to 3 the ratio is below 1 (0.3 to
# 0.8): chips whose tags are right score as much there, so a mark would only be noise. From 3
# to 5 it is 1.7 to 4.8, from 5 to 8 it is 8 to 19, above 8 it is 80 to 94. With 1 chip in 20
# wrong, that is about 1 in 10, 1 in 3 to 1 in 2, and 4 in 5 of the chips at each level.
SUSPICION_CUTOFFS: tuple[float, float, float] = (3.0, 5.0, 8.0)
LEVEL_NAMES: tuple[str, ...] = ("none", "low", "medium", "high")
LEVEL_MEANINGS: tuple[str, ...] = (
    "No doubt worth a look: the model agrees, or doubts no more than it does right tags.",
    "Low: the model doubts a tag; about 1 in 10 such chips had a wrong tag in our test.",
    "Medium: the model is fairly sure a tag is wrong; 1 in 3 to 1 in 2 were, in our test.",
    "High: the model is sure a tag is wrong; 4 in 5 were, in our test.",
)


def suspicion_levels(scores: np.ndarray) -> np.ndarray:
    """0 none, 1 low, 2 medium, 3 high per chip, from `chip_suspicion` without broken rules
    (those are certain, and marked on their own)."""
    return np.searchsorted(np.asarray(SUSPICION_CUTOFFS), np.asarray(scores), side="left").astype(
        np.int8
    )


def disagreement_kinds(calls: np.ndarray, crowd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(model yes / crowd no, model no / crowd yes), each (n, 17) boolean."""
    calls, crowd = np.asarray(calls, bool), np.asarray(crowd) > 0.5
    return calls & ~crowd, ~calls & crowd


def suspect_order(scores: np.ndarray) -> np.ndarray:
    """Indices from most to least suspect; stable so equal scores keep folder order."""
    return np.argsort(-scores, kind="stable")


def tag_reason(
    tag: str, prob: float, crowd_has: bool, share: np.ndarray | None, count: int | None
) -> str:
    """Why a crowd tag is suspect, in words: "model 0.03; 9 of 10 similar chips lack it".

    `share` is the share of the chip's `count` most alike labelled chips that carry each tag (by
    TAGS order; model.neighbours.neighbour_share), or None where the chip has no features.
    """
    from model.tags import TAG_INDEX

    reason = f"model {prob:.2f}"
    if share is None or not count:
        return reason
    carry = int(round(float(share[TAG_INDEX[tag]]) * count))
    agree = count - carry if crowd_has else carry
    verb = "lack" if crowd_has else "have"
    return f"{reason}; {agree} of {count} similar chips {verb} it"
