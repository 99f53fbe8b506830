"""Retrain without Qt: `model.retrain.retrain` in-process, the trainer process the app starts
(`python -m model.retrain SETTINGS.json`) as a subprocess, and the list of model versions.

Every run is real and short: ~60 real labelled chips, 32 px, one epoch, starting from the
session's tiny model. The chips here are not the tiny model's training chips.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from reference import calls_by_hand
from sklearn.metrics import f1_score, fbeta_score
from sklearn.preprocessing import MultiLabelBinarizer

import model.paths
import model.predicting
import model.training
from model.card import card_path, read_card, write_card
from model.chips import decode_rgb
from model.classifier import Classifier
from model.comparison import MIN_POSITIVES
from model.errors import CancelledError, ChipAuditError, ModelError
from model.labels import read_labels
from model.retrain import MARKER, retrain
from model.tags import TAGS
from model.training import Stopping, TimeLeft, TrainConfig, TrainEvent
from model.versions import MODEL_FILE, delete_model, list_models, new_model_path

REPO_ROOT = Path(__file__).resolve().parent.parent
N_CHIPS = 60
FIRST = 60  # the tiny model trained on labelled_names[:60]; these tests use the next 60


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder_and_labels(
    tmp_path_factory: pytest.TempPathFactory, labelled_names: list[str], labelled_folder
) -> tuple[Path, Path, list[str]]:
    """A folder of 60 real labelled chips (links) and their labels CSV beside it."""
    root = tmp_path_factory.mktemp("retrain_data")
    names = labelled_names[FIRST : FIRST + N_CHIPS]
    assert len(names) == N_CHIPS
    folder, labels = labelled_folder(root, names)
    return folder, labels, names


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch) -> Path:
    """This test's own app data folder (models_dir() is <it>/models)."""
    path = tmp_path / "appdata"
    monkeypatch.setenv("CHIP_AUDIT_DATA", str(path))
    return path


def make_config(folder: Path, labels: Path, out: Path, init: str | Path, **kw) -> TrainConfig:
    base = dict(input_size=32, epochs=1, batch_size=32, val_frac=0.2, patience=3)
    base.update(kw)
    return TrainConfig(folder=folder, labels=labels, out=out, init=str(init), **base)


