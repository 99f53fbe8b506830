"""One-click retrain in the window, driven as a reviewer drives it: a real folder of 60 labelled
chips, the tiny model in use, a real trainer process (`python -m model.retrain`) for one epoch.

Three retrains in all (each starts a Python that imports TensorFlow): one runs to the comparison
and its model is put to use, one is cancelled mid-epoch, one has its process killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QProcess, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

import gui.dialogs
from gui.actions import TAG_KEYS
from gui.main_window import MainWindow
from gui.models_dialog import ModelsDialog
from gui.retrain_dialog import RetrainSettingsDialog
from model.card import card_path, read_card, write_card
from model.labels import read_labels
from model.paths import BUNDLED_MODEL, models_dir
from model.retrain import default_retrain_config
from model.tags import TAG_INDEX, TAGS
from model.versions import active_model_path, set_active_model

N_CHIPS = 60
FIRST = 60  # the tiny model trained on labelled_names[:60]; the window reviews the next 60
TRAINER_TIMEOUT_MS = 240_000  # TensorFlow's import plus one short epoch, on a loaded machine


@pytest.fixture(scope="module")
def folder_and_labels(
    tmp_path_factory: pytest.TempPathFactory, labelled_names: list[str], labelled_folder
) -> tuple[Path, Path]:
    """root/chips: 60 real labelled chips (links); their labels CSV in root/labels/."""
    root = tmp_path_factory.mktemp("gui_retrain")
    names = labelled_names[FIRST : FIRST + N_CHIPS]
    return labelled_folder(root, names, "labels/labels.csv")


class Questions:
    """The window's yes/no questions, recorded and answered (yes unless a test says no)."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.answer = True

    def __call__(self, parent, title: str, question: str, yes_text: str) -> bool:
        self.asked.append(title)
        return self.answer


@pytest.fixture
def questions() -> Questions:
    return Questions()


@pytest.fixture
def window(
    qtbot,
    open_and_wait,
    tmp_path: Path,
    tiny_model: Path,
    monkeypatch,
    errors,
    folder_and_labels,
    questions,
):
    """A shown, active window with the folder open and the tiny model's predictions in; this
    test's own data folder (sessions, trained models)."""
    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "appdata"))
    monkeypatch.setattr(gui.dialogs, "confirm", questions)
    set_active_model(tiny_model)
    win = MainWindow()
    qtbot.addWidget(win)  # closed at teardown: closeEvent kills a trainer still running
    win.show()
    qtbot.waitExposed(win)
    activate(qtbot, win)
    folder, labels = folder_and_labels
    assert open_and_wait(win, folder, labels)
    wait_predicted(qtbot, win)
    assert win.review.card.version == read_card(tiny_model).version
    return win


# --- helpers --------------------------------------------------------------------------------
def activate(qtbot, win: MainWindow) -> None:
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)


def press(win: MainWindow, keys: str) -> None:
    """A key as the keyboard sends it: to the focus widget, which must be in the main window."""
    combo = QKeySequence(keys)[0]
    target = QApplication.focusWidget()
    assert target is not None and target.window() is win, target
    QTest.keyClick(target, combo.key(), combo.keyboardModifiers())


def wait_predicted(qtbot, win: MainWindow, timeout: int = 120_000) -> None:
    qtbot.waitUntil(
        lambda: not win.predictions.running and win.review.counts()["predicted"] == N_CHIPS,
        timeout=timeout,
    )


def trained_models() -> list[Path]:
    folder = models_dir()
    return sorted(folder.rglob("*.keras")) if folder.exists() else []


def start(win: MainWindow, **overrides) -> tuple[list[dict], list[str]]:
    """Start a one-epoch retrain with the window's defaults; returns the events as they arrive
    and the retrain window's stage text after each."""
    config = default_retrain_config(win.review, active_model_path())
    assert config is not None
    config.epochs = 1
    for key, value in overrides.items():
        setattr(config, key, value)
    win.retraining.start(config)
    events: list[dict] = []
    texts: list[str] = []

    def seen(event: dict) -> None:  # connected after the window's own slot, so sees its text
        events.append(event)
        texts.append(win.retraining.window.stage.text())

    win.retraining.trainer.event.connect(seen)
    return events, texts


