"""Suspicion scores measured for issue 19 and not kept (bench/audit_quality.py prints them).

Each takes the same probabilities and (planted) crowd labels as the app's score and returns one
figure per chip, higher = more suspect; every one adds 1 per broken rule, as the app does.
"Cross-fit" ones take figures fitted on the OTHER set's untouched crowd labels (full-size chips
for the validation chips and vice versa), never on the chips they rank.
"""

from __future__ import annotations

import numpy as np

from model.audit import _logit, chip_suspicion, tag_suspicion
from model.tags import LAND_TAGS, TAG_INDEX, TAGS, WEATHER_INDICES

EPS = 1e-4
WEATHER = list(WEATHER_INDICES)
LAND = [TAG_INDEX[t] for t in LAND_TAGS]


def against(probs, crowd, centre_logit):
    """Log-odds against the crowd's value per tag, from a per-tag centre (logit units)."""
    margin = _logit(probs) - centre_logit
    return np.where(crowd > 0.5, -margin, margin)


def weather_share(probs):
    q = np.clip(probs[:, WEATHER], EPS, None)
    return q / q.sum(axis=1, keepdims=True)


def weather_choice(probs, crowd):
    """Weather as one 4-way choice: log(model's best other share / the crowd weather's share),
    >= 0; 0 where the crowd gives no single weather tag."""
    q = weather_share(probs)
    chosen = crowd[:, WEATHER] > 0.5
    one = chosen.sum(axis=1) == 1
    crowd_share = np.where(one, (q * chosen).sum(axis=1), 1.0)
    other = np.where(chosen, 0.0, q).max(axis=1)
    return np.where(one, np.clip(np.log(other / crowd_share), 0.0, None), 0.0)


def likelihood_ratio(probs, crowd, centre_logit, weather_4way=False):
    """log P(labels | one simple mistake planted) / P(labels | untouched), tags independent
    given the model's probabilities (odds taken from `centre_logit`): a weather swap (1/3, then
    1/3 per other weather), a land tag added (1/3 per absent tag) or dropped (1/3 per present)."""
    odds = np.exp(np.clip(against(probs, crowd, centre_logit), -30, 30))
    chosen = crowd[:, WEATHER] > 0.5
    if weather_4way:
        q = weather_share(probs)
        swap = np.where(chosen, 0.0, q).sum(axis=1) / np.clip((q * chosen).sum(axis=1), EPS, None)
    else:
        swap = (odds[:, WEATHER] * chosen).sum(axis=1) * np.where(
            chosen, 0.0, odds[:, WEATHER]
        ).sum(axis=1)
    swap = np.where(chosen.sum(axis=1) == 1, swap / 3.0, 0.0)
    land = crowd[:, LAND] > 0.5
    added = (odds[:, LAND] * land).sum(axis=1) / ((~land).sum(axis=1) + 1)
    dropped = (odds[:, LAND] * ~land).sum(axis=1) / (land.sum(axis=1) + 1)
    return np.log(swap + added + dropped + 1e-12)


def platt(probs, crowd):
    """Per tag (a, b), calibrated logit = a logit(p) + b, logistic regression on the crowd; the
    identity where a tag has fewer than 10 positives or negatives."""
    from sklearn.linear_model import LogisticRegression

    a, b = np.ones(len(TAGS)), np.zeros(len(TAGS))
    x = _logit(probs)
    for j in range(len(TAGS)):
        y = crowd[:, j] > 0.5
        if min(y.sum(), (~y).sum()) >= 10:
            fit = LogisticRegression(C=1.0).fit(x[:, j : j + 1], y)
            a[j], b[j] = fit.coef_[0, 0], fit.intercept_[0]
    return a, b


def reliability(probs, crowd, thresholds):
    """Per tag, smoothed (recall, precision) of the model's calls against the crowd."""
    from model.classifier import decide

    calls, y = decide(probs, thresholds, True), crowd > 0.5
    tp, fn, fp = (calls & y).sum(0), (~calls & y).sum(0), (calls & ~y).sum(0)
    return (tp + 1) / (tp + fn + 2), (tp + 1) / (tp + fp + 2)


def variant_scores(probs, labels, thresholds, broken, positive_weights, fitted=None, tta=None):
    """name -> score. `fitted`: (platt, reliability) from the other set, or None; `tta`: the
    same chips' probabilities averaged over 8 flips and rotations, or None."""
    lt = _logit(thresholds)
    centre_pw = np.log(positive_weights)
    tags = tag_suspicion(probs, labels, thresholds)
    top_two = np.sort(tags, axis=1)[:, -2:].sum(axis=1)
    nll = -np.log(np.clip(np.where(labels > 0.5, probs, 1 - probs), EPS, 1))
    one_weather = tags.copy()
    one_weather[:, WEATHER] = 0.0
    one_weather[:, WEATHER[0]] = weather_choice(probs, labels)
    out = {
        "app, rest weight 0": chip_suspicion(tags, broken, rest_weight=0.0),
        "app, top 2 tags summed": top_two + broken,
        "-log p(crowd's value), max": nll.max(axis=1) + broken,
        "log-odds, pos-weight centre": chip_suspicion(
            np.clip(against(probs, labels, centre_pw), 0.0, None), broken
        ),
        "app, weather as 4-way choice": chip_suspicion(one_weather, broken),
        "LR, raw odds": likelihood_ratio(probs, labels, 0.0) + broken,
        "LR, pos-weight odds": likelihood_ratio(probs, labels, centre_pw) + broken,
        "LR, threshold odds": likelihood_ratio(probs, labels, lt) + broken,
        "LR, pos-weight, weather 4-way": likelihood_ratio(probs, labels, centre_pw, True) + broken,
        "LR, threshold, weather 4-way": likelihood_ratio(probs, labels, lt, True) + broken,
    }
    if tta is not None:
        out["app on TTA probabilities"] = chip_suspicion(
            tag_suspicion(tta, labels, thresholds), broken
        )
        out["LR, pos-weight odds, TTA"] = likelihood_ratio(tta, labels, centre_pw) + broken
    if fitted is not None:
        (a, b), (recall, precision) = fitted
        calibrated = 1 / (1 + np.exp(-(a * _logit(probs) + b)))
        out["app x Platt slope (cross-fit)"] = chip_suspicion(
            np.clip(a * against(probs, labels, lt), 0.0, None), broken
        )
        out["LR, Platt (cross-fit)"] = likelihood_ratio(calibrated, labels, 0.0) + broken
        out["LR, Platt, weather 4-way (cf)"] = (
            likelihood_ratio(calibrated, labels, 0.0, True) + broken
        )
        weight = np.where(labels > 0.5, recall, precision)
        out["app x reliability (cross-fit)"] = chip_suspicion(tags * weight, broken)
        land_only = tags.copy()
        land_only[:, LAND] *= weight[:, LAND]
        out["app x reliability, land (cf)"] = chip_suspicion(land_only, broken)
    return out