def install_model(source: Path, dest: Path, version: str | None = None) -> Path:
    """A copy of a model and its card at `dest` (optionally with another version name)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    card = read_card(source)
    if version is not None:
        card = replace(card, version=version)
    write_card(dest, card)
    return dest


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with a hash of its bytes."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- retrain() in-process --------------------------------------------------------------------
def test_retrain_compares_new_and_old_on_the_same_unseen_validation_chips(
    folder_and_labels, tiny_model: Path, data_dir: Path, monkeypatch
) -> None:
    folder, labels_csv, names = folder_and_labels
    labels = read_labels(labels_csv)
    tiny_card = read_card(tiny_model)

    splits: list[tuple[list[str], list[str]]] = []
    real_split = model.training.stratified_split

    def split_spy(*args, **kwargs):
        result = real_split(*args, **kwargs)
        splits.append(result)
        return result

    scored: list[list[str]] = []
    real_score = model.predicting.score_paths

    def score_spy(classifier, paths, *args, **kwargs):
        scored.append([Path(p).stem for p in paths])
        return real_score(classifier, paths, *args, **kwargs)

    monkeypatch.setattr(model.training, "stratified_split", split_spy)
    monkeypatch.setattr(model.predicting, "score_paths", score_spy)

    out = new_model_path()
    events: list[TrainEvent] = []
    comparison = retrain(
        make_config(folder, labels_csv, out, tiny_model), tiny_model, events.append
    )

    # The new model and its card are where they were asked to go, and say where they came from.
    assert Path(comparison["path"]) == out
    assert out.is_file() and card_path(out).is_file()
    card = read_card(out)
    assert card.version == comparison["version"] != tiny_card.version
    assert card.parent == tiny_card.version
    assert card.recipe["init"] == str(tiny_model)
    assert card.recipe["warmup_steps"] == 0  # fine-tuning starts at its learning rate
    # The run it started from stays on the card, so the whole recipe can be retraced.
    parent_run = card.ancestors[0]
    assert parent_run["version"] == tiny_card.version
    assert parent_run["recipe"] == tiny_card.recipe and parent_run["history"] == tiny_card.history
    assert "validation_names" not in parent_run["data"]
    assert "calibration_names" not in parent_run["data"] and card.data["calibration_names"]
    assert card.ancestors[1:] == tiny_card.ancestors
    # Same recipe fields as a model trained by model.training.train directly (the tiny model).
    assert set(card.recipe) == set(tiny_card.recipe)

    # Validation chips: a split of this folder's chips, disjoint from the training part.
    assert len(splits) == 1
    train_names, val_names = splits[0]
    assert card.data["validation_names"] == val_names
    assert set(train_names).isdisjoint(val_names)
    assert sorted(train_names + val_names) == sorted(names)
    assert card.data["n_train"] == len(train_names) and card.data["n_val"] == len(val_names)
    for tag in TAGS:
        assert card.data["counts_train"].get(tag, 0) + card.data["counts_val"].get(tag, 0) == sum(
            tag in labels[n] for n in names
        )

    # Old and new scored on the same chips: the validation chips, and only those.
    assert scored == [val_names]
    assert comparison["n_val"] == len(val_names) >= 5
    new, old = comparison["new"], comparison["old"]
    assert comparison["old_version"] == tiny_card.version
    assert new == card.metrics["validation"]
    assert new["n_chips"] == old["n_chips"] == len(val_names)
    for tag in TAGS:
        support = sum(tag in labels[n] for n in val_names)
        assert new["per_tag"][tag]["support"] == old["per_tag"][tag]["support"] == support
    # The old model is scored with its own thresholds, the new one's are reported beside it.
    assert {t: old["per_tag"][t]["threshold"] for t in TAGS} == pytest.approx(tiny_card.thresholds)
    assert comparison["new_thresholds"] == card.thresholds
    # The old model's figures: its calls on those chips, made here, scored by scikit-learn.
    old_model = Classifier.load(tiny_model)
    images = np.stack([decode_rgb(folder / f"{n}.jpg", 32) for n in val_names])
    probs = old_model.predict(images)
    binarize = MultiLabelBinarizer(classes=list(TAGS)).fit_transform
    thresholds = tiny_card.threshold_list()
    y_pred = binarize(calls_by_hand(probs, thresholds, tiny_card.weather_rule == "argmax"))
    y_true = binarize([labels[n] for n in val_names])
    expected = {
        "f2_samples": fbeta_score(y_true, y_pred, beta=2, average="samples", zero_division=0),
        "f1_samples": f1_score(y_true, y_pred, average="samples", zero_division=0),
        "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
    }
    assert {k: old[k] for k in expected} == pytest.approx(expected, abs=1e-9)

    # Each tag's validation positives, and which are too few to mean anything.
    positives = comparison["per_tag_positives"]
    for tag in TAGS:
        n_pos = sum(tag in labels[n] for n in val_names)
        assert positives[tag] == {"positives": n_pos, "too_few": n_pos < MIN_POSITIVES}
    assert comparison["min_positives"] == MIN_POSITIVES == 25
    # New minus old with a paired bootstrap's 95% interval: the point is the two figures'
    # difference, and the interval holds it.
    for key in ("f2_samples", "macro_f1"):
        spread = comparison["differences"][key]
        assert spread["difference"] == pytest.approx(new[key] - old[key], abs=1e-9)
        assert spread["low"] <= spread["difference"] <= spread["high"]
        assert spread["measurable"] == (spread["low"] > 0 or spread["high"] < 0)
    # How training ended, in the comparison and on the card (one epoch of one: all of it).
    assert comparison["stopping"] == card.recipe["stopping"]
    assert comparison["stopping"]["epochs_run"] == len(card.history) == 1
    json.dumps(comparison)  # it crosses the trainer process's pipe as JSON

    # Progress came in the documented order of stages.
    stages = [e.stage for e in events]
    first = {s: stages.index(s) for s in ("decode", "train", "epoch", "stopped", "tune", "save")}
    assert first["decode"] < first["train"] < first["epoch"] < first["stopped"] < first["tune"]
    assert first["tune"] < first["save"] and stages[-1] == "save"
    assert events[first["stopped"]].message == comparison["stopping"]["message"]
    # Two batches of one epoch: too little measured for a time left, which is not guessed.
    assert all(e.eta_s is None for e in events if e.stage == "train")


def test_cli_train_and_retrain_reach_the_same_training_function(
    folder_and_labels, tiny_model: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Both the command line's `train` and `retrain()` run model.training.train: a spy on its
    first step sees the same configuration from both (and stops them there)."""
    import model.retrain as retrain_module
    from model import cli

    assert retrain_module.train is model.training.train
    folder, labels_csv, _ = folder_and_labels
    seen: list[TrainConfig] = []

    def check_spy(config: TrainConfig) -> None:
        seen.append(config)
        raise ChipAuditError("stopped by the test")

    monkeypatch.setattr(model.training, "check_config", check_spy)
    out = tmp_path / "m" / "model.keras"
    code = cli.main(
        [
            "train",
            str(folder),
            "--labels",
            str(labels_csv),
            "--out",
            str(out),
            "--init",
            str(tiny_model),
            "--epochs",
            "1",
        ]
    )
    assert code == cli.EXIT_USAGE
    assert "error: stopped by the test" in capsys.readouterr().err
    with pytest.raises(ChipAuditError, match="stopped by the test"):
        retrain(TrainConfig(folder, labels_csv, out, init=str(tiny_model), epochs=1), tiny_model)
    assert len(seen) == 2
    assert asdict(seen[0]) == asdict(seen[1])
    assert not out.exists()


