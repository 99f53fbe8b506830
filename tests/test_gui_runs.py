"""Every prediction run belongs to one review and one model version: nothing from a run that was
superseded (another folder, another model, the window closed) may land.

The race is made certain, not left to timing: the network's predict is held at a gate while the
user switches, and let go afterwards, so the old run's batch is truly in flight when the switch
happens. Scores are compared with a fresh single-folder run of the same model (the bundled VGG16,
whose calls on a chip's TIFF and on its JPEG differ widely: a score landing on the wrong chip
shows).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from gating import Gate

from gui.main_window import MainWindow
from gui.workers import ThumbnailLoader
from model.classifier import Classifier
from model.paths import BUNDLED_MODEL
from model.predicting import predict_paths
from model.session import ReviewSession
from model.versions import set_active_model

pytestmark = pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="no bundled model")


@pytest.fixture(scope="module")
def same_named(tmp_path_factory, tif_dir: Path, chips_dir: Path) -> tuple[Path, Path]:
    """Two folders of the same 16 chip names: their JPEGs, and their analytic TIFFs."""
    root = tmp_path_factory.mktemp("same_named")
    jpegs, tiffs = root / "jpeg", root / "tif"
    jpegs.mkdir()
    tiffs.mkdir()
    for tif in sorted(tif_dir.glob("*.tif")):
        (tiffs / tif.name).symlink_to(tif)
        (jpegs / f"{tif.stem}.jpg").symlink_to(chips_dir / f"{tif.stem}.jpg")
    return jpegs, tiffs


@pytest.fixture(scope="module")
def fresh(same_named: tuple[Path, Path]) -> dict[Path, dict[str, np.ndarray]]:
    """The bundled model's probabilities for each folder, predicted alone."""
    classifier = Classifier.load(BUNDLED_MODEL)
    out = {}
    for folder in same_named:
        result = predict_paths(classifier, sorted(folder.iterdir()))
        assert not result.errors
        out[folder] = dict(zip(result.names, result.probs))
    jpeg, tif = same_named
    gap = max(np.abs(out[jpeg][n] - out[tif][n]).max() for n in out[jpeg])
    assert gap > 0.2, "the two folders score alike: this test could not tell them apart"
    return out


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch, errors) -> MainWindow:
    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "app-data"))
    set_active_model(BUNDLED_MODEL)
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def shown_probs(window: MainWindow) -> dict[str, np.ndarray]:
    review = window.review
    return {name: review.probs[i].copy() for i, name in enumerate(review.names)}


def assert_equal_to(window: MainWindow, expected: dict[str, np.ndarray]) -> None:
    review = window.review
    shown = shown_probs(window)
    assert set(shown) == set(expected)
    for name, probs in expected.items():
        np.testing.assert_allclose(shown[name], probs, atol=1e-5, err_msg=name)
    # ...and the session holds the same: nothing stale was written there either.
    stored = ReviewSession(review.session.path).load_predictions(review.card.version)
    assert set(stored) == set(expected)
    for name, probs in expected.items():
        np.testing.assert_allclose(stored[name], probs, atol=1e-5, err_msg=name)


