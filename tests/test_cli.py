"""`python main.py ...` as a user runs it: JSON reports, CSV outputs, one-line user errors."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from command_line import loaded_tensorflow, run_watching_imports
from reference import calls_by_hand
from sklearn.metrics import f1_score, fbeta_score
from sklearn.preprocessing import MultiLabelBinarizer

from model.chips import list_chips
from model.labels import label_matrix, read_labels, write_labels
from model.tags import TAGS, from_vector, rule_violations, to_vector

REPO_ROOT = Path(__file__).resolve().parent.parent
N_LABELLED = 40
PER_TAG_KEYS = {"support", "precision", "recall", "f1", "f2", "threshold"}


def run(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def assert_user_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()  # ours only: TensorFlow's start-up lines are gone
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def small_folder(
    tmp_path_factory: pytest.TempPathFactory,
    chips_dir: Path,
    labelled_names: list[str],
    link_chips,
) -> Path:
    """40 labelled chips the tiny model never saw, the 25 unlabelled ones, a dangling link."""
    folder = tmp_path_factory.mktemp("cli") / "chips"
    unlabelled = sorted(p.stem for p in chips_dir.glob("*.jpg") if not p.stem.startswith("train_"))
    assert len(unlabelled) == 25
    link_chips(labelled_names[100 : 100 + N_LABELLED] + unlabelled, chips_dir, folder)
    if sys.platform != "win32":
        (folder / "train_999999.jpg").symlink_to(folder / "gone.jpg")
    return folder


def test_help() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("predict", "evaluate", "train", "tune-thresholds", "info"):
        assert command in result.stdout
    assert "Traceback" not in result.stderr


def test_train_rejects_a_positive_weight_cap_below_one(
    small_folder: Path, labels_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.keras"
    args = ("--labels", labels_csv, "--max-pos-weight", "0.5", "--out", out)
    result = run_watching_imports("train", small_folder, *args)
    assert_user_error(result, "max positive weight", "0.5")
    assert not out.exists()
    assert not loaded_tensorflow(result)  # said at once, not after seconds of TensorFlow


def test_info_json(tiny_model: Path) -> None:
    result = run("info", "--model", tiny_model, "--json")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert card["version"] == json.loads(tiny_model.with_suffix(".json").read_text())["version"]
    assert card["tags"] == list(TAGS)
    assert card["input_size"] == 32


def test_info_text(tiny_model: Path) -> None:
    result = run("info", "--model", tiny_model)
    assert result.returncode == 0, result.stderr
    assert str(tiny_model) in result.stdout
    assert "validation   F2" in result.stdout
    assert all(tag in result.stdout for tag in TAGS)


@pytest.fixture(scope="module")
def evaluated(small_folder: Path, labels_csv: Path, tiny_model: Path):
    return run("evaluate", small_folder, "--labels", labels_csv, "--model", tiny_model, "--json")


def test_evaluate_json(
    evaluated: subprocess.CompletedProcess[str],
    small_folder: Path,
    labels_csv: Path,
    tiny_model: Path,
) -> None:
    assert evaluated.returncode == 0, evaluated.stderr
    assert len(evaluated.stdout.strip().splitlines()) == 1  # one JSON object, nothing else
    report = json.loads(evaluated.stdout)
    for key in ("n_chips", "f2_samples", "f1_samples", "macro_f1", "chips_per_s", "per_tag"):
        assert key in report, key
    assert report["n_chips"] == N_LABELLED
    assert report["n_unlabelled_chips"] == 25
    assert report["n_labels_without_chip"] == len(read_labels(labels_csv)) - N_LABELLED
    assert report["chips_per_s"] > 0
    assert list(report["per_tag"]) == list(TAGS)
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    for tag, scores in report["per_tag"].items():
        assert set(scores) >= PER_TAG_KEYS, tag
        assert scores["threshold"] == pytest.approx(card["thresholds"][tag])
    labels = read_labels(labels_csv)
    in_folder = [p.stem for p in small_folder.glob("train_*.jpg") if p.stem in labels]
    truth = label_matrix(in_folder, labels)
    assert sum(s["support"] for s in report["per_tag"].values()) == int(truth.sum())
    if sys.platform != "win32":
        assert report["errors"] == [f"{small_folder / 'train_999999.jpg'}: broken symbolic link"]
    else:
        assert report["errors"] == []


def test_predict_writes_labels_and_probabilities(
    small_folder: Path,
    labels_csv: Path,
    tiny_model: Path,
    tmp_path: Path,
    evaluated: subprocess.CompletedProcess[str],
) -> None:
    out, probs_out = tmp_path / "predicted.csv", tmp_path / "probs.csv"
    result = run("predict", small_folder, "--model", tiny_model, "--out", out, "--probs", probs_out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    n_chips = N_LABELLED + 25
    assert f"predicted {n_chips} chips" in result.stderr
    if sys.platform != "win32":
        assert "skipped: " in result.stderr and "train_999999.jpg" in result.stderr

    predicted = read_labels(out)
    assert len(predicted) == n_chips
    assert set(predicted) == {p.stem for p in small_folder.iterdir() if p.exists()}
    with open(probs_out, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["image_name", *TAGS]
    assert [r[0] for r in rows[1:]] == list(predicted)
    probs = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert probs.shape == (n_chips, 17)
    assert (probs >= 0).all() and (probs <= 1).all()

    # The tags written are the card's calls on the probabilities written, and no row breaks a
    # rule the app flags, though the plain threshold rule breaks them on these chips.
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    thresholds = np.array([card["thresholds"][t] for t in TAGS])
    calls = np.array([to_vector(predicted[n]) for n in predicted], dtype=bool)
    near = (np.abs(probs - thresholds) < 1e-4).any(axis=1)  # the CSV rounds to 5 decimals
    by_hand = calls_by_hand(probs, thresholds, card["weather_rule"] == "argmax")
    expected_calls = np.array([to_vector(tags) for tags in by_hand], dtype=bool)
    assert np.array_equal(calls[~near], expected_calls[~near])
    assert [n for n, tags in predicted.items() if rule_violations(tags)] == []
    assert any(rule_violations(from_vector(row)) for row in probs >= thresholds)

    # Scored by scikit-learn, the predictions written give evaluate's figures.
    labels = read_labels(labels_csv)
    scored = [n for n in predicted if n in labels]
    assert len(scored) == N_LABELLED
    binarize = MultiLabelBinarizer(classes=list(TAGS)).fit_transform
    y_true = binarize([labels[n] for n in scored])
    y_pred = binarize([predicted[n] for n in scored])
    report = json.loads(evaluated.stdout)
    expected = {
        "f2_samples": fbeta_score(y_true, y_pred, beta=2, average="samples", zero_division=0),
        "f1_samples": f1_score(y_true, y_pred, average="samples", zero_division=0),
        "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
    }
    assert {k: report[k] for k in expected} == pytest.approx(expected, abs=1e-9)
    # Beside it, the plain threshold rule's, which `evaluate` names as such.
    assert "one weather tag" in report["rule"]
    if not near.any():
        rows = [list(predicted).index(n) for n in scored]
        plain = probs[rows] >= thresholds
        plain_f2 = fbeta_score(y_true, plain, beta=2, average="samples", zero_division=0)
        assert plain_f2 == pytest.approx(report["f2_samples_threshold_rule"], abs=1e-9)


def test_predict_nonexistent_folder(tmp_path: Path, tiny_model: Path) -> None:
    folder = tmp_path / "no such folder"
    result = run("predict", folder, "--model", tiny_model)
    assert_user_error(result, str(folder), "no such folder")


def test_nothing_to_predict_or_score_is_a_user_error(
    small_folder: Path, labelled_names: list[str], tiny_model: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a chip")
    out = tmp_path / "out.csv"
    result = run("predict", empty, "--model", tiny_model, "--out", out)
    assert_user_error(result, str(empty), "no chip files")
    assert not out.exists()

    other = tmp_path / "other.csv"  # labels for none of the folder's chips
    write_labels(other, {"train_999999": ("clear",)})
    result = run("evaluate", small_folder, "--labels", other, "--model", tiny_model)
    chips = len(list_chips(small_folder).paths)
    assert_user_error(result, str(small_folder), f"none of its {chips} chips", str(other))
    result = run("evaluate", empty, "--labels", other, "--model", tiny_model)
    assert_user_error(result, str(empty), "nothing to score (no chip files in it)")


def test_evaluate_labels_with_unknown_tag(
    small_folder: Path, labelled_names: list[str], tiny_model: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    write_labels(bad, {labelled_names[0]: ("clear",)})
    bad.write_text(bad.read_text() + "train_5,clear rainforest\n")
    result = run("evaluate", small_folder, "--labels", bad, "--model", tiny_model)
    assert_user_error(result, str(bad), "row 3", "'rainforest'")


def test_nonexistent_model(small_folder: Path, tmp_path: Path) -> None:
    model = tmp_path / "absent.keras"
    assert_user_error(run("predict", small_folder, "--model", model), str(model), "no such")
    assert_user_error(run("info", "--model", model), str(model), "no such model file")


def _copy_model(model: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for path in (model, model.with_suffix(".json")):
        (dest / path.name).write_bytes(path.read_bytes())
    return dest / model.name


def test_tune_thresholds_rewrites_the_card_and_not_the_weights(
    tmp_path: Path, tiny_model: Path, chips_dir: Path, labels_csv: Path
) -> None:
    from model.card import read_card, write_card
    from model.chips import decode_rgb
    from model.classifier import Classifier
    from model.metrics import tune_thresholds

    model = _copy_model(tiny_model, tmp_path)
    # A card from before the current rule: every threshold 0.5.
    old = read_card(model)
    old.thresholds = dict.fromkeys(TAGS, 0.5)
    write_card(model, old)

    result = run("tune-thresholds", chips_dir, "--labels", labels_csv, "--model", model)
    assert result.returncode == 0, result.stderr
    assert "after  validation F2" in result.stdout
    assert model.read_bytes() == tiny_model.read_bytes()
    card = read_card(model)
    assert card.version == old.version and card.history == old.history
    assert "thresholds_retuned" in card.metrics
    assert len(card.metrics["validation"]["per_draw"]["macro_f1"]) == 5

    # The new thresholds are the tuning rule's on the model's own validation chips.
    classifier = Classifier.load(model)
    names = card.data["validation_names"]
    images = np.stack([decode_rgb(chips_dir / f"{n}.jpg", card.input_size) for n in names])
    probs = classifier.predict(images)
    expected = tune_thresholds(label_matrix(names, read_labels(labels_csv)), probs)
    assert card.threshold_list() == pytest.approx(np.round(expected, 4).tolist())


def test_tune_thresholds_without_the_validation_chips_changes_nothing(
    tmp_path: Path, tiny_model: Path, small_folder: Path, labels_csv: Path
) -> None:
    model = _copy_model(tiny_model, tmp_path)
    card_before = model.with_suffix(".json").read_bytes()
    # small_folder holds none of the chips the tiny model validated on.
    result = run_watching_imports(
        "tune-thresholds", small_folder, "--labels", labels_csv, "--model", model
    )
    line = assert_user_error(result, str(small_folder), "validation chips are missing")
    assert "(first: train_" in line
    assert model.with_suffix(".json").read_bytes() == card_before
    assert not loaded_tensorflow(result)  # the chips are checked before the model loads


# --- the command line's own voice -----------------------------------------------------------
def fresh_run(*args: object) -> subprocess.CompletedProcess[str]:
    """`python main.py ...` as on a fresh setup: none of TensorFlow's settings in the
    environment (the test session sets TF_CPP_MIN_LOG_LEVEL for itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    return subprocess.run(
        [sys.executable, "main.py", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_predict_and_evaluate_print_only_their_own_lines(
    tmp_path: Path, chips_dir: Path, labelled_names: list[str], labels_csv: Path, link_chips
) -> None:
    three, one = tmp_path / "three", tmp_path / "one"
    link_chips(labelled_names[:3], chips_dir, three)
    link_chips(labelled_names[:1], chips_dir, one)

    predicted = fresh_run("predict", three)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.splitlines()[0] == "image_name,tags"
    assert len(predicted.stdout.splitlines()) == 4
    lines = predicted.stderr.splitlines()
    assert len(lines) == 3, lines
    # No int8 twin in a fresh data folder, and the bundled model's training chips are not in the
    # training data folder (conftest's, empty), so none is made.
    assert lines[0].startswith("float32: no int8 twin for version "), lines
    assert "training chips (train-jpg-32px.tar) are not in $CHIP_AUDIT_TRAINING_DATA" in lines[0]
    assert re.fullmatch(r"predict \[#{24}\] 3/3 .*", lines[1]), lines
    assert re.fullmatch(r"predicted 3 chips in \d+\.\ds \(\d+ chips/s\)", lines[2]), lines

    evaluated = fresh_run("evaluate", one, "--labels", labels_csv)
    assert evaluated.returncode == 0, evaluated.stderr
    said = evaluated.stderr.strip("\n").splitlines()
    assert len(said) == 2 and said[0].startswith("float32: no int8 twin"), said
    assert re.fullmatch(r"evaluate \[#{24}\] 1/1 *", said[1]), evaluated.stderr
    out = evaluated.stdout.splitlines()
    assert re.fullmatch(r"model \S+ +\(1 chip, \d+ chips/s, fp32\)", out[0]), out
    n_labels = len(read_labels(labels_csv))
    assert out[1] == f"not scored: 0 chips without a label, {n_labels - 1:,} labels without a chip"
    assert out[2].startswith("the model's calls (one weather tag")
    assert out[3].startswith("samples F2 ") and out[4].startswith("plain threshold rule (")
    assert len(out) == 5 + 1 + len(TAGS)  # the tag table: a header and a row per tag
    # A count of one is singular; a rate is not a count ("1 chips/s" under load is right).
    assert not any(re.search(r"\b1 (chips|labels)\b(?!/s)", line) for line in out)


def test_tensorflow_log_lines_are_kept_or_hidden_by_their_severity() -> None:
    from model.tensorflow_setup import shown_lines

    caught = "\n".join(
        [
            "WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR",
            "I0000 00:00:1795979422.234720    4381 port.cc:153] oneDNN custom operations are on.",
            "2024-01-11 05:40:05.061907: I tensorflow/core/platform/cpu_feature_guard.cc:182] "
            "This TensorFlow binary is optimized to use available CPU instructions.",
            "To enable the following instructions: AVX512F, rebuild TensorFlow.",
            "W0000 00:00:1795979423.100000    4381 loader.cc:9] could not load libcuda",
            "E0000 00:00:1795979424.500000    4381 kernel.cc:77] out of memory allocating tensor",
            "a line that is no log line at all",
            "F0000 00:00:1795979425.000000    4381 check.cc:12] Check failed: shape",
        ]
    )
    assert shown_lines(caught, 2) == [
        "E0000 00:00:1795979424.500000    4381 kernel.cc:77] out of memory allocating tensor",
        "a line that is no log line at all",
        "F0000 00:00:1795979425.000000    4381 check.cc:12] Check failed: shape",
    ]
    assert shown_lines(caught, 1)[0].startswith("W0000")
    assert shown_lines(caught, 0) == caught.splitlines()
