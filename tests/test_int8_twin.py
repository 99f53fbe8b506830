"""The int8 twin: same calls as float32 within the budget, clean fallbacks, one path for all."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from model import int8_twin
from model.card import write_card
from model.cli import main
from model.labels import label_matrix
from model.metrics import summary
from model.paths import TRAINING_DATA_ENV
from model.predicting import predict_paths
from model.predictor import choose_precision, open_predictor, prepare_precision

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def twin_data(tmp_path_factory, planet_dir: Path, bundled_model: Path) -> Path:
    """A user data folder holding the bundled model's twin, made from its own training chips
    read straight out of the 32 px tar, as `make-twin --chips train-jpg-32px.tar` makes it."""
    from conftest import _require

    tar = _require(planet_dir / "train-jpg-32px.tar", "the 32 px training chips")
    data = tmp_path_factory.mktemp("twin") / "data"
    previous = os.environ["CHIP_AUDIT_DATA"]
    os.environ["CHIP_AUDIT_DATA"] = str(data)
    try:
        int8_twin.make_twin(bundled_model, tar, planet_dir / "train_v2.csv")
    finally:
        os.environ["CHIP_AUDIT_DATA"] = previous
    return data


@pytest.fixture
def with_twin(twin_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the twin's data folder for one test to break as it likes."""
    data = tmp_path / "data"
    shutil.copytree(twin_data, data)
    monkeypatch.setenv("CHIP_AUDIT_DATA", str(data))
    return data


def test_int8_calls_agree_with_float32_on_the_full_size_chips(
    with_twin, bundled_model, chips_dir, chip_labels, labelled_names
):
    paths = [chips_dir / f"{n}.jpg" for n in labelled_names]
    twin = open_predictor(bundled_model, "int8")
    fp32 = open_predictor(bundled_model, "fp32")
    assert (twin.precision, fp32.precision) == ("int8", "fp32")
    at8, at32 = predict_paths(twin, paths), predict_paths(fp32, paths)
    assert at8.names == at32.names == labelled_names
    truth = label_matrix(at8.names, chip_labels)
    s8, s32 = summary(truth, at8.calls), summary(truth, at32.calls)
    assert s32["f2_samples"] - s8["f2_samples"] <= int8_twin.F2_BUDGET
    assert s32["macro_f1"] - s8["macro_f1"] <= int8_twin.MACRO_F1_BUDGET
    assert (at8.calls == at32.calls).mean() > 0.99
    # Issue 19's features come from the same int8 pass, close to float32's.
    from model.decoding import decode_all

    images = decode_all(paths[:64], twin.input_size).images
    probs, pooled = twin.predict_batch_with_features(images)
    fp32_probs, fp32_pooled = fp32.predict_batch_with_features(images)
    assert probs.shape == (64, 17) and pooled.shape == (64, 512)
    np.testing.assert_array_equal(probs, at8.probs[:64])
    assert np.abs(pooled - fp32_pooled).mean() < 0.05 * np.abs(fp32_pooled).mean()
    # The stored check holds the validation figures the default decision rests on.
    check = json.loads(int8_twin.check_path(twin.version).read_text())
    assert check["validation"]["n_chips"] == len(twin.card.data["validation_names"])
    assert check["calibration"]["n_chips"] == int8_twin.CALIBRATION_CHIPS
    assert check["calibration"]["names"] == "the card's calibration_names"


# --- where the training chips are found ------------------------------------------------------
def _moved(card, tmp_path: Path):
    """The bundled card as on a user's machine: the folder and labels file it was trained from
    are not there."""
    data = {**card.data, "folder": str(tmp_path / "gone" / "train-jpg-32px")}
    return dataclasses.replace(card, data={**data, "labels": str(tmp_path / "gone" / "l.csv")})