# --- bad input: one line, before training, nothing lost --------------------------------------
def _unknown_tag(root: Path, folder: Path, labels_csv: Path, tiny: Path) -> TrainConfig:
    rows = read_labels(labels_csv)
    first = next(iter(rows))
    text = labels_csv.read_text(encoding="utf-8")
    bad = root / "unknown_tag.csv"
    bad.write_text(
        text.replace(f"{first},", f"{first},snowy_mountain ", 1), encoding="utf-8", newline=""
    )
    assert "snowy_mountain" in bad.read_text(encoding="utf-8")
    return make_config(folder, bad, new_model_path(), tiny)


def _missing_chips(root: Path, folder: Path, labels_csv: Path, tiny: Path) -> TrainConfig:
    few = root / "three_chips"
    few.mkdir()
    for chip in sorted(folder.iterdir())[:3]:
        (few / chip.name).symlink_to(chip.resolve())
    return make_config(few, labels_csv, new_model_path(), tiny)


def _corrupt_bytes(root: Path, folder: Path, labels_csv: Path, tiny: Path) -> TrainConfig:
    bad = install_model(tiny, root / "corrupt" / "model.keras")
    bad.write_bytes(b"\x00not a keras file\xff" * 64)  # card stays valid
    return make_config(folder, labels_csv, new_model_path(), bad)


def _corrupt_zip(root: Path, folder: Path, labels_csv: Path, tiny: Path) -> TrainConfig:
    bad = install_model(tiny, root / "corrupt_zip" / "model.keras")
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("config.json", "{ this is not a model")
        archive.writestr("metadata.json", "{}")
    return make_config(folder, labels_csv, new_model_path(), bad)


def _out_folder_is_file(root: Path, folder: Path, labels_csv: Path, tiny: Path) -> TrainConfig:
    out = new_model_path()
    out.parent.parent.mkdir(parents=True, exist_ok=True)
    out.parent.write_text("a file where the model's folder should be")
    return make_config(folder, labels_csv, out, tiny)