def wait_all_predicted(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(
        lambda: not window.predictions.running and bool(window.review.predicted.all()),
        timeout=120_000,
    )


def test_switching_between_same_named_folders_mid_prediction_keeps_each_folders_scores(
    qtbot, open_and_wait, window: MainWindow, gate: Gate, same_named, fresh, errors
) -> None:
    jpeg, tif = same_named
    # JPEGs, with their one batch held inside the network; then the TIFFs.
    assert open_and_wait(window, jpeg)
    assert gate.waiting.wait(120)
    assert open_and_wait(window, tif)
    assert window.review.folder == tif
    with qtbot.waitSignal(window.predictions.stale_dropped, timeout=120_000) as dropped:
        gate.release()  # the JPEG batch comes out now, after the switch
    assert dropped.args == [16]
    wait_all_predicted(qtbot, window)
    assert_equal_to(window, fresh[tif])
    tif_session = window.review.session.path

    # And back: the JPEG folder (nothing of it was kept), its batch held, then the TIFFs again
    # (all cached, no run), then the JPEGs to the end.
    gate.close()
    assert open_and_wait(window, jpeg)
    assert gate.waiting.wait(120)
    assert open_and_wait(window, tif)
    assert not window.predictions.running
    with qtbot.waitSignal(window.predictions.stale_dropped, timeout=120_000):
        gate.release()
    assert_equal_to(window, fresh[tif])
    assert open_and_wait(window, jpeg)
    wait_all_predicted(qtbot, window)
    assert_equal_to(window, fresh[jpeg])
    stored = ReviewSession(tif_session).load_predictions(window.review.card.version)
    assert all(np.allclose(stored[n], p, atol=1e-5) for n, p in fresh[tif].items())
    assert errors == []


def test_switching_models_mid_prediction_shows_only_the_new_models_scores(
    qtbot, open_and_wait, window: MainWindow, gate: Gate, same_named, fresh, tiny_model, errors
) -> None:
    jpeg, _ = same_named
    set_active_model(tiny_model)
    assert open_and_wait(window, jpeg)
    assert gate.waiting.wait(120)  # the tiny model's batch is in the network
    window.set_active_model(BUNDLED_MODEL)
    with qtbot.waitSignal(window.predictions.stale_dropped, timeout=120_000):
        gate.release()
    wait_all_predicted(qtbot, window)
    assert window.review.card.version == Classifier.load(BUNDLED_MODEL).version
    assert_equal_to(window, fresh[jpeg])
    assert errors == []


def test_closing_the_window_mid_prediction_drops_the_batch_in_flight(
    qtbot, open_and_wait, window: MainWindow, gate: Gate, same_named, errors
) -> None:
    jpeg, _ = same_named
    assert open_and_wait(window, jpeg)
    session_path = window.review.session.path
    version = window.review.card.version
    job = window.predictions.job
    assert gate.waiting.wait(120)
    # Closing cancels the run, then waits for the inference thread: let the held batch out as
    # soon as the run is cancelled, so it is truly in flight when the window goes.
    threading.Thread(target=lambda: job.cancelled.wait(60) and gate.release()).start()
    with qtbot.waitSignal(window.predictions.stale_dropped, timeout=120_000):
        window.close()
    assert window.review is None
    # Nothing reached the closed session (a write there would have raised in a slot, which
    # pytest-qt reports as a failure).
    assert ReviewSession(session_path).load_predictions(version) == {}
    assert errors == []


def test_a_thumbnail_decoded_for_the_previous_folder_is_dropped(
    qtbot, monkeypatch, same_named
) -> None:
    """A thumbnail job already running when the folder changes must not store its image under
    a name the new folder also has."""
    import model.chips

    jpeg, tif = same_named
    name = sorted(p.stem for p in jpeg.iterdir())[0]
    gate = threading.Event()
    entered = threading.Event()
    original = model.chips.thumbnail

    def gated(path, size):
        entered.set()
        assert gate.wait(60)
        return original(path, size)

    monkeypatch.setattr(model.chips, "thumbnail", gated)
    loader = ThumbnailLoader(64)
    ready: list[str] = []
    loader.ready.connect(ready.append)
    assert loader.get(name, jpeg / f"{name}.jpg") is None
    assert entered.wait(30)
    loader.clear()  # the folder changes while the JPEG decodes
    tif_path = tif / f"{name}.tif"
    assert loader.get(name, tif_path) is None  # the TIFF's own job starts
    gate.set()
    qtbot.waitUntil(lambda: loader.get(name, tif_path) is not None, timeout=30_000)
    assert loader.pool.waitForDone(30_000)
    qtbot.waitUntil(lambda: not loader.pending)
    assert ready == [name]  # once: the TIFF's, not the JPEG's
    image = loader.get(name, tif_path)
    expected = original(tif_path, 64)
    assert (image.height(), image.width()) == expected.shape[:2]
    bits = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    np.testing.assert_array_equal(bits[:, : 3 * image.width()].reshape(expected.shape), expected)
