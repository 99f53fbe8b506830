"""Scores for multi-label tag predictions, threshold tuning, and the model's calls.

Definitions follow scikit-learn: per-tag precision/recall/F-beta (0 where undefined), and
samples-averaged F-beta, the Kaggle competition's metric, where a chip with no true and no
predicted tag scores 1 (nothing to find, nothing claimed).

Two ways to turn probabilities into tags: the plain threshold rule (`threshold_calls`, each tag
on its own threshold) and the model's calls (`decide`: the same, then the rules every chip's
tags keep). Only the model's calls are ever written as tags; the plain rule's samples F2 is
reported beside theirs because F2 rewards the second weather tag it often calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.tags import LAND_TAGS, TAG_INDEX, TAGS, WEATHER_INDICES

GRID = np.round(np.arange(0.02, 0.81, 0.01), 2)
LAND_INDICES: tuple[int, ...] = tuple(TAG_INDEX[t] for t in LAND_TAGS)
CLOUDY = TAG_INDEX["cloudy"]
_EPS = 1e-4

# What each weather rule of a card means for the model's calls, in words for reports.
RULES: dict[str, str] = {
    "threshold": "one weather tag, the furthest above its threshold; cloudy never with land tags",
    "argmax": "one weather tag, the likeliest; cloudy never with land tags",
}
# A card's figures that name no rule were measured before the model's calls kept the tag rules.
UNRECORDED_RULE = "each tag on its own threshold (measured before the tag rules)"
THRESHOLD_RULE = "each tag on its own threshold (can call two weather tags, or cloudy with land)"


def rule_text(weather_argmax: bool) -> str:
    return RULES["argmax" if weather_argmax else "threshold"]


def log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


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


def threshold_calls(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The plain threshold rule: each tag called where its probability reaches its threshold.

    Thresholds are tuned on it, and its samples F2 is reported; it is never written as tags.
    """
    return np.asarray(probs) >= np.asarray(thresholds)


def decide(probs: np.ndarray, thresholds: np.ndarray, weather_argmax: bool = False) -> np.ndarray:
    """The model's calls: the plain threshold rule, then the rules a chip's tags keep
    (`model.tags.rule_violations`), so that no tag set the app writes is one it would flag.

    - Exactly one weather tag: the likeliest with `weather_argmax`, else the one furthest above
      its own threshold in log-odds (haze at 0.40 over 0.37 is less sure than clear at 0.30 over
      0.24), called or not.
    - Cloudy never with land tags (the crowd never tags both): cloudy stands where the model is
      surer of it, in log-odds over its threshold, than of every land tag it calls, and then the
      land tags go; elsewhere the ground shows and the chip takes its best other weather tag.
      Measured on the bundled model against always dropping the land tags and never letting
      cloudy stand beside them, this kept the most samples F2 on its validation chips and on
      the 852 full-size chips (within 0.001 of the first).

    `thresholds` is one per tag, or one row per chip.
    """
    probs = np.asarray(probs)
    calls = threshold_calls(probs, thresholds)
    if not len(probs):
        return calls
    margin = log_odds(probs) - log_odds(np.broadcast_to(thresholds, probs.shape))
    weather = np.asarray(WEATHER_INDICES)
    land = np.asarray(LAND_INDICES)
    score = (probs[:, weather] if weather_argmax else margin[:, weather]).astype(np.float64)
    surest_land = np.where(calls[:, land], margin[:, land], -np.inf).max(axis=1)
    ground_shows = surest_land > margin[:, CLOUDY]
    score[ground_shows, list(WEATHER_INDICES).index(CLOUDY)] = -np.inf
    best = weather[np.argmax(score, axis=1)]
    calls[:, weather] = False
    calls[np.arange(len(probs)), best] = True
    cloudy_rows = np.flatnonzero(calls[:, CLOUDY])
    calls[np.ix_(cloudy_rows, land)] = False
    return calls


def rows_a_threshold_moves(
    probs: np.ndarray, thresholds: np.ndarray, tag: int, old: float, weather_argmax: bool = False
) -> np.ndarray:
    """Rows whose calls (`decide`) can differ after tag `tag`'s threshold moved from `old` to
    `thresholds[tag]`, the other thresholds the same: a drag recomputes only these.

    A weather tag's threshold enters every row's weather choice: all rows. A land tag's changes
    its own call only where its probability lies between the two values, and otherwise acts only
    through the cloudy rule (its margin against cloudy's where it is called), which matters only
    on rows where cloudy is the best weather tag before that rule."""
    n = len(probs)
    if tag in WEATHER_INDICES:
        return np.arange(n)
    p = probs[:, tag]
    new = float(thresholds[tag])
    low, high = min(old, new), max(old, new)
    in_band = (p >= low) & (p < high)
    weather = np.asarray(WEATHER_INDICES)
    w = probs[:, weather]
    score = w if weather_argmax else log_odds(w) - log_odds(np.asarray(thresholds)[weather])
    cloudy_first = weather[np.argmax(score, axis=1)] == CLOUDY
    called = p >= low  # called before or after the move
    return np.flatnonzero(in_band | (cloudy_first & called))