def _out_under_a_file(root: Path, folder: Path, labels_csv: Path, tiny: Path) -> TrainConfig:
    blocker = root / "blocker"
    blocker.write_text("a file")
    return make_config(folder, labels_csv, blocker / "sub" / MODEL_FILE, tiny)


def _out_unwritable(root: Path, folder: Path, labels_csv: Path, tiny: Path) -> TrainConfig:
    locked = root / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return make_config(folder, labels_csv, locked / "new" / MODEL_FILE, tiny)


def _warmup_too_long(root: Path, folder: Path, labels_csv: Path, tiny: Path) -> TrainConfig:
    return make_config(folder, labels_csv, new_model_path(), tiny, epochs=2, warmup_epochs=3)


BAD_INPUTS = {
    "unknown tag": (_unknown_tag, ("unknown_tag.csv", "snowy_mountain")),
    "labelled chips missing": (_missing_chips, ("only 3", "at least 20")),
    "model file corrupt": (_corrupt_bytes, ("corrupt/model.keras", "not a Keras model file")),
    "model zip not a model": (_corrupt_zip, ("corrupt_zip", "cannot load model")),
    "out folder is a file": (_out_folder_is_file, ("not a folder",)),
    "out under a file": (_out_under_a_file, ("blocker", "not a folder")),
    "out unwritable": (_out_unwritable, ("locked", "not writable")),
    "warm-up too long": (_warmup_too_long, ("warm-up of 3 epochs", "0..2")),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_before_training_and_loses_nothing(
    case: str, folder_and_labels, tiny_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    if case == "out unwritable" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder, labels_csv, _ = folder_and_labels
    make, words = BAD_INPUTS[case]
    existing = install_model(
        tiny_model, data_dir / "models" / "20200101-000000-000000" / MODEL_FILE
    )
    config = make(tmp_path, folder, labels_csv, tiny_model)
    before = snapshot(data_dir)
    events: list[TrainEvent] = []

    with pytest.raises(ChipAuditError) as caught:
        retrain(config, tiny_model, events.append)

    message = str(caught.value)
    assert message and "\n" not in message, message
    for word in words:
        assert word in message, (word, message)
    assert not any(e.stage in ("train", "epoch", "tune", "save") for e in events), events
    assert not Path(config.out).exists()
    assert snapshot(data_dir) == before  # the models already saved are untouched
    assert read_card(existing).version == read_card(tiny_model).version


def test_cancel_after_the_first_batch_writes_no_model(
    folder_and_labels, tiny_model: Path, data_dir: Path
) -> None:
    folder, labels_csv, _ = folder_and_labels
    out = new_model_path()
    events: list[TrainEvent] = []
    # batch 8: six batches an epoch, so the cancel lands mid-epoch.
    config = make_config(folder, labels_csv, out, tiny_model, batch_size=8)

    with pytest.raises(CancelledError):
        retrain(config, tiny_model, events.append, lambda: any(e.stage == "train" for e in events))

    stages = [e.stage for e in events]
    assert stages.count("train") == 1 and "epoch" not in stages and "save" not in stages
    assert events[[e.stage for e in events].index("train")].done == 1
    assert not out.exists() and not card_path(out).exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_training_says_it_stopped_early_and_which_epoch_it_kept(
    folder_and_labels, tmp_path: Path
) -> None:
    """From scratch at a learning rate too high for these 48 chips, with patience 1: validation
    loss rises after its best epoch and training stops there, and says so."""
    folder, labels_csv, _ = folder_and_labels
    config = make_config(
        folder,
        labels_csv,
        tmp_path / "m.keras",
        "scratch",
        epochs=5,
        learning_rate=0.05,
        patience=1,
        batch_size=16,
    )
    events: list[TrainEvent] = []
    result = model.training.train(config, events.append)
    losses = [entry["val_loss"] for entry in result.card.history]
    run, best = len(losses), int(np.argmin(losses)) + 1
    assert run < 5 and run == best + 1
    message = (
        f"stopped at epoch {run} of 5: validation loss had not improved for 1 epoch; "
        f"the best epoch, {best}, is kept"
    )
    assert result.stopping == {
        "epochs": 5,
        "epochs_run": run,
        "best_epoch": best,
        "patience": 1,
        "stopped_early": True,
        "message": message,
    }
    assert result.card.recipe["stopping"] == result.stopping
    assert result.card.recipe["best_epoch"] == best
    assert [e.message for e in events if e.stage == "stopped"] == [message]


@pytest.mark.parametrize(
    ("stopping", "message"),
    [
        (
            Stopping(8, 4, 2, 2),
            "stopped at epoch 4 of 8: validation loss had not improved "
            "for 2 epochs; the best epoch, 2, is kept",
        ),
        (
            Stopping(8, 8, 6, 3),
            "ran all 8 epochs; validation loss was lowest at epoch 6, which is kept",
        ),
        (Stopping(1, 1, 1, 3), "ran all 1 epoch; the last had the lowest validation loss"),
        (
            Stopping(30, 3, 0, 3),
            "stopped at epoch 3 of 30: validation loss was never a number "
            "(training diverged); the last weights are kept",
        ),
    ],
)
def test_stopping_in_words(stopping: Stopping, message: str) -> None:
    assert stopping.message == message
    assert stopping.as_dict()["stopped_early"] == (stopping.epochs_run < stopping.epochs)


def test_time_left_waits_for_measured_throughput() -> None:
    """The issue's case: the first batch of a 40 s run took 30 s (building the graph), and the
    old estimate said 19 min 50 s. Now: nothing until 5 batches and 2 s after the first."""
    left = TimeLeft()
    total = 40
    left.batch_done(1, 30.0)
    assert left.seconds_left(1, total, 30.0) is None
    for done in range(2, 6):  # 4 more batches, 0.5 s each
        left.batch_done(done, 30.0 + 0.5 * (done - 1))
        assert left.seconds_left(done, total, 30.0 + 0.5 * (done - 1)) is None
    # 5 batches in 2.5 s after the first: 0.5 s a batch, 34 batches to go.
    assert left.seconds_left(6, total, 32.5) == pytest.approx(34 * 0.5)


# --- the trainer process ----------------------------------------------------------------------
class Trainer:
    """`python -m model.retrain SETTINGS.json` with stdin held open, its marked lines queued."""

    def __init__(self, settings: Path, data_dir: Path) -> None:
        env = os.environ.copy()
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["CHIP_AUDIT_DATA"] = str(data_dir)
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "model.retrain", str(settings)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict | None] = queue.Queue()
        self.other: list[str] = []
        self.stderr = ""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith(MARKER):
                self.lines.put(json.loads(line[len(MARKER) :]))
            else:
                self.other.append(line)
        self.lines.put(None)

    def _read_errors(self) -> None:
        self.stderr = self.process.stderr.read()

    def next(self, timeout: float = 240) -> dict | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.process.kill()
            pytest.fail(f"the trainer said nothing for {timeout}s; stderr: {self.stderr[-2000:]}")

    def rest(self) -> list[dict]:
        out = []
        while (message := self.next()) is not None:
            out.append(message)
        return out

    def close(self) -> int:
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        return self.process.wait(timeout=60)


def write_settings(path: Path, config: TrainConfig, baseline: Path | None) -> Path:
    settings = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "baseline": str(baseline) if baseline else None,
    }
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path


