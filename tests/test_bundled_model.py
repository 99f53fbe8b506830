"""The model the app ships: it loads offline, its card is complete, and it is good on real
full-size chips it never trained on (the chips/ folder was held out of its training set)."""

from __future__ import annotations

import numpy as np
import pytest

from model.audit import chip_suspicion, suspicion_levels, tag_suspicion
from model.card import read_card
from model.chips import list_chips
from model.labels import label_matrix, read_labels
from model.paths import BUNDLED_MODEL
from model.predicting import load_model, predict_paths, score_paths
from model.tags import LAND_TAGS, TAG_INDEX, TAGS, WEATHER_TAGS

pytestmark = pytest.mark.skipif(
    not BUNDLED_MODEL.is_file(), reason=f"no bundled model at {BUNDLED_MODEL}"
)


def test_card_is_complete() -> None:
    card = read_card(BUNDLED_MODEL)
    assert card.tags == list(TAGS)
    assert set(card.thresholds) == set(TAGS)
    assert all(0.0 < t < 1.0 for t in card.thresholds.values())
    assert card.recipe["seed"] is not None and card.recipe["epochs"] >= 1
    assert card.data["n_train"] > 30_000 and sum(card.data["counts_train"].values()) > 0
    assert len(card.history) >= 1 and "val_loss" in card.history[0]
    validation = card.metrics["validation"]
    assert validation["f2_samples"] >= 0.88
    assert BUNDLED_MODEL.stat().st_size < 60 * 1024 * 1024


def test_scores_well_on_unseen_full_size_chips(chips_dir, labels_csv) -> None:
    labels = read_labels(labels_csv)
    paths = [p for p in list_chips(chips_dir).paths if p.stem in labels][:300]
    report, result = score_paths(load_model(), paths, labels)
    assert len(result.names) == 300
    # Far above the random forest on mean colours (F2 0.71) that anything broken falls under.
    assert report["f2_samples"] > 0.85
    assert report["per_tag"]["primary"]["recall"] > 0.9


def _plant_mistakes(crowd: np.ndarray, share: float, rng: np.random.Generator):
    """A copy of the crowd's 0/1 tags with `share` of the chips spoilt the way a crowd slips,
    keeping the tag rules: the weather tag swapped for another, a land tag added (common tags
    likelier, never beside cloudy) or one dropped. Returns the tags and the spoilt chips."""
    spoilt = crowd.copy()
    weather = [TAG_INDEX[t] for t in WEATHER_TAGS]
    land = np.array([TAG_INDEX[t] for t in LAND_TAGS])
    cloudy = TAG_INDEX["cloudy"]
    prevalence = crowd[:, land].mean(axis=0) + 1e-3
    chosen = rng.choice(len(crowd), int(round(share * len(crowd))), replace=False)
    for i in chosen:
        row = spoilt[i]
        has_land = bool(row[land].any())
        kinds = ["weather"] + (["add"] if not row[cloudy] else []) + (["drop"] if has_land else [])
        kind = rng.choice(kinds)
        if kind == "weather":
            others = [w for w in weather if not row[w] and not (w == cloudy and has_land)]
            row[weather] = 0
            row[rng.choice(others)] = 1
        elif kind == "add":
            absent = land[row[land] == 0]
            p = prevalence[np.isin(land, absent)]
            row[rng.choice(absent, p=p / p.sum())] = 1
        else:
            row[rng.choice(land[row[land] == 1])] = 0
    planted = np.zeros(len(crowd), dtype=bool)
    planted[chosen] = True
    return spoilt, planted


def test_suspicion_levels_find_planted_mistakes_on_full_size_chips(chips_dir, labels_csv) -> None:
    """The levels' cut-offs mean something on real chips: with 5% of chips spoilt (20 seeded
    draws), a spoilt chip is rarer than average at level 0 and ever more common from 1 to 3; and
    on the crowd's own tags the levels mark far fewer chips than 'the model disagrees'."""
    labels = read_labels(labels_csv)
    model = load_model()
    result = predict_paths(model, [p for p in list_chips(chips_dir).paths if p.stem in labels])
    crowd = label_matrix(result.names, labels)
    thresholds = np.asarray(model.card.threshold_list(), dtype=np.float32)

    def levels(tags: np.ndarray) -> np.ndarray:
        return suspicion_levels(chip_suspicion(tag_suspicion(result.probs, tags, thresholds)))

    spoilt_at = np.zeros(4)
    chips_at = np.zeros(4)
    for seed in range(20):
        tags, planted = _plant_mistakes(crowd, 0.05, np.random.default_rng(seed))
        level = levels(tags)
        spoilt_at += np.bincount(level[planted], minlength=4)
        chips_at += np.bincount(level, minlength=4)
    share = spoilt_at / chips_at
    assert share[0] < 0.05 < share[1] < share[2] < share[3]
    assert share[3] > 0.6 and share[2] > 0.25

    on_crowd = levels(crowd)
    disagree = (model.decide(result.probs) != (crowd > 0.5)).any(axis=1)
    assert disagree.mean() > 0.4 and (on_crowd > 0).mean() < 0.15