def toggle_works(qtbot, win: MainWindow) -> None:
    """The review still answers the keyboard: a tag key toggles the tag on the current chip."""
    if win.retraining.window is not None:
        win.retraining.window.close()
    activate(qtbot, win)
    win.page.grid.setFocus()
    row = win.page.current_row()
    assert row is not None and row >= 0
    tag = "road"
    before = bool(win.review.current[row, TAG_INDEX[tag]])
    press(win, TAG_KEYS[tag])
    assert bool(win.review.current[row, TAG_INDEX[tag]]) == (not before)
    assert win.review.session.decisions(win.review.names[row])[tag] == (not before)


def answer_modal(handle) -> list:
    """Run handle(dialog) on the next modal dialog, from inside its exec(); returns a list that
    gets the dialog. The dialog is rejected afterwards if handle left it open (no hang)."""
    seen: list = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or not dialog.isVisible() or not dialog.isActiveWindow():
            if dialog is not None and dialog.isVisible():
                dialog.activateWindow()  # as a window manager would: the keys go to it
            QTimer.singleShot(20, poll)
            return
        seen.append(dialog)
        try:
            handle(dialog)
        finally:
            if dialog.isVisible():
                dialog.reject()

    QTimer.singleShot(0, poll)
    return seen


# --- tests ----------------------------------------------------------------------------------
def test_model_menu_reaches_retrain_and_models(
    qtbot, window: MainWindow, tiny_model: Path, monkeypatch, errors
) -> None:
    """Ctrl+R opens the retrain settings (Enter accepts the defaults and starts); Ctrl+M opens
    the models, where "Use this model" switches. No training here: start_retrain is recorded."""
    win = window
    started = []
    monkeypatch.setattr(win.retraining, "start", started.append)
    model_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Model")
    actions = {a.text(): a for a in model_menu.actions()}
    assert actions["&Retrain on this folder…"].isEnabled()
    assert actions["&Models…"].isEnabled()

    def enter(dialog) -> None:
        assert isinstance(dialog, RetrainSettingsDialog)
        dialog.epochs.setValue(2)
        QTest.keyClick(QApplication.focusWidget() or dialog, Qt.Key.Key_Return)

    activate(qtbot, win)
    win.page.grid.setFocus()
    seen = answer_modal(enter)
    press(win, "Ctrl+R")
    assert len(seen) == 1 and not seen[0].isVisible()
    assert len(started) == 1
    config = started[0]
    assert config.init == str(tiny_model) and config.epochs == 2
    assert config.folder == win.review.folder and config.labels.is_file()

    # A second model, as a trained one: listed, chosen, put to use.
    other = models_dir() / "20990101-000000-000000" / "model.keras"
    other.parent.mkdir(parents=True)
    shutil.copyfile(tiny_model, other)
    write_card(other, replace(read_card(tiny_model), version="other-version"))

    def use_other(dialog) -> None:
        assert isinstance(dialog, ModelsDialog)
        paths = [e.path for e in dialog.entries]
        assert other in paths
        dialog.select_path(other)
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)

    activate(qtbot, win)
    win.page.grid.setFocus()
    seen = answer_modal(use_other)
    press(win, "Ctrl+M")
    assert len(seen) == 1 and not seen[0].isVisible()
    assert active_model_path() == other
    assert win.review.card.version == "other-version"
    wait_predicted(qtbot, win)
    assert errors == []


