"""The model the app ships: it loads offline, its card is complete and agrees with the README, and
it is good on real full-size chips it never trained on (the chips/ folder was held out of its
training set), by scikit-learn's count as well as ours."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score
from sklearn.preprocessing import MultiLabelBinarizer

from model.card import read_card
from model.chips import decode_rgb, list_chips
from model.classifier import Classifier
from model.labels import read_labels
from model.metrics import GRID
from model.predicting import score_paths
from model.tags import TAGS

# The README's figures for the bundled model (its card's, and `evaluate` on the 852 chips).
README_VALIDATION = {"f2_samples": 0.9072, "f1_samples": 0.8702, "macro_f1": 0.5587}
README_FULL_SIZE = {"f2_samples": 0.9087, "f1_samples": 0.8711, "macro_f1": 0.5472}


def test_card_is_complete(bundled_model: Path) -> None:
    card = read_card(bundled_model)
    assert card.tags == list(TAGS)
    assert set(card.thresholds) == set(TAGS)
    # Every threshold is a value of the tuning grid, as tuning chooses them.
    assert np.isin(np.round(card.threshold_list(), 2), GRID).all()
    assert card.recipe["seed"] is not None and card.recipe["epochs"] >= 1
    assert card.data["n_train"] == 31_930 and card.data["n_val"] == 3_547
    assert sum(card.data["counts_train"].values()) > 0
    assert len(card.history) >= 1 and "val_loss" in card.history[0]
    validation = card.metrics["validation"]
    assert {k: round(validation[k], 4) for k in README_VALIDATION} == README_VALIDATION
    assert validation["f2_samples"] >= 0.88
    assert bundled_model.stat().st_size < 60 * 1024 * 1024


@pytest.fixture(scope="module")
def scored(chips_dir: Path, labels_csv: Path, bundled_classifier: Classifier):
    labels = read_labels(labels_csv)
    paths = [p for p in list_chips(chips_dir).paths if p.stem in labels]
    return score_paths(bundled_classifier, paths, labels)


def test_scores_on_unseen_full_size_chips_match_scikit_learn(
    scored, labels_csv: Path, bundled_classifier: Classifier
) -> None:
    report, result = scored
    assert len(result.names) == report["n_chips"] == 852 and not result.errors
    with labels_csv.open(newline="", encoding="utf-8-sig") as handle:
        crowd = {row["image_name"]: row["tags"].split() for row in csv.DictReader(handle)}
    y_true = MultiLabelBinarizer(classes=list(TAGS)).fit_transform([crowd[n] for n in result.names])
    card = bundled_classifier.card
    assert card.weather_rule == "threshold"
    y_pred = result.probs >= np.array([card.thresholds[t] for t in TAGS])
    expected = {
        "f2_samples": fbeta_score(y_true, y_pred, beta=2, average="samples", zero_division=0),
        "f1_samples": f1_score(y_true, y_pred, average="samples", zero_division=0),
        "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
    }
    assert {k: report[k] for k in expected} == pytest.approx(expected, abs=1e-6)
    # The README's figures, which `evaluate` on these chips reproduces (to 4 places, allowing
    # for one chip whose call a CPU's rounding could flip).
    assert {k: report[k] for k in README_FULL_SIZE} == pytest.approx(README_FULL_SIZE, abs=2e-3)
    # Far above the random forest on mean colours (F2 0.71) that anything broken falls under.
    assert report["f2_samples"] > 0.90
    assert report["per_tag"]["primary"]["recall"] > 0.95


def test_each_chip_gets_its_own_prediction(
    scored, chips_dir: Path, bundled_classifier: Classifier
) -> None:
    """Predicted one at a time, a spread of chips give the rows scored under their names."""
    _, result = scored
    picks = result.names[:: len(result.names) // 12]
    alone = np.vstack(
        [bundled_classifier.predict(decode_rgb(chips_dir / f"{n}.jpg", 32)[None]) for n in picks]
    )
    rows = [result.names.index(n) for n in picks]
    np.testing.assert_allclose(result.probs[rows], alone, atol=1e-5)
