"""Where the model looks: Grad-CAM on the last convolutions with a 4 x 4 grid, shown over the
large chip on demand (G), computed in the thread that owns the model: between two batches of a
prediction run, not after it, and over a TIFF as over a JPEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.chips import decode_rgb
from model.classifier import Classifier
from model.grad_cam import cam_layer, class_activation, map_note, tag_to_show, upsample
from model.tags import TAG_INDEX, TAGS


def test_the_layer_is_the_last_with_a_4_by_4_grid(bundled_classifier: Classifier) -> None:
    network = bundled_classifier.network
    # 32 px: 16, 8, 4, 2, 1 after the five pools; block 4 works at 4 x 4.
    assert cam_layer(network, 32) == "block4_conv3_relu"
    assert cam_layer(network, 64) == "block5_conv3_relu"
    with pytest.raises(ValueError):
        cam_layer(network, 2)  # not even the first convolutions have 4 x 4 cells


def test_map_of_a_real_chip(bundled_classifier: Classifier, chips_dir: Path) -> None:
    image = decode_rgb(chips_dir / "train_39339.jpg", bundled_classifier.input_size)
    cam, grid = class_activation(bundled_classifier, image, "primary")
    assert grid == 4 and cam.shape == (4, 4)
    assert cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    big = upsample(cam, 256, 256)
    assert big.shape == (256, 256) and big.min() >= 0 and big.max() <= 1
    # Smooth: neighbouring pixels differ by little, where the 4 x 4 cells jump.
    assert np.abs(np.diff(big, axis=1)).max() < 0.1


def test_an_empty_map_is_said_to_be_empty() -> None:
    """Where no part of the chip raises the tag (seen: the bundled model, primary at 0.97 on
    train_100.tif, water), the map is all zero and draws nothing: the note must say so, not
    "primary (red)" over a chip with no red."""
    note = map_note("primary", np.zeros((4, 4), np.float32), 4, 32)
    assert "nowhere in particular" in note and "(red)" not in note
    assert "4 x 4" in note and "32 px" in note
    cam = np.zeros((4, 4), np.float32)
    cam[1, 2] = 1.0
    assert map_note("water", cam, 4, 32).startswith("water (red). ")


def test_the_tag_shown_is_the_most_suspect() -> None:
    thresholds = np.full(len(TAGS), 0.3, np.float32)
    probs = np.full(len(TAGS), 0.01, np.float32)
    probs[TAG_INDEX["clear"]] = 0.99
    probs[TAG_INDEX["primary"]] = 0.98
    probs[TAG_INDEX["water"]] = 0.6
    now = np.zeros(len(TAGS), bool)
    now[[TAG_INDEX["clear"], TAG_INDEX["primary"], TAG_INDEX["road"]]] = True
    assert tag_to_show(probs, now, thresholds) == "road"  # the crowd's road, at 0.01
    now[TAG_INDEX["road"]] = False
    now[TAG_INDEX["water"]] = True
    assert tag_to_show(probs, now, thresholds) == "primary"  # nothing suspect: surest land tag
    assert tag_to_show(None, now, thresholds) == "primary"


def test_g_shows_and_hides_the_map_over_the_chip(
    qtbot,
    tmp_path,
    tiny_model,
    errors,
    monkeypatch,
    open_and_wait,
    labelled_folder,
    labelled_names,
) -> None:
    from gui.main_window import MainWindow
    from model.versions import set_active_model

    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "app-data"))
    set_active_model(tiny_model)
    folder, labels = labelled_folder(tmp_path, labelled_names[500:510])
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert open_and_wait(window, folder, labels)
    qtbot.waitUntil(
        lambda: not window.predictions.running and window.review.predicted.all(), timeout=120_000
    )
    detail, page = window.page.detail, window.page
    window.actions_by_id["grad_cam"].trigger()
    qtbot.waitUntil(lambda: detail.overlay is not None, timeout=60_000)
    assert detail.overlay.shape == detail.shown_rgb().shape[:2]
    assert "4 x 4" in detail.overlay_note.text() and "32 px" in detail.overlay_note.text()
    first = detail.overlay.copy()
    # Another chip: its own map.
    other = next(r for r in page.shown_rows() if r != page.current_row())
    page.select_row(other)
    qtbot.waitUntil(lambda: detail.overlay is not None and detail.row == other, timeout=60_000)
    assert not np.array_equal(detail.overlay, first) or detail.overlay.max() == 0
    window.actions_by_id["grad_cam"].trigger()
    assert detail.overlay is None and detail.overlay_note.text() == ""


def test_a_paused_run_still_serves_requests_between_batches() -> None:
    """The worker serves Grad-CAM requests in the run's should_stop: before each batch, and
    while a paused run holds there (else G would wait for the reviewer to resume)."""
    import threading

    from gui.workers import PredictionJob

    job = PredictionJob("model.keras", [], "v1")
    served = threading.Semaphore(0)
    assert job.should_stop(served.release) is False
    assert served.acquire(timeout=0)  # served once before the batch
    job.set_paused(True)
    outcome: list[bool] = []
    holder = threading.Thread(target=lambda: outcome.append(job.should_stop(served.release)))
    holder.start()
    for _ in range(3):  # now, and again while it holds
        assert served.acquire(timeout=10)
    assert holder.is_alive() and job.holding
    job.cancel()
    holder.join(10)
    assert outcome == [True]


def _window(qtbot, tmp_path, tiny_model, monkeypatch):
    from gui.main_window import MainWindow
    from model.versions import set_active_model

    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "app-data"))
    set_active_model(tiny_model)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _pixels(pixmap) -> np.ndarray:
    """A QPixmap as (h, w, 3) uint8 (copied: the image's memory goes with it)."""
    from PySide6.QtGui import QImage

    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = image.height(), image.width(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(h, stride)
    return rows[:, : 3 * w].reshape(h, w, 3).copy()


def test_g_is_answered_between_two_batches_of_a_run(
    qtbot,
    tmp_path,
    tiny_model,
    errors,
    monkeypatch,
    open_and_wait,
    labelled_folder,
    labelled_names,
    gate,
) -> None:
    """A fresh folder of three batches, its run held at the network: G's map comes while the
    run is still going (it used to wait behind the whole run, minutes on a large folder)."""
    window = _window(qtbot, tmp_path, tiny_model, monkeypatch)
    folder, labels = labelled_folder(tmp_path, labelled_names[500:650])
    assert open_and_wait(window, folder, labels)
    page, detail = window.page, window.page.detail
    assert gate.waiting.wait(120)  # the run's first batch is inside the network
    qtbot.waitUntil(lambda: page.current_row() is not None)
    window.actions_by_id["grad_cam"].trigger()
    assert detail.overlay is None and "Finding where" in detail.overlay_note.text()
    gate.let_one_through()  # the first batch goes on; the second is held
    qtbot.waitUntil(lambda: detail.overlay is not None, timeout=60_000)
    assert window.predictions.running  # the second batch has not come out of the network
    assert 0 < int(window.review.predicted.sum()) < 150
    assert detail.overlay.shape == detail.shown_rgb().shape[:2]
    assert "4 x 4" in detail.overlay_note.text()
    gate.release()
    qtbot.waitUntil(
        lambda: not window.predictions.running and window.review.predicted.all(), timeout=120_000
    )
    assert detail.overlay is not None  # the rest of the run left the map alone
    assert errors == []


def test_g_shows_the_map_over_a_tiff_as_the_panel_shows_it(
    qtbot, tmp_path, tiny_model, errors, monkeypatch, open_and_wait, tif_dir
) -> None:
    """Analytic TIFFs: the map over the true colour the panel shows (the shipped curves), at the
    chip's size; and over the NIR false colour when the reviewer picks that."""
    from gui.detail_panel import heat_over
    from model.chips import read_bands, tiff_false_colour

    folder = tmp_path / "tif"
    folder.mkdir()
    for tif in sorted(tif_dir.glob("*.tif")):
        (folder / tif.name).symlink_to(tif)
    window = _window(qtbot, tmp_path, tiny_model, monkeypatch)
    assert open_and_wait(window, folder)
    qtbot.waitUntil(
        lambda: not window.predictions.running and window.review.predicted.all(), timeout=120_000
    )
    page, detail = window.page, window.page.detail
    qtbot.waitUntil(lambda: page.current_row() is not None)
    window.actions_by_id["grad_cam"].trigger()
    qtbot.waitUntil(lambda: "Finding where" not in detail.overlay_note.text(), timeout=60_000)
    assert detail.overlay is not None, detail.overlay_note.text()
    assert "4 x 4" in detail.overlay_note.text()
    path = window.review.paths[page.current_row()]
    true_colour = decode_rgb(path)  # the analytic TIFF mapping
    assert path.suffix == ".tif" and true_colour.shape == (256, 256, 3)
    assert np.array_equal(detail.shown_rgb(), true_colour)
    assert detail.overlay.shape == true_colour.shape[:2]
    drawn = _pixels(detail.image.pixmap)
    assert np.array_equal(drawn, heat_over(true_colour, detail.overlay))
    assert detail.overlay.max() == 0 or not np.array_equal(drawn, true_colour)
    # NIR false colour: the same map over what the panel now shows.
    heat = detail.overlay.copy()
    detail.view_mode.setCurrentIndex(1)
    false_colour = tiff_false_colour(read_bands(path))
    assert np.array_equal(detail.shown_rgb(), false_colour)
    assert np.array_equal(detail.overlay, heat)
    assert np.array_equal(_pixels(detail.image.pixmap), heat_over(false_colour, heat))
    assert errors == []
