"""`evaluate` on made-up chips with the bundled model, one labelled chip unreadable: no data
needed. The figures are checked against scikit-learn, with the labels read by the csv module and
each chip predicted on its own, so that a chip scored against another chip's tags shows."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from reference import calls_by_hand
from sklearn.metrics import f1_score, fbeta_score
from sklearn.preprocessing import MultiLabelBinarizer

from model.chips import decode_rgb
from model.classifier import Classifier
from model.predicting import evaluate_folder
from model.tags import LAND_TAGS, TAGS, WEATHER_TAGS

N_LABELLED = 12
UNREADABLE = "chip_3"


def made_up_labels(names: list[str]) -> dict[str, list[str]]:
    """A weather tag and a few land tags per chip, different from chip to chip."""
    rng = np.random.default_rng(15)
    labels = {}
    for name in names:
        land = rng.choice(LAND_TAGS[:6], size=rng.integers(0, 4), replace=False)
        labels[name] = [str(rng.choice(WEATHER_TAGS)), *map(str, land)]
    return labels


@pytest.fixture(scope="module")
def folder_and_labels(tmp_path_factory: pytest.TempPathFactory, synthetic_chips):
    root = tmp_path_factory.mktemp("evaluate")
    names = [f"chip_{k}" for k in range(N_LABELLED)]
    folder = root / "chips"
    synthetic_chips(folder, [*names, "unlabelled_1"])
    # The unreadable chip has a label: it must be reported and left out of the scores.
    unreadable = next(folder.glob(f"{UNREADABLE}.*"))
    unreadable.write_text("not a chip\n", encoding="utf-8")
    labels = made_up_labels([*names, "gone_99"])  # gone_99: a row without a chip
    path = root / "labels.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_name", "tags"])
        writer.writerows([name, " ".join(tags)] for name, tags in labels.items())
    return folder, path, unreadable


@pytest.fixture(scope="module")
def report(folder_and_labels, bundled_model: Path) -> dict:
    folder, labels, _ = folder_and_labels
    return evaluate_folder(folder, labels, model_path=bundled_model)


def test_evaluate_reports_the_unreadable_chip_and_scores_the_rest(
    report: dict, folder_and_labels, bundled_model: Path
) -> None:
    _, _, unreadable = folder_and_labels
    assert report["errors"] == [f"{unreadable}: not an image"]
    assert report["n_chips"] == N_LABELLED - 1
    assert report["n_unlabelled_chips"] == 1
    assert report["n_labels_without_chip"] == 1
    assert report["model"] == str(bundled_model)


def test_evaluate_figures_match_scikit_learn(
    report: dict, folder_and_labels, bundled_classifier: Classifier
) -> None:
    folder, labels_path, _ = folder_and_labels
    with labels_path.open(newline="", encoding="utf-8") as handle:
        labels = {row["image_name"]: row["tags"].split() for row in csv.DictReader(handle)}
    scored = [f"chip_{k}" for k in range(N_LABELLED) if f"chip_{k}" != UNREADABLE]
    y_true = MultiLabelBinarizer(classes=list(TAGS)).fit_transform([labels[n] for n in scored])
    card = bundled_classifier.card
    thresholds = np.array([card.thresholds[t] for t in TAGS])
    probs = np.vstack(
        [
            bundled_classifier.predict(decode_rgb(next(folder.glob(f"{n}.*")), 32)[None])
            for n in scored
        ]
    )
    by_hand = calls_by_hand(probs, thresholds, card.weather_rule == "argmax")
    y_pred = MultiLabelBinarizer(classes=list(TAGS)).fit_transform(by_hand)
    assert len({tuple(row) for row in y_true}) > 3  # chips' tags differ: misalignment shows
    assert report["f2_samples"] == pytest.approx(
        fbeta_score(y_true, y_pred, beta=2, average="samples", zero_division=0), abs=1e-9
    )
    assert report["f1_samples"] == pytest.approx(
        f1_score(y_true, y_pred, average="samples", zero_division=0), abs=1e-9
    )
    assert report["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-9
    )
    for i, tag in enumerate(TAGS):
        assert report["per_tag"][tag]["support"] == int(y_true[:, i].sum()), tag
        assert report["per_tag"][tag]["predicted"] == int(y_pred[:, i].sum()), tag
        assert report["per_tag"][tag]["threshold"] == pytest.approx(thresholds[i])
