"""Scores for multi-label tag predictions, and threshold tuning.

Definitions follow scikit-learn: per-tag precision/recall/F-beta (0 where undefined), and
samples-averaged F-beta, the Kaggle competition's metric, where a chip with no true and no
predicted tag scores 1 (nothing to find, nothing claimed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.tags import TAGS, WEATHER_INDICES

GRID = np.round(np.arange(0.02, 0.81, 0.01), 2)


def _as_bool(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).astype(bool)


def fbeta_samples(y_true: np.ndarray, y_pred: np.ndarray, beta: float) -> float:
    """Mean over chips of each chip's F-beta between true and predicted tag sets."""
    t, p = _as_bool(y_true), _as_bool(y_pred)
    if len(t) == 0:
        return float("nan")
    return float(np.mean(fbeta_per_sample(t, p, beta)))


def fbeta_per_sample(y_true: np.ndarray, y_pred: np.ndarray, beta: float) -> np.ndarray:
    t, p = _as_bool(y_true), _as_bool(y_pred)
    tp = (t & p).sum(axis=1).astype(np.float64)
    n_true, n_pred = t.sum(axis=1), p.sum(axis=1)
    b2 = beta * beta
    denom = b2 * n_true + n_pred
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(denom > 0, (1 + b2) * tp / denom, 1.0)
    return score


@dataclass(frozen=True)
class TagScore:
    support: int
    predicted: int
    precision: float
    recall: float
    f1: float
    f2: float


def per_tag_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, TagScore]:
    t, p = _as_bool(y_true), _as_bool(y_pred)
    tp = (t & p).sum(axis=0).astype(np.float64)
    support, predicted = t.sum(axis=0), p.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
        f2 = np.where(4 * support + predicted > 0, 5 * tp / (4 * support + predicted), 0.0)
    return {
        tag: TagScore(
            int(support[i]),
            int(predicted[i]),
            float(precision[i]),
            float(recall[i]),
            float(f1[i]),
            float(f2[i]),
        )
        for i, tag in enumerate(TAGS)
    }


def summary(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, object]:
    """The figures the app and the command line report, as plain JSON-ready values."""
    tags = per_tag_scores(y_true, y_pred)
    return {
        "n_chips": int(len(y_true)),
        "f2_samples": fbeta_samples(y_true, y_pred, 2.0),
        "f1_samples": fbeta_samples(y_true, y_pred, 1.0),
        "macro_f1": float(np.mean([s.f1 for s in tags.values()])),
        "per_tag": {tag: vars(score) for tag, score in tags.items()},
    }


def decide(probs: np.ndarray, thresholds: np.ndarray, weather_argmax: bool) -> np.ndarray:
    calls = probs >= thresholds
    if weather_argmax and len(probs):
        weather = np.asarray(WEATHER_INDICES)
        best = weather[np.argmax(probs[:, weather], axis=1)]
        calls[:, weather] = False
        calls[np.arange(len(probs)), best] = True
    return calls


