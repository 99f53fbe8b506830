"""The model the app ships: it loads offline, its card is complete, and it is good on real
full-size chips it never trained on (the chips/ folder was held out of its training set)."""

from __future__ import annotations

import pytest

from model.card import read_card
from model.chips import list_chips
from model.labels import read_labels
from model.paths import BUNDLED_MODEL
from model.predicting import load_model, score_paths
from model.tags import TAGS

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
