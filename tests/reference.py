"""Plain, slow, by-hand versions of rules the app computes with numpy: the independent
references tests compare against. Written from the rule's words, not from the code."""

from __future__ import annotations

import math

from model.tags import LAND_TAGS, TAG_INDEX, TAGS, WEATHER_TAGS

_EPS = 1e-6


def _log_odds(p: float) -> float:
    p = min(max(float(p), _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def calls_by_hand(probs, thresholds, weather_argmax: bool) -> list[set[str]]:
    """The model's calls keeping the tag rules, chip by chip:
    - each tag called where its probability is at or above its threshold;
    - exactly one weather tag: the likeliest (argmax rule) or the one furthest above its own
      threshold in log-odds (threshold rule), whether it was called or not;
    - cloudy is not a candidate when a land tag is called more surely (log-odds over threshold)
      than cloudy is; and when cloudy wins, the land tags go."""
    out = []
    for row in probs:
        p = {t: float(row[TAG_INDEX[t]]) for t in TAGS}
        t_of = {t: float(thresholds[TAG_INDEX[t]]) for t in TAGS}
        margin = {t: _log_odds(p[t]) - _log_odds(t_of[t]) for t in TAGS}
        called = {t for t in TAGS if p[t] >= t_of[t]}
        surest_land = max((margin[t] for t in LAND_TAGS if t in called), default=-math.inf)
        candidates = [w for w in WEATHER_TAGS if not (w == "cloudy" and surest_land > margin[w])]
        score = p if weather_argmax else margin
        best = candidates[0]
        for w in candidates[1:]:  # the first of equals, in WEATHER_TAGS order
            if score[w] > score[best]:
                best = w
        tags = {t for t in called if t not in WEATHER_TAGS} | {best}
        if best == "cloudy":
            tags -= set(LAND_TAGS)
        out.append(tags)
    return out
