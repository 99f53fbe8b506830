"""The 17 tags and the weather rules, checked against the real train_v2.csv."""

from __future__ import annotations

import csv

import numpy as np

from model.tags import (
    LAND_TAGS,
    TAG_INDEX,
    TAGS,
    WEATHER_INDICES,
    WEATHER_TAGS,
    from_vector,
    is_tag,
    rule_violations,
    sort_tags,
    to_vector,
    violation_counts,
)

EXPECTED_ORDER = (
    "clear",
    "partly_cloudy",
    "haze",
    "cloudy",
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


def test_seventeen_tags_in_fixed_order() -> None:
    assert TAGS == EXPECTED_ORDER
    assert len(set(TAGS)) == 17
    assert [TAG_INDEX[t] for t in TAGS] == list(range(17))


def test_weather_group_leads_and_land_tags_follow() -> None:
    assert WEATHER_TAGS == ("clear", "partly_cloudy", "haze", "cloudy")
    assert set(WEATHER_TAGS).isdisjoint(LAND_TAGS)
    assert [TAGS[i] for i in WEATHER_INDICES] == list(WEATHER_TAGS)
    assert len(LAND_TAGS) == 13


def test_tags_spelled_as_in_train_v2(train_v2_csv) -> None:
    with open(train_v2_csv, newline="", encoding="utf-8") as handle:
        seen = {tag for row in csv.DictReader(handle) for tag in row["tags"].split()}
    # "artisinal" is the dataset's own spelling: the app must keep it.
    assert seen == set(TAGS)
    assert is_tag("artisinal_mine") and not is_tag("artisanal_mine")


def test_vector_round_trip() -> None:
    vector = to_vector(["water", "clear", "primary", "water"])
    assert sum(vector) == 3 and len(vector) == 17
    assert from_vector(vector) == ["clear", "primary", "water"]  # TAGS order
    assert sort_tags(["water", "clear", "primary", "clear"]) == ["clear", "primary", "water"]


def test_no_weather_tag_is_a_violation() -> None:
    assert rule_violations(["primary", "road"]) == ["no weather tag"]
    assert rule_violations([]) == ["no weather tag"]


def test_two_weather_tags_are_a_violation() -> None:
    problems = rule_violations(["clear", "haze", "primary"])
    assert len(problems) == 1
    assert problems[0].startswith("more than one weather tag")
    assert "clear" in problems[0] and "haze" in problems[0]


def test_cloudy_with_land_tags_is_a_violation() -> None:
    problems = rule_violations(["cloudy", "primary", "water"])
    assert len(problems) == 1
    assert problems[0].startswith("cloudy with land tags")
    assert "primary" in problems[0] and "water" in problems[0]


def test_cloudy_with_another_weather_and_land_breaks_both_rules() -> None:
    assert len(rule_violations(["cloudy", "haze", "road"])) == 2


def test_valid_chips_have_no_violations() -> None:
    assert rule_violations(["cloudy"]) == []
    assert rule_violations(["clear", "primary", "agriculture", "road"]) == []
    assert rule_violations(("haze", "primary")) == []


def test_only_train_24448_breaks_the_weather_rules_in_train_v2(train_v2_csv) -> None:
    with open(train_v2_csv, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40_479
    broken = {r["image_name"]: rule_violations(r["tags"].split()) for r in rows}
    broken = {name: problems for name, problems in broken.items() if problems}
    assert list(broken) == ["train_24448"]
    assert broken["train_24448"] == ["no weather tag"]


def test_violation_counts_equal_rule_violations_on_every_tag_set() -> None:
    """All 2**17 tag sets: two or more weather tags, none, cloudy with land tags, and the rest."""
    every = (np.arange(2 ** len(TAGS))[:, None] >> np.arange(len(TAGS))) & 1
    expected = [len(rule_violations(from_vector(row))) for row in every]
    np.testing.assert_array_equal(violation_counts(every), expected)
    assert set(expected) == {0, 1, 2}
    # Float matrices (the review's) count the same as 0/1 integers.
    np.testing.assert_array_equal(violation_counts(every.astype(np.float32)), expected)
    assert violation_counts(np.zeros((0, len(TAGS)))).shape == (0,)
