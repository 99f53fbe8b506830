"""The classifier with a real (tiny) trained model: loading, predicting, its card, bad files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import fbeta_score
from sklearn.preprocessing import MultiLabelBinarizer

from model.card import card_path, read_card
from model.chips import decode_rgb, list_chips
from model.classifier import Classifier, build_network, dihedral
from model.decoding import decode_all
from model.errors import CancelledError, ModelError
from model.int8_twin import calibration_draw
from model.metrics import GRID, cross_validated_calls, decide
from model.predicting import load_model
from model.tags import TAG_INDEX, TAGS, WEATHER_INDICES


@pytest.fixture(scope="module")
def classifier(tiny_model: Path) -> Classifier:
    return Classifier.load(tiny_model)


@pytest.fixture(scope="module")
def chip_images(chips_dir: Path) -> np.ndarray:
    paths = list_chips(chips_dir).paths[:24]
    decoded = decode_all(paths, 32)
    assert not decoded.errors
    return decoded.images


def test_load_gives_seventeen_sigmoid_outputs(
    classifier: Classifier, tiny_model: Path, chip_images: np.ndarray
) -> None:
    import keras

    assert classifier.path == tiny_model
    assert classifier.input_size == 32 == read_card(tiny_model).input_size
    head = classifier.network.get_layer("tags")
    assert head.activation is keras.activations.sigmoid
    # On real chips, the head's inputs through its weights and a sigmoid worked out here give
    # what predict gives: 17 independent probabilities per chip, in the card's tag order.
    images = chip_images[:6]
    features = keras.Model(classifier.network.inputs, head.input)
    pooled = np.asarray(features.predict_on_batch(images.astype(np.float32)), dtype=np.float64)
    kernel, bias = head.get_weights()
    assert kernel.shape == (pooled.shape[1], len(TAGS))
    by_hand = 1.0 / (1.0 + np.exp(-(pooled @ kernel + bias)))
    probs = classifier.predict(images)
    assert probs.shape == (6, 17)
    np.testing.assert_allclose(probs, by_hand, atol=1e-5)
    assert not np.allclose(probs.sum(axis=1), 1.0)  # not a softmax over the tags


def test_predict_on_real_chips(classifier: Classifier, chip_images: np.ndarray) -> None:
    progress = []
    probs = classifier.predict(chip_images, batch_size=10, progress=lambda d, t: progress.append(d))
    assert probs.shape == (len(chip_images), 17)
    assert probs.dtype == np.float32
    assert np.isfinite(probs).all()
    assert (probs >= 0).all() and (probs <= 1).all()
    assert progress == [10, 20, 24]
    # Different chips get different answers: the network looks at the pixels.
    assert np.ptp(probs, axis=0).max() > 1e-4
    # Batching does not change the answer.
    again = classifier.predict(chip_images[:7], batch_size=3)
    np.testing.assert_allclose(again, probs[:7], atol=1e-5)
    assert classifier.predict(chip_images[:0]).shape == (0, 17)
    with pytest.raises(ValueError):
        classifier.predict(chip_images[0])


def test_predict_can_be_cancelled(classifier: Classifier, chip_images: np.ndarray) -> None:
    with pytest.raises(CancelledError):
        classifier.predict(chip_images, batch_size=8, cancel=lambda: True)


def test_dihedral_gives_the_eight_views() -> None:
    image = np.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3)
    views = [dihedral(image, k) for k in range(8)]
    assert np.array_equal(views[0], image)
    assert len({v.tobytes() for v in views}) == 8
    assert all(v.shape == image.shape for v in views)


def test_tta_averages_the_eight_views(classifier: Classifier, chip_images: np.ndarray) -> None:
    images = chip_images[:8]
    plain = classifier.predict(images)
    tta = classifier.predict(images, tta=True)
    assert tta.shape == plain.shape
    assert (tta >= 0).all() and (tta <= 1).all()
    by_hand = np.mean(
        [classifier.predict(np.ascontiguousarray(dihedral(images, k))) for k in range(8)], axis=0
    )
    np.testing.assert_allclose(tta, by_hand, atol=1e-5)
    difference = np.abs(tta - plain)
    assert difference.max() > 1e-5  # the views really differ
    assert difference.mean() < 0.2  # but only slightly


def test_network_is_fully_convolutional(classifier: Classifier, chips_dir: Path) -> None:
    paths = list_chips(chips_dir).paths[:4]
    big = decode_all(paths, 64).images
    probs = classifier.predict(big)
    assert probs.shape == (4, 17)
    assert (probs >= 0).all() and (probs <= 1).all()


def test_decide_follows_the_card(classifier: Classifier, chip_images: np.ndarray) -> None:
    probs = classifier.predict(chip_images)
    calls = classifier.decide(probs)
    assert calls.shape == probs.shape and calls.dtype == bool
    thresholds = np.array([classifier.card.thresholds[t] for t in TAGS], dtype=np.float32)
    assert classifier.card.weather_rule in ("argmax", "threshold")
    argmax = classifier.card.weather_rule == "argmax"
    assert np.array_equal(calls, decide(probs, thresholds, argmax))
    # Exactly one weather tag; land tags on their thresholds except beside cloudy.
    assert (calls[:, list(WEATHER_INDICES)].sum(axis=1) == 1).all()
    clear_sky = ~calls[:, TAG_INDEX["cloudy"]]
    land = slice(4, 17)
    assert np.array_equal(calls[clear_sky, land], (probs[:, land] >= thresholds[land])[clear_sky])


def test_card_fields(
    tiny_model: Path,
    classifier: Classifier,
    chips_dir: Path,
    chip_labels: dict[str, tuple[str, ...]],
    labelled_names: list[str],
) -> None:
    from conftest import TINY_MODEL_CHIPS

    raw = json.loads(card_path(tiny_model).read_text(encoding="utf-8"))
    for key in ("tags", "input_size", "thresholds", "version", "created", "history", "metrics"):
        assert key in raw, key
    assert raw["tags"] == list(TAGS)
    assert raw["input_size"] == 32
    assert set(raw["thresholds"]) == set(TAGS)
    assert np.isin(np.round(list(raw["thresholds"].values()), 2), GRID).all()
    assert raw["weather_rule"] in ("argmax", "threshold")
    assert raw["created"].startswith("20")
    assert len(raw["history"]) == 1 and raw["history"][0]["epoch"] == 1
    data = raw["data"]
    assert data["n_train"] + data["n_val"] == data["n_labelled"] == 60
    assert data["n_val"] == len(data["validation_names"]) >= 5
    # Its int8 twin's calibration chips: all its training chips here (fewer than 1,024), none
    # of them a validation chip.
    validation = set(data["validation_names"])
    train_names = [n for n in labelled_names[:TINY_MODEL_CHIPS] if n not in validation]
    assert data["calibration_names"] == calibration_draw(train_names)
    assert len(data["calibration_names"]) == data["n_train"]
    assert read_card(tiny_model).version == raw["version"]

    # The validation figures: scikit-learn's scores of the cross-validated calls on the card's
    # validation chips, 5 draws of the halves from the recipe's seed, averaged.
    names = data["validation_names"]
    images = np.stack([decode_rgb(chips_dir / f"{n}.jpg", 32) for n in names])
    probs = classifier.predict(images)
    y_val = MultiLabelBinarizer(classes=list(TAGS)).fit_transform([chip_labels[n] for n in names])
    argmax = raw["weather_rule"] == "argmax"
    seed = raw["recipe"]["seed"]
    draws = [cross_validated_calls(y_val, probs, argmax, 2, seed + k) for k in range(5)]
    validation = raw["metrics"]["validation"]
    assert validation["n_chips"] == len(names)
    assert set(validation["per_tag"]) == set(TAGS)
    for key, beta in (("f2_samples", 2), ("f1_samples", 1)):
        expected = np.mean(
            [
                fbeta_score(y_val, calls, beta=beta, average="samples", zero_division=0)
                for calls in draws
            ]
        )
        assert validation[key] == pytest.approx(expected, abs=1e-9), key
    by_rule = raw["metrics"]["f2_by_weather_rule"]
    assert by_rule[raw["weather_rule"]] == max(by_rule.values())


# --- bad model files ---------------------------------------------------------------------
def _one_line_naming(exc: pytest.ExceptionInfo, path: Path) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def _model_beside_card(tmp_path: Path, tiny_model: Path, card: dict | None) -> Path:
    model = tmp_path / "m.keras"
    model.symlink_to(tiny_model)
    if card is not None:
        card_path(model).write_text(json.dumps(card), encoding="utf-8")
    return model


def _card(tiny_model: Path) -> dict:
    return json.loads(card_path(tiny_model).read_text(encoding="utf-8"))


def test_missing_model_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.keras"
    with pytest.raises(ModelError) as info:
        Classifier.load(path)
    assert "no such model file" in _one_line_naming(info, path)


def test_corrupt_model_file_with_a_valid_card(tmp_path: Path, tiny_model: Path) -> None:
    path = tmp_path / "corrupt.keras"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    card_path(path).write_text(card_path(tiny_model).read_text())
    with pytest.raises(ModelError) as info:
        Classifier.load(path)
    assert "not a Keras model file" in _one_line_naming(info, path)


def test_zip_that_is_not_a_keras_model(tmp_path: Path, tiny_model: Path) -> None:
    import zipfile

    path = tmp_path / "notkeras.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a model")
    card_path(path).write_text(card_path(tiny_model).read_text())
    with pytest.raises(ModelError) as info:
        Classifier.load(path)
    assert "cannot load model" in _one_line_naming(info, path)


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_missing_card(tmp_path: Path, tiny_model: Path) -> None:
    model = _model_beside_card(tmp_path, tiny_model, None)
    with pytest.raises(ModelError) as info:
        Classifier.load(model)
    assert "card missing" in _one_line_naming(info, card_path(model))


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
@pytest.mark.parametrize(
    "tags",
    [
        [*TAGS[:-1], "forest"],  # a tag the app does not know
        list(TAGS[:-1]),  # one too few
        [*TAGS[:-1], "primary"],  # one repeated, one missing
        list(reversed(TAGS)),  # the right tags in another order
    ],
    ids=["unknown", "too-few", "repeated", "reordered"],
)
def test_card_with_wrong_tags(tmp_path: Path, tiny_model: Path, tags: list[str]) -> None:
    card = _card(tiny_model)
    card["tags"] = tags
    model = _model_beside_card(tmp_path, tiny_model, card)
    with pytest.raises(ModelError) as info:
        Classifier.load(model)
    assert "tags" in _one_line_naming(info, card_path(model))


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"input_size": 1000}, "input size"),
        ({"format": 99}, "newer"),
        ({"version": None, "created": None, "input_size": None}, None),
    ],
    ids=["input-size", "format", "fields"],
)
def test_card_with_bad_fields(tmp_path: Path, tiny_model: Path, change: dict, words) -> None:
    card = _card(tiny_model)
    for key, value in change.items():
        if value is None:
            del card[key]
        else:
            card[key] = value
    model = _model_beside_card(tmp_path, tiny_model, card)
    with pytest.raises(ModelError) as info:
        Classifier.load(model)
    message = _one_line_naming(info, card_path(model))
    assert words is None or words in message


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_card_not_json(tmp_path: Path, tiny_model: Path) -> None:
    model = _model_beside_card(tmp_path, tiny_model, None)
    card_path(model).write_text("{ this is not json", encoding="utf-8")
    with pytest.raises(ModelError) as info:
        Classifier.load(model)
    assert "unreadable model card" in _one_line_naming(info, card_path(model))


def test_no_bundled_model_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    import model.paths

    monkeypatch.setattr(model.paths, "BUNDLED_MODEL", tmp_path / "none.keras")
    with pytest.raises(ModelError) as info:
        load_model()
    assert "no bundled model" in _one_line_naming(info, tmp_path / "none.keras")


def test_build_network_rejects_bad_choices(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown architecture"):
        build_network("resnet")
    with pytest.raises(ModelError, match="plain 'vgg16'"):
        build_network("vgg16_bn", imagenet_weights=tmp_path / "w.h5")
    with pytest.raises(ModelError, match="no such ImageNet weights"):
        build_network("vgg16", imagenet_weights=tmp_path / "w.h5")


# --- saving ------------------------------------------------------------------------------
def test_save_is_atomic_and_round_trips(
    classifier: Classifier, chip_images: np.ndarray, tmp_path: Path, monkeypatch
) -> None:
    import keras

    folder = tmp_path / "models"
    target = folder / "copy.keras"
    saved = Classifier(classifier.network, classifier.card).save(target)
    assert saved == target
    assert sorted(p.name for p in folder.iterdir()) == ["copy.json", "copy.keras"]
    if sys.platform != "win32":
        umask = os.umask(0o022)
        os.umask(umask)
        assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    reloaded = Classifier.load(target)
    np.testing.assert_allclose(
        reloaded.predict(chip_images[:4]), classifier.predict(chip_images[:4]), atol=1e-5
    )
    assert reloaded.card.version == classifier.card.version

    # A crash while writing leaves the old model and card as they were, and no temp file.
    before = target.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.saving, "save_model", disk_full)
    with pytest.raises(ModelError) as info:
        Classifier(classifier.network, classifier.card).save(target)
    assert "cannot write model" in _one_line_naming(info, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["copy.json", "copy.keras"]

    with pytest.raises(ModelError, match=r"\.keras"):
        Classifier(classifier.network, classifier.card).save(folder / "copy.h5")


@pytest.mark.parametrize(("setting", "expected"), [(None, True), ("0", False)])
def test_onednn_kernels_on_unless_the_user_says_otherwise(setting: str | None, expected: bool):
    # TensorFlow leaves them off on AVX2-only CPUs, where they train 2.6x faster (README).
    probe = (
        "import model.classifier\n"
        "from tensorflow.python.util import _pywrap_util_port as port\n"
        "print(port.IsMklEnabled())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(expected)


def test_features_come_from_the_same_pass_as_the_probabilities(
    classifier: Classifier, chip_images: np.ndarray
) -> None:
    """The two-output network gives the very probabilities of the plain one, and features
    that are the pooling layer's output (their dense head reproduces the probabilities)."""
    probs, features = classifier.predict_batch_with_features(chip_images)
    np.testing.assert_allclose(probs, classifier.predict_batch(chip_images), atol=1e-5)
    head = classifier.network.get_layer("tags")
    weights, bias = head.get_weights()
    by_hand = 1 / (1 + np.exp(-(features.astype(np.float64) @ weights + bias)))
    np.testing.assert_allclose(probs, by_hand, atol=1e-4)
    assert features.shape == (len(chip_images), weights.shape[0])
    empty_probs, empty_features = classifier.predict_batch_with_features(chip_images[:0])
    assert empty_probs.shape == (0, 17) and empty_features.shape == (0, weights.shape[0])