def test_retrain_shows_progress_and_comparison_then_switches_models(
    questions, qtbot, window: MainWindow, tiny_model: Path, errors, folder_and_labels
) -> None:
    win, review = window, window.review
    tiny_version = read_card(tiny_model).version
    _, crowd_csv = folder_and_labels

    # A correction first: the retrain must train on it.
    activate(qtbot, win)
    win.page.grid.setFocus()
    row = win.page.current_row()
    name = review.names[row]
    tag = "water"
    press(win, TAG_KEYS[tag])
    crowd = read_labels(crowd_csv)
    corrected = set(crowd[name]) ^ {tag}

    config = default_retrain_config(win.review, active_model_path())
    assert config.init == str(tiny_model) and config.folder == review.folder
    assert config.input_size == read_card(tiny_model).input_size
    assert config.out.parent.parent == models_dir() and not config.out.exists()
    exported = read_labels(config.labels)
    assert set(exported[name]) == corrected
    assert {n: set(t) for n, t in exported.items() if n != name} == {
        n: set(t) for n, t in crowd.items() if n != name
    }

    events, texts = start(win)
    retrain_window = win.retraining.window
    assert retrain_window.isVisible() and not retrain_window.use_button.isVisible()
    qtbot.waitUntil(retrain_window.use_button.isVisible, timeout=TRAINER_TIMEOUT_MS)
    assert errors == []

    # Progress arrived and was shown as it came.
    stages = [e["stage"] for e in events]
    assert "decode" in stages and "train" in stages and "epoch" in stages, stages
    assert any(t.startswith("Decoding chips:") for t in texts), texts
    assert any(t.startswith("Epoch 1/1, batch") for t in texts), texts
    assert len(retrain_window.epochs) == 1
    xs, ys = retrain_window.loss_curve.getData()
    assert list(xs) == [1] and ys[0] == pytest.approx(retrain_window.epochs[0]["loss"])

    # The comparison: both models on the new model's validation chips.
    new_path = Path(retrain_window.new_path)
    assert new_path.is_file() and card_path(new_path).is_file()
    assert new_path.parent.parent == models_dir()
    new_card = read_card(new_path)
    assert new_card.parent == tiny_version
    n_val = new_card.data["n_val"]
    assert retrain_window.table.isVisible() and retrain_window.table.rowCount() == len(TAGS)
    assert retrain_window.keep_button.isVisible() and not retrain_window.cancel_button.isVisible()
    assert new_card.version in retrain_window.stage.text()
    assert f"same {n_val} validation chips" in retrain_window.note.text()
    assert tiny_version in retrain_window.note.text()
    for r, tag_name in enumerate(TAGS):
        support = new_card.metrics["validation"]["per_tag"][tag_name]["support"]
        # Every tag has under 25 positives among a dozen validation chips: each says so.
        assert retrain_window.table.item(r, 0).text() == f"{tag_name} ({support})  too few to tell"
    # A small validation set, how training ended, and whether the difference is measurable,
    # all said in words; nothing is bolded as "better".
    note, stage = retrain_window.note.text(), retrain_window.stage.text()
    assert f"Only {n_val} validation chips" in note
    assert new_card.recipe["stopping"]["message"] in note
    assert "samples F2: " in stage and "difference" in stage and "95% interval" in stage
    assert not any(
        retrain_window.table.item(r, c).font().bold()
        for r in range(len(TAGS))
        for c in range(retrain_window.table.columnCount())
    )
    assert active_model_path() == tiny_model  # nothing switches until the reviewer says

    # "Use the new model": the window switches and predicts with it.
    qtbot.mouseClick(retrain_window.use_button, Qt.MouseButton.LeftButton)
    assert not retrain_window.isVisible()
    assert active_model_path() == new_path
    assert review.card.version == new_card.version != tiny_version
    wait_predicted(qtbot, win)
    assert len(review.session.load_predictions(new_card.version)) == N_CHIPS
    # The next retrain from this model validates on the same chips, which it never trained on.
    follow_up = default_retrain_config(win.review, active_model_path())
    assert follow_up.validation_names == new_card.data["validation_names"]
    follow_up.labels.unlink()

    # The models dialog lists the bundled model (when there is one) and the new one, in use.
    dialog = ModelsDialog(active_model_path())
    qtbot.addWidget(dialog)
    paths = [e.path for e in dialog.entries]
    assert new_path in paths
    assert (BUNDLED_MODEL in paths) == BUNDLED_MODEL.is_file()
    if BUNDLED_MODEL.is_file():
        assert dialog.entries[0].bundled
    in_use = [r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text()]
    assert in_use == [paths.index(new_path)]
    assert f"from {tiny_version}" in dialog.table.item(in_use[0], 3).text()
    assert [i.row() for i in dialog.table.selectionModel().selectedRows()] == in_use
    # Each model says what its figures were measured on; the one in use cannot be deleted.
    assert dialog.table.item(in_use[0], 6).text() == f"{n_val} validation chips of chips"
    assert not dialog.delete_button.isEnabled()
    if BUNDLED_MODEL.is_file():
        dialog.table.selectRow(0)  # the bundled model, measured on other chips
        assert not dialog.delete_button.isEnabled()
        assert "not comparable" in dialog.table.item(0, 4).toolTip()

    # Back to the first model: its predictions come from the session, no new run.
    win.set_active_model(tiny_model)
    assert active_model_path() == tiny_model
    assert review.card.version == tiny_version
    assert review.counts()["predicted"] == N_CHIPS
    assert not win.predictions.running

    # The rejected model can go now that it is not in use: asked first, then its folder.
    dialog = ModelsDialog(active_model_path())
    qtbot.addWidget(dialog)
    dialog.table.selectRow([e.path for e in dialog.entries].index(new_path))
    assert dialog.delete_button.isEnabled()
    deleted = []
    dialog.deleted.connect(lambda path, freed: deleted.append((path, freed)))
    dialog.delete_button.click()
    assert questions.asked[-1] == "Delete this model?"
    assert not new_path.parent.exists() and deleted and deleted[0][1] > 1_000_000
    assert new_path not in [e.path for e in dialog.entries]
    assert errors == []