def tune_thresholds(
    y_true: np.ndarray,
    probs: np.ndarray,
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

    Tuned on the plain threshold rule; `decide` applies the tag rules after. Tuning on the
    model's calls instead was measured on the bundled model: +0.002 samples F2 on its validation
    chips (cross-validated) but -0.0038 (95% interval -0.0075 to -0.0008) on the 852 full-size
    chips, which it never saw: no gain that carries, so the thresholds stay what this finds.
    """
    t = _as_bool(y_true)
    global_best = max(
        GRID, key=lambda g: fbeta_samples(t, threshold_calls(probs, np.full(len(TAGS), g)), 2)
    )
    thresholds = np.full(len(TAGS), float(global_best))
    best = fbeta_samples(t, threshold_calls(probs, thresholds), 2)
    tunable = [i for i in range(len(TAGS)) if t[:, i].sum() >= min_positives]
    for _ in range(passes):
        improved = False
        for i in tunable:
            trial = thresholds.copy()
            for g in GRID:
                trial[i] = g
                score = fbeta_samples(t, threshold_calls(probs, trial), 2)
                if score > best + min_gain:
                    best, thresholds[i], improved = score, float(g), True
        if not improved:
            break
    if not tag_f1_last:
        return thresholds
    return _best_tag_f1_at_equal_f2(t, probs, thresholds, best)


def _best_tag_f1_at_equal_f2(
    t: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, best: float
) -> np.ndarray:
    thresholds = thresholds.copy()
    for i in range(len(TAGS)):
        trial = thresholds.copy()
        # (tag F1, nearness to the F2 choice) per grid value that keeps samples F2; the current
        # value always qualifies, so the list is never empty.
        candidates = []
        for g in GRID:
            trial[i] = g
            score = fbeta_samples(t, threshold_calls(probs, trial), 2)
            if score >= best:
                called = probs[:, i] >= g
                tag_f1 = 2 * (t[:, i] & called).sum() / max(t[:, i].sum() + called.sum(), 1)
                candidates.append(((tag_f1, -abs(g - thresholds[i])), float(g), score))
        _, thresholds[i], best = max(candidates, key=lambda c: c[0])
    return thresholds


def cross_validated_thresholds(
    y_true: np.ndarray, probs: np.ndarray, folds: int = 2, seed: int = 0
) -> np.ndarray:
    """(n, 17): each chip's thresholds, tuned on the other folds only.

    Scores of calls made with these are honest: no chip's threshold was fitted on that chip.
    """
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(len(probs)) % folds
    per_chip = np.zeros(probs.shape, dtype=np.float64)
    for k in range(folds):
        held, rest = fold_of == k, fold_of != k
        per_chip[held] = tune_thresholds(y_true[rest], probs[rest])
    return per_chip


def cross_validated_calls(
    y_true: np.ndarray, probs: np.ndarray, weather_argmax: bool, folds: int = 2, seed: int = 0
) -> np.ndarray:
    """The model's calls for every chip, made with thresholds tuned on the other folds only."""
    return decide(probs, cross_validated_thresholds(y_true, probs, folds, seed), weather_argmax)


def rule_summary(
    y_true: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, weather_argmax: bool
) -> dict[str, object]:
    """`summary` of the model's calls, saying which rule made them, with the plain threshold
    rule's samples F2 beside it (F2 rewards the extra weather tag that rule calls)."""
    report = summary(y_true, decide(probs, thresholds, weather_argmax))
    report["rule"] = rule_text(weather_argmax)
    report["f2_samples_threshold_rule"] = fbeta_samples(
        y_true, threshold_calls(probs, thresholds), 2.0
    )
    return report


def cross_validated_summary(
    y_true: np.ndarray,
    probs: np.ndarray,
    weather_argmax: bool,
    folds: int = 2,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, object]:
    """`summary` of cross-validated calls, pooled over `repeats` draws of the folds (seeds
    `seed`, `seed + 1`, ...); see `pooled_summary`."""
    thresholds = [
        cross_validated_thresholds(y_true, probs, folds, seed + draw) for draw in range(repeats)
    ]
    return pooled_summary(y_true, probs, thresholds, weather_argmax)


def pooled_summary(
    y_true: np.ndarray,
    probs: np.ndarray,
    draw_thresholds: list[np.ndarray],
    weather_argmax: bool,
) -> dict[str, object]:
    """`summary` of the model's calls under each draw's (per-chip) thresholds, pooled.

    With a few rare positives, which half a chip falls in moves macro F1 by +-0.01 from one draw
    to the next; pooling the draws (samples F1/F2: their mean; per tag: counts summed) gives one
    steadier figure. Support is per draw, predicted the mean per draw; `per_draw` keeps each
    draw's three headline figures. Like `rule_summary`, it names the rule and gives the plain
    threshold rule's samples F2 from the same thresholds beside it.
    """
    repeats = len(draw_thresholds)
    draws = [decide(probs, t, weather_argmax) for t in draw_thresholds]
    pooled = summary(np.tile(y_true, (repeats, 1)), np.vstack(draws))
    pooled["n_chips"] = int(len(y_true))
    for score in pooled["per_tag"].values():
        score["support"] //= repeats
        score["predicted"] = round(score["predicted"] / repeats, 1)
    keys = ("f2_samples", "f1_samples", "macro_f1")
    per_draw = [summary(y_true, calls) for calls in draws]
    pooled["per_draw"] = {k: [round(d[k], 4) for d in per_draw] for k in keys}
    pooled["rule"] = rule_text(weather_argmax)
    pooled["f2_samples_threshold_rule"] = float(
        np.mean([fbeta_samples(y_true, threshold_calls(probs, t), 2.0) for t in draw_thresholds])
    )
    return pooled