def test_trainer_process_reports_events_then_done(
    folder_and_labels, tiny_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    folder, labels_csv, _ = folder_and_labels
    out = data_dir / "models" / "run" / MODEL_FILE
    settings = write_settings(
        tmp_path / "settings.json", make_config(folder, labels_csv, out, tiny_model), tiny_model
    )
    trainer = Trainer(settings, data_dir)
    messages = trainer.rest()
    code = trainer.close()

    assert messages, trainer.stderr[-2000:]
    final = messages[-1]
    assert final["kind"] == "done", (final, trainer.stderr[-2000:])
    assert code == 0
    events = messages[:-1]
    assert events and all(m["kind"] == "event" for m in events)
    stages = [m["stage"] for m in events]
    for stage in ("decode", "train", "epoch", "tune", "save"):
        assert stage in stages, stages
    assert stages.index("decode") < stages.index("train") < stages.index("epoch")
    # Each event carries TrainEvent's fields, as JSON.
    assert set(events[0]) - {"kind"} == set(asdict(TrainEvent("x")))
    epoch = events[stages.index("epoch")]
    assert epoch["epoch"] == 1 and epoch["epochs"] == 1 and "val_loss" in epoch["logs"]

    comparison = final["comparison"]
    assert Path(comparison["path"]) == out and out.is_file() and card_path(out).is_file()
    card = read_card(out)
    assert comparison["version"] == card.version
    assert card.parent == read_card(tiny_model).version == comparison["old_version"]
    assert comparison["n_val"] == len(card.data["validation_names"])
    assert comparison["old"]["n_chips"] == comparison["new"]["n_chips"] == comparison["n_val"]


def test_trainer_process_cancels_on_stdin(
    folder_and_labels, tiny_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    folder, labels_csv, _ = folder_and_labels
    out = data_dir / "models" / "run" / MODEL_FILE
    # Small batches and a few epochs: training is still going when the cancel arrives.
    config = make_config(folder, labels_csv, out, tiny_model, batch_size=4, epochs=3)
    settings = write_settings(tmp_path / "settings.json", config, tiny_model)
    trainer = Trainer(settings, data_dir)
    seen = []
    while True:
        message = trainer.next()
        assert message is not None, ("ended before training", seen, trainer.stderr[-2000:])
        seen.append(message)
        assert message["kind"] == "event", message
        if message["stage"] == "train":
            break
    asked = time.monotonic()
    trainer.process.stdin.write("cancel\n")
    trainer.process.stdin.flush()
    rest = trainer.rest()
    took = time.monotonic() - asked
    code = trainer.close()

    assert rest and rest[-1] == {"kind": "cancelled"}, (rest[-3:], trainer.stderr[-2000:])
    assert all(m["kind"] == "event" for m in rest[:-1])
    assert not any(m["stage"] in ("tune", "save") for m in rest[:-1])
    assert code == 1
    assert took < 30, took
    assert not out.exists() and not card_path(out).exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())


# --- model versions -----------------------------------------------------------------------------
def test_list_models_newest_first_skipping_a_corrupt_card(
    tiny_model: Path, data_dir: Path, tmp_path: Path, monkeypatch
) -> None:

    monkeypatch.setattr(model.paths, "BUNDLED_MODEL", tmp_path / "no_bundled" / "m.keras")
    assert list_models() == []  # no models folder yet: nothing, no error

    older = new_model_path()
    while (newer := new_model_path()) == older:  # named by the time, to the microsecond
        pass
    assert older != newer and older.parent.parent == newer.parent.parent
    assert not older.parent.exists()  # new_model_path only names the place
    # Installed newer first: the order must come from the names, not from the file system.
    install_model(tiny_model, newer, version="v-newer")
    install_model(tiny_model, older, version="v-older")
    broken = older.parent.parent / "29991231-235959-999999" / MODEL_FILE
    install_model(tiny_model, broken)
    card_path(broken).write_text("{ not json", encoding="utf-8")
    no_card = older.parent.parent / "29991231-235959-999998" / MODEL_FILE
    no_card.parent.mkdir()
    shutil.copyfile(tiny_model, no_card)

    entries = list_models()
    assert [(e.path, e.card.version, e.bundled) for e in entries] == [
        (newer, "v-newer", False),
        (older, "v-older", False),
    ]
    assert entries[0].label == "v-newer"

    bundled = install_model(tiny_model, tmp_path / "bundled" / "chip_audit.keras", "v-bundled")
    monkeypatch.setattr(model.paths, "BUNDLED_MODEL", bundled)
    entries = list_models()
    assert [e.card.version for e in entries] == ["v-bundled", "v-newer", "v-older"]
    assert entries[0].bundled and entries[0].label == "bundled v-bundled"


def test_models_say_what_their_figures_were_measured_on(
    tiny_model: Path, data_dir: Path, monkeypatch
) -> None:
    import model.versions as versions

    monkeypatch.setattr(model.paths, "BUNDLED_MODEL", data_dir / "none" / "m.keras")
    tiny = read_card(tiny_model)
    same = install_model(tiny_model, new_model_path(), version="v-same")
    time.sleep(0.01)
    other = new_model_path()
    install_model(tiny_model, other, version="v-other")
    card = read_card(other)
    card.data["validation_names"] = card.data["validation_names"][1:]
    card.metrics["validation"]["n_chips"] -= 1
    write_card(other, card)

    figures = {e.card.version: e.figures for e in list_models()}
    n_val = len(tiny.data["validation_names"])
    assert figures["v-same"].measured_on == (
        f"{n_val} validation chips of {Path(tiny.data['folder']).name}"
    )
    assert figures["v-other"].measured_on.startswith(f"{n_val - 1} validation chips of ")
    assert figures["v-same"].f2_samples == tiny.metrics["validation"]["f2_samples"]
    assert figures["v-same"].rule == tiny.metrics["validation"]["rule"]
    # Different chips: not comparable. The same chips, folder and rule: comparable.
    assert figures["v-other"].basis != figures["v-same"].basis
    assert versions.validation_figures(read_card(same)).basis == figures["v-same"].basis
    old_card = read_card(same)
    del old_card.metrics["validation"]["rule"]  # a card from before the tag rules
    assert versions.validation_figures(old_card).basis != figures["v-same"].basis
    assert "before the tag rules" in versions.validation_figures(old_card).rule


def test_delete_model_refuses_the_bundled_and_the_active_one(
    tiny_model: Path, data_dir: Path, tmp_path: Path, monkeypatch
) -> None:

    bundled = install_model(tiny_model, tmp_path / "bundled" / "chip_audit.keras", "v-bundled")
    monkeypatch.setattr(model.paths, "BUNDLED_MODEL", bundled)
    active = install_model(tiny_model, new_model_path(), version="v-active")
    time.sleep(0.01)
    rejected = install_model(tiny_model, new_model_path(), version="v-rejected")
    elsewhere = install_model(tiny_model, tmp_path / "mine" / MODEL_FILE, version="v-mine")
    before = snapshot(data_dir)

    for path, words in (
        (bundled, "bundled model cannot be deleted"),
        (active, "model in use cannot be deleted"),
        (elsewhere, "not a model trained here"),
        (data_dir / "models" / "absent" / MODEL_FILE, "no such model"),
    ):
        with pytest.raises(ModelError) as caught:
            delete_model(path, active)
        assert words in str(caught.value) and "\n" not in str(caught.value)
    assert snapshot(data_dir) == before and bundled.is_file() and elsewhere.is_file()

    # A folder holding something else is left alone: that is not ours to remove.
    note = rejected.parent / "notes.txt"
    note.write_text("keep me", encoding="utf-8")
    with pytest.raises(ModelError, match="holds more than a model"):
        delete_model(rejected, active)
    note.unlink()

    # What a model folder holds: the model, its card, and a temporary file a crash left.
    leftover = rejected.parent / ".model.json.abc123.tmp"
    leftover.write_text("{", encoding="utf-8")
    size = sum(p.stat().st_size for p in rejected.parent.iterdir())
    assert delete_model(rejected, active) == size
    assert not rejected.parent.exists()
    assert [e.card.version for e in list_models()] == ["v-bundled", "v-active"]
