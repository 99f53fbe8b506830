"""The 17 Planet tags, spelled as in train_v2.csv, and the rules a chip's tags must keep."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Fixed order: the classifier's outputs, the review table and every array use it.
WEATHER_TAGS: tuple[str, ...] = ("clear", "partly_cloudy", "haze", "cloudy")
LAND_TAGS: tuple[str, ...] = (
    "primary",
    "agriculture",
    "road",
    "water",
    "cultivation",
    "habitation",
    "bare_ground",
    "selective_logging",
    "artisinal_mine",
    "blooming",
    "slash_burn",
    "blow_down",
    "conventional_mine",
)
TAGS: tuple[str, ...] = WEATHER_TAGS + LAND_TAGS
TAG_INDEX: dict[str, int] = {tag: i for i, tag in enumerate(TAGS)}
WEATHER_INDICES: tuple[int, ...] = tuple(TAG_INDEX[t] for t in WEATHER_TAGS)


def is_tag(name: str) -> bool:
    return name in TAG_INDEX


def sort_tags(tags: Iterable[str]) -> list[str]:
    """Alphabetical, as train_v2.csv writes nearly all of its rows."""
    return sorted(set(tags))


def rule_violations(tags: Iterable[str]) -> list[str]:
    """The domain rules this chip's tags break, as short sentences; empty when none.

    The app flags these for a reviewer; it never fixes them silently.
    """
    tag_set = set(tags)
    weather = [t for t in WEATHER_TAGS if t in tag_set]
    problems = []
    if not weather:
        problems.append("no weather tag")
    elif len(weather) > 1:
        problems.append("more than one weather tag: " + ", ".join(weather))
    if "cloudy" in tag_set:
        land = [t for t in LAND_TAGS if t in tag_set]
        if land:
            problems.append("cloudy with land tags: " + ", ".join(land))
    return problems


def violation_counts(tag_matrix: np.ndarray) -> np.ndarray:
    """`len(rule_violations(tags))` for every row of an (n, 17) 0/1 matrix in TAGS order, at once.

    The same rules as `rule_violations`, for the review's badges, filter and suspicion order,
    which ask it of every chip after every edit.
    """
    now = np.asarray(tag_matrix) > 0.5
    n_weather = now[:, list(WEATHER_INDICES)].sum(axis=1)
    has_land = now[:, [TAG_INDEX[t] for t in LAND_TAGS]].any(axis=1)
    cloudy_with_land = now[:, TAG_INDEX["cloudy"]] & has_land
    return (n_weather != 1).astype(int) + cloudy_with_land.astype(int)


def to_vector(tags: Iterable[str]) -> list[int]:
    """0/1 per tag in TAGS order."""
    tag_set = set(tags)
    return [1 if t in tag_set else 0 for t in TAGS]


def from_vector(vector: Iterable[object]) -> list[str]:
    """Tags whose entry is truthy, in TAGS order."""
    return [t for t, v in zip(TAGS, vector) if v]