def tune_thresholds(
    y_true: np.ndarray,
    probs: np.ndarray,
    weather_argmax: bool = False,
    min_positives: int = 25,
    passes: int = 2,
    min_gain: float = 1e-4,
    tag_f1_last: bool = True,
) -> np.ndarray:
    """Per-tag thresholds that maximise samples F2 (the metric users are judged by), then each
    tag's own F1 without giving any of that back.

    One global threshold first; then each tag in turn moves off it only where that raises samples
    F2 by more than `min_gain`. Tags with fewer than `min_positives` validation positives keep the
    global value there: 17 thresholds fitted for F2 on a handful of positives overfit
    (MODEL_NOTES). Last, every tag moves to the threshold with the best F1 for that tag among
    those that keep samples F2 at least where it is: a rare tag hardly moves samples F2, so F2
    alone leaves it on a value that calls it far too often or too seldom. `tag_f1_last=False`
    skips that step.
    """
    t = _as_bool(y_true)
    global_best = max(
        GRID,
        key=lambda g: fbeta_samples(t, decide(probs, np.full(len(TAGS), g), weather_argmax), 2),
    )
    thresholds = np.full(len(TAGS), float(global_best))
    best = fbeta_samples(t, decide(probs, thresholds, weather_argmax), 2)
    tunable = [i for i in range(len(TAGS)) if t[:, i].sum() >= min_positives]
    if weather_argmax:  # the argmax decides weather tags; their thresholds do not matter
        tunable = [i for i in tunable if i not in WEATHER_INDICES]
    for _ in range(passes):
        improved = False
        for i in tunable:
            trial = thresholds.copy()
            for g in GRID:
                trial[i] = g
                score = fbeta_samples(t, decide(probs, trial, weather_argmax), 2)
                if score > best + min_gain:
                    best, thresholds[i], improved = score, float(g), True
        if not improved:
            break
    if not tag_f1_last:
        return thresholds
    return _best_tag_f1_at_equal_f2(t, probs, thresholds, weather_argmax, best)


def _best_tag_f1_at_equal_f2(
    t: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, weather_argmax: bool, best: float
) -> np.ndarray:
    thresholds = thresholds.copy()
    for i in range(len(TAGS)):
        if weather_argmax and i in WEATHER_INDICES:
            continue
        trial = thresholds.copy()
        # (tag F1, nearness to the F2 choice) per grid value that keeps samples F2; the current
        # value always qualifies, so the list is never empty.
        candidates = []
        for g in GRID:
            trial[i] = g
            score = fbeta_samples(t, decide(probs, trial, weather_argmax), 2)
            if score >= best:
                called = probs[:, i] >= g
                tag_f1 = 2 * (t[:, i] & called).sum() / max(t[:, i].sum() + called.sum(), 1)
                candidates.append(((tag_f1, -abs(g - thresholds[i])), float(g), score))
        _, thresholds[i], best = max(candidates, key=lambda c: c[0])
    return thresholds


def cross_validated_calls(
    y_true: np.ndarray, probs: np.ndarray, weather_argmax: bool, folds: int = 2, seed: int = 0
) -> np.ndarray:
    """Calls for every chip made with thresholds tuned on the other folds only.

    Scores of these calls are honest: no chip's threshold was fitted on that chip.
    """
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(len(probs)) % folds
    calls = np.zeros(probs.shape, dtype=bool)
    for k in range(folds):
        held, rest = fold_of == k, fold_of != k
        thresholds = tune_thresholds(y_true[rest], probs[rest], weather_argmax)
        calls[held] = decide(probs[held], thresholds, weather_argmax)
    return calls


def cross_validated_summary(
    y_true: np.ndarray,
    probs: np.ndarray,
    weather_argmax: bool,
    folds: int = 2,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, object]:
    """`summary` of cross-validated calls, pooled over `repeats` draws of the folds.

    With a few rare positives, which half a chip falls in moves macro F1 by +-0.01 from one draw
    to the next; pooling the draws (samples F1/F2: their mean; per tag: counts summed) gives one
    steadier figure. Support is per draw, predicted the mean per draw; `per_draw` keeps each
    draw's three headline figures.
    """
    draws = [
        cross_validated_calls(y_true, probs, weather_argmax, folds, seed + draw)
        for draw in range(repeats)
    ]
    pooled = summary(np.tile(y_true, (repeats, 1)), np.vstack(draws))
    pooled["n_chips"] = int(len(y_true))
    for score in pooled["per_tag"].values():
        score["support"] //= repeats
        score["predicted"] = round(score["predicted"] / repeats, 1)
    keys = ("f2_samples", "f1_samples", "macro_f1")
    per_draw = [summary(y_true, calls) for calls in draws]
    pooled["per_draw"] = {k: [round(d[k], 4) for d in per_draw] for k in keys}
    return pooled