def test_the_training_chips_are_read_from_the_archive_where_the_cards_folder_is_absent(
    bundled_classifier, planet_dir, chip_labels, tmp_path, monkeypatch
):
    from conftest import _require

    tar = _require(planet_dir / "train-jpg-32px.tar", "the 32 px training chips")
    card = _moved(bundled_classifier.card, tmp_path)
    expected = int8_twin.TrainingData(tar, planet_dir / "train_v2.csv")
    monkeypatch.delenv(TRAINING_DATA_ENV)  # the data folder beside the checkout
    assert int8_twin.find_training_data(card) == expected
    monkeypatch.setenv(TRAINING_DATA_ENV, str(planet_dir))
    assert int8_twin.find_training_data(card) == expected

    unpacked = tmp_path / "unpacked"
    calibration, validation, labels = int8_twin.training_chips(card, unpack_to=unpacked)
    # Exactly the chips the card names, and only those are read out of the archive.
    names = card.data["validation_names"]
    assert [p.stem for p in calibration] == card.data["calibration_names"]
    assert [p.stem for p in validation] == names
    assert {p.parent for p in calibration + validation} == {unpacked}
    assert len(list(unpacked.iterdir())) == int8_twin.CALIBRATION_CHIPS + len(names)
    assert all(n in labels for n in names)


def test_the_bundled_cards_calibration_chips_are_its_own_training_chips(
    bundled_classifier, planet_dir, train_v2_csv, chip_labels
):
    """1,024 of the chips it trained on (the tar's chips labelled in train_v2.csv, less the 852
    full-size chips held back for evaluation, less its validation chips), drawn as `train`
    draws them; none is a validation chip or one of the held-back chips."""
    from conftest import _require

    from model.labels import read_labels

    tar = _require(planet_dir / "train-jpg-32px.tar", "the 32 px training chips")
    data = bundled_classifier.card.data
    calibration, validation = data["calibration_names"], set(data["validation_names"])
    assert len(set(calibration)) == len(calibration) == int8_twin.CALIBRATION_CHIPS
    assert not validation & set(calibration)
    assert not set(chip_labels) & set(calibration)
    labelled = read_labels(train_v2_csv)
    trained_on = [
        n
        for n in int8_twin._chips_in(tar)
        if n in labelled and n not in chip_labels and n not in validation
    ]
    assert len(trained_on) == data["n_train"]
    assert int8_twin.calibration_draw(trained_on) == calibration
    assert (data["archive"], data["labels_source"]) == (tar.name, train_v2_csv.name)


def test_a_missing_archive_falls_back_with_one_line_naming_what_was_looked_for(
    bundled_model, bundled_classifier, tmp_path, monkeypatch
):
    empty = tmp_path / "no-data"
    monkeypatch.setenv(TRAINING_DATA_ENV, str(empty))
    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "app-data"))
    moved = tmp_path / "model" / bundled_model.name
    moved.parent.mkdir()
    moved.symlink_to(bundled_model)
    write_card(moved, _moved(bundled_classifier.card, tmp_path))
    lines: list[str] = []
    choice = prepare_precision(moved, "auto", lines.append)
    assert choice.precision == "fp32" and not int8_twin.twins_dir().exists()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"float32: no int8 twin for version {bundled_classifier.version}")
    assert (
        f"its training chips (train-jpg-32px.tar) are not in ${TRAINING_DATA_ENV} ({empty}), "
        f"nor where its card says ({tmp_path / 'gone' / 'train-jpg-32px'})" in lines[0]
    )
    assert "make-twin --chips FOLDER_OR_TAR --labels CSV" in lines[0]


