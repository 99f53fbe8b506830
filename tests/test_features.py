"""The network's pooled features: made in the same pass as the probabilities, kept in the
session per model version, and read back on reopening, as predictions are."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np

from model.chips import decode_rgb
from model.classifier import Classifier
from model.predicting import predict_paths
from model.review import Review, empty_features
from model.session import ReviewSession


def _labels(path: Path, names: list[str]) -> Path:
    path.write_text("image_name,tags\n" + "".join(f"{n},clear primary\n" for n in names))
    return path


def test_features_are_stored_and_reused_per_model_version(
    tmp_path: Path, synthetic_chips, bundled_classifier: Classifier
) -> None:
    names = [f"chip_{k}" for k in range(6)]
    paths = synthetic_chips(tmp_path / "chips", names)
    labels = _labels(tmp_path / "labels.csv", names)
    card = bundled_classifier.card
    review = Review(tmp_path / "chips", labels)
    try:
        review.set_model(card)
        assert review.features is None and not review.has_features.any()
        predict_paths(
            bundled_classifier,
            review.unpredicted_paths(),
            on_batch=lambda n, p, f: review.add_predictions(n, p, card.version, f),
            batch_size=4,
            features=True,
        )
        assert review.has_features.all()
        # Each chip's row holds its own features, from the same network as its probabilities.
        for i, path in enumerate(paths):
            probs, pooled = bundled_classifier.predict_batch_with_features(
                decode_rgb(path, card.input_size)[None]
            )
            np.testing.assert_allclose(review.probs[i], probs[0], atol=1e-5)
            np.testing.assert_allclose(
                review.features[i].astype(np.float32), pooled[0], rtol=2e-3, atol=1e-3
            )
        made = review.features.copy()
    finally:
        review.close()

    # Reopened: the same features come back from the session, nothing is left to predict.
    again = Review(tmp_path / "chips", labels)
    try:
        again.set_model(card)
        assert again.unpredicted_paths() == []
        np.testing.assert_array_equal(again.features, made)
        # Another model version has none of them (nor its predictions) ...
        again.set_model(replace(card, version=card.version + "-other"))
        assert not again.has_features.any() and not again.predicted.any()
        # ... and back to the first, they are there again.
        again.set_model(card)
        np.testing.assert_array_equal(again.features, made)
    finally:
        again.close()


def test_a_batch_of_another_model_stores_no_features(
    tmp_path: Path, synthetic_chips, bundled_classifier: Classifier
) -> None:
    names = ["a", "b"]
    synthetic_chips(tmp_path / "chips", names)
    review = Review(tmp_path / "chips", _labels(tmp_path / "labels.csv", names))
    try:
        review.set_model(bundled_classifier.card)
        rows = review.add_predictions(
            names, np.full((2, 17), 0.5, np.float32), "not-this-model", np.ones((2, 8))
        )
        assert rows == [] and review.features is None
        assert review.session.load_features("not-this-model") == {}
    finally:
        review.close()


def test_a_session_written_before_features_gets_their_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE predictions (model_version TEXT NOT NULL, chip TEXT NOT NULL,"
        " probs BLOB NOT NULL, PRIMARY KEY (model_version, chip));"
    )
    old.close()
    session = ReviewSession(path)
    try:
        vectors = np.array([[0.5, 1.25, 3.0], [0.0, 2.0, 7.5]], dtype=np.float32)
        session.store_features("v1", ["x", "y"], vectors)
        loaded = session.load_features("v1")
        assert loaded["x"].dtype == np.float16
        np.testing.assert_array_equal(np.stack([loaded["x"], loaded["y"]]), vectors)
        assert session.load_features("v2") == {}
    finally:
        session.close()


def test_a_blank_table_made_ahead_is_taken_when_it_fits(
    tmp_path: Path, synthetic_chips, bundled_classifier: Classifier
) -> None:
    names = ["a", "b", "c"]
    synthetic_chips(tmp_path / "chips", names)
    review = Review(tmp_path / "chips", _labels(tmp_path / "labels.csv", names))
    probs = np.full((1, 17), 0.5, np.float32)
    version = bundled_classifier.card.version
    try:
        review.set_model(bundled_classifier.card)
        wrong = empty_features(len(names) + 1, 8)  # another review's size: not taken
        review.add_predictions(["b"], probs, version, np.ones((1, 8)), blank=wrong)
        assert review.features is not wrong and review.features.shape == (3, 8)
        review.set_model(replace(bundled_classifier.card, version=version + "-2"))
        blank = empty_features(len(names), 8)
        review.add_predictions(["c"], probs, version + "-2", np.full((1, 8), 2.0), blank=blank)
        assert review.features is blank
        np.testing.assert_array_equal(review.has_features, [False, False, True])
        np.testing.assert_array_equal(blank[2], np.full(8, 2.0, np.float16))
    finally:
        review.close()