def test_cancel_mid_epoch_saves_nothing_and_the_window_carries_on(
    qtbot, window: MainWindow, tiny_model: Path, errors
) -> None:
    win = window
    # Batches of 2: 24 an epoch, so the epoch is still going when the cancel arrives.
    events, _ = start(win, batch_size=2)
    trainer, retrain_window = win.retraining.trainer, win.retraining.window
    cancelled: list[float] = []
    trainer.cancelled.connect(lambda: cancelled.append(time.monotonic()))
    qtbot.waitUntil(lambda: any(e["stage"] == "train" for e in events), timeout=TRAINER_TIMEOUT_MS)

    asked = time.monotonic()
    qtbot.mouseClick(retrain_window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(cancelled), timeout=15_000)
    assert cancelled[0] - asked < 15
    # It stopped by itself (not by the kill after the grace period), before the epoch ended.
    qtbot.waitUntil(lambda: trainer.process.state() == QProcess.ProcessState.NotRunning)
    assert trainer.process.exitStatus() == QProcess.ExitStatus.NormalExit
    assert trainer.process.exitCode() == 1
    assert retrain_window.epochs == [] and "epoch" not in [e["stage"] for e in events]
    assert retrain_window.stage.text() == "Training cancelled. No new model was saved."
    assert not retrain_window.use_button.isVisible()
    assert trained_models() == []
    assert errors == []
    assert active_model_path() == tiny_model
    toggle_works(qtbot, win)


def test_killed_trainer_is_reported_and_the_app_carries_on(
    qtbot, window: MainWindow, tiny_model: Path, errors, questions: Questions
) -> None:
    win = window
    tiny_version = read_card(tiny_model).version
    events, _ = start(win)
    trainer, retrain_window = win.retraining.trainer, win.retraining.window
    qtbot.waitUntil(lambda: bool(events), timeout=TRAINER_TIMEOUT_MS)
    assert trainer.running and trainer.pid() > 0

    # Closing the window while it trains asks first; "no" keeps both.
    questions.answer = False
    win.close()
    assert questions.asked == ["Stop the retrain?"]
    assert win.isVisible() and trainer.running and win.review is not None

    os.kill(trainer.pid(), signal.SIGKILL)
    qtbot.waitUntil(lambda: bool(errors), timeout=15_000)

    assert len(errors) == 1
    title, message, hint = errors[0]
    assert title == "Training stopped"
    assert "trainer process crashed or was killed" in message
    assert "unchanged" in hint
    assert not trainer.running
    assert retrain_window.stage.text().startswith("Training stopped:")
    assert trained_models() == []
    assert active_model_path() == tiny_model
    assert win.review.card.version == tiny_version
    assert win.review.counts()["predicted"] == N_CHIPS
    toggle_works(qtbot, win)