def _corrupt(data: Path, version: str) -> str:
    onnx_file = int8_twin.twin_path(version)
    raw = bytearray(onnx_file.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\0" * 64
    onnx_file.write_bytes(bytes(raw))
    return "corrupt int8 twin"


def _stale(data: Path, version: str) -> str:
    check = json.loads(int8_twin.check_path(version).read_text())
    check["version"] = "20200101-000000-00000000"
    int8_twin.check_path(version).write_text(json.dumps(check))
    return "stale int8 twin"


def _missing(data: Path, version: str) -> str:
    int8_twin.twin_path(version).unlink()
    return "no int8 twin for version"


@pytest.mark.parametrize("breakage", [_corrupt, _stale, _missing])
def test_a_broken_twin_falls_back_to_float32_with_one_line(
    with_twin, bundled_model, bundled_classifier, breakage, monkeypatch
):
    # Where the card's training chips are on this machine, `auto` makes a missing twin again.
    def not_here(card, folder=None, labels=None):
        raise int8_twin.ModelError("its training chips (here) are not on this machine")

    monkeypatch.setattr(int8_twin, "training_chips", not_here)
    reason = breakage(with_twin, bundled_classifier.version)
    lines: list[str] = []
    predictor = open_predictor(bundled_model, "auto", lines.append)
    assert predictor.precision == "fp32"
    assert len(lines) == 1 and lines[0].startswith("float32: ") and reason in lines[0]


def test_a_twin_of_other_weights_is_stale_even_with_a_matching_check(
    with_twin, bundled_model, bundled_classifier
):
    """The ONNX file says which version it was made from: a twin copied under another model's
    name (checksum and check rewritten to match) is refused by its own metadata. Asked for at
    int8, so that it is loaded whatever its check's verdict on this machine."""
    import onnx

    version = bundled_classifier.version
    model = onnx.load(str(int8_twin.twin_path(version)))
    stamp = next(p for p in model.metadata_props if p.key == int8_twin.VERSION_KEY)
    stamp.value = "20200101-000000-00000000"
    onnx.save(model, str(int8_twin.twin_path(version)))
    check = json.loads(int8_twin.check_path(version).read_text())
    check["onnx_sha256"] = int8_twin._sha256(int8_twin.twin_path(version))
    int8_twin.check_path(version).write_text(json.dumps(check))
    lines: list[str] = []
    assert open_predictor(bundled_model, "int8", lines.append).precision == "fp32"
    assert len(lines) == 1 and "stale int8 twin (made from version 20200101" in lines[0]


def test_cli_predict_with_a_corrupt_twin_writes_float32_calls_and_says_why(
    with_twin,
    bundled_model,
    bundled_classifier,
    chips_dir,
    labelled_names,
    tmp_path,
    capsys,
    link_chips,
):
    folder = tmp_path / "chips"
    folder.mkdir()
    link_chips(labelled_names[:40], chips_dir, folder)
    _corrupt(with_twin, bundled_classifier.version)
    out, fp32_out = tmp_path / "auto.csv", tmp_path / "fp32.csv"
    assert main(["predict", str(folder), "--model", str(bundled_model), "--out", str(out)]) == 0
    said = [ln for ln in capsys.readouterr().err.splitlines() if "int8 twin" in ln]
    assert len(said) == 1 and "corrupt" in said[0]
    argv = ["predict", str(folder), "--model", str(bundled_model), "--precision", "fp32"]
    assert main([*argv, "--out", str(fp32_out)]) == 0
    assert out.read_bytes() == fp32_out.read_bytes()


def test_info_says_which_precision_runs_and_why(with_twin, bundled_model, capsys):
    assert main(["info", "--model", str(bundled_model)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("precision"))
    check = json.loads(next(with_twin.glob("twins/*.int8.json")).read_text())
    _, why = int8_twin.verdict(check)
    assert line == f"precision    {why}" and "samples F2" in why


def test_the_app_worker_runs_the_command_line_predictor(
    with_twin, bundled_model, bundled_classifier, chips_dir, labelled_names, qapp
):
    """The window's inference worker opens its model with `open_predictor`, as `predict` does:
    with the twin cached it runs the precision the command line chooses (int8 where the twin's
    check says it is faster here and within budget), and its batches are the command line's
    probabilities."""
    from gui.workers import InferenceWorker, PredictionJob

    paths = [chips_dir / f"{n}.jpg" for n in labelled_names[:100]]
    worker = InferenceWorker()
    chosen: list[str] = []
    batches: list[np.ndarray] = []
    failed: list[str] = []
    worker.precision_chosen.connect(lambda _run, precision: chosen.append(precision))
    worker.batch_ready.connect(lambda _run, _names, probs: batches.append(probs))
    worker.failed.connect(lambda _run, message: failed.append(message))
    worker.run(PredictionJob(str(bundled_model), paths, bundled_classifier.version))
    assert failed == [] and chosen == [choose_precision(bundled_model).precision]
    command_line = predict_paths(open_predictor(bundled_model, "auto"), paths)
    np.testing.assert_array_equal(np.concatenate(batches), command_line.probs)
