"""The Overview driven with the mouse: real chips, the bundled model predicting them, a drag of
the threshold line and a click on a heatmap cell, checked against references computed here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from reference import calls_by_hand

from gui.main_window import MainWindow
from model.review import ChipQuery
from model.tags import TAG_INDEX

N_CHIPS = 120
TAB_CO, TAB_THRESHOLDS = 1, 3


@pytest.fixture
def window(
    qtbot,
    tmp_path: Path,
    monkeypatch,
    labelled_folder,
    labelled_names,
    bundled_model,
    open_and_wait,
    errors,
):
    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "app-data"))
    folder, labels = labelled_folder(tmp_path, labelled_names[:N_CHIPS])
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1500, 950)
    window.show()
    qtbot.waitExposed(window)
    assert open_and_wait(window, folder, labels)
    qtbot.waitUntil(
        lambda: not window.predictions.running and window.review.predicted.sum() == N_CHIPS,
        timeout=120_000,
    )
    window.actions_by_id["overview"].trigger()
    window.overview.setFloating(True)
    window.overview.resize(1100, 800)
    qtbot.waitExposed(window.overview)
    return window


def grid_order(window: MainWindow) -> list[int]:
    return [int(i) for i in window.page.model.order]


def settled(window: MainWindow) -> bool:
    page = window.page
    return not page.requery_pending() and grid_order(window) == list(
        window.review.query(page.filters.query())
    )


def test_dragging_the_threshold_line_changes_calls_and_order(qtbot, window: MainWindow) -> None:
    review, dock = window.review, window.overview
    dock.tabs.setCurrentIndex(TAB_THRESHOLDS)
    dock.threshold_tag.setCurrentText("agriculture")
    i = TAG_INDEX["agriculture"]
    qtbot.waitUntil(lambda: "agriculture" in dock.threshold_note.text())
    qtbot.waitUntil(lambda: settled(window))
    before_calls, before_order = review.calls.copy(), grid_order(window)
    start = float(review.thresholds[i])
    chart = dock.thresholds
    viewport = chart.viewport()
    grab, target = chart.view_to_widget(start, 0.5), chart.view_to_widget(0.85, 0.5)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, grab)
    for k in range(1, 11):
        step = grab + (target - grab) * (k / 10)
        QTest.mouseMove(viewport, step)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, target)

    moved = float(review.thresholds[i])
    assert moved == pytest.approx(0.85, abs=0.02)
    assert review.moved_thresholds() == {"agriculture": (pytest.approx(start), moved)}
    expected = calls_by_hand(review.probs, review.thresholds, review.card.weather_rule == "argmax")
    called = [set(t for t, c in zip(review.card.tags, row) if c) for row in review.calls]
    assert called == expected
    assert review.calls[:, i].sum() < before_calls[:, i].sum()
    qtbot.waitUntil(lambda: settled(window))
    assert grid_order(window) != before_order
    assert f"threshold {moved:.2f}" in dock.threshold_note.text()


def test_a_click_on_a_heatmap_cell_filters_the_grid(qtbot, window: MainWindow, chip_labels) -> None:
    review, dock = window.review, window.overview
    dock.tabs.setCurrentIndex(TAB_CO)
    qtbot.waitUntil(lambda: dock.co.frame is not None)
    chart = dock.co
    column = list(chart.frame.columns).index("road")
    row = list(chart.frame.index).index("agriculture")
    QTest.mouseClick(
        chart.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        chart.view_to_widget(column, row),
    )
    expected = sorted(
        k
        for k, name in enumerate(review.names)
        if {"agriculture", "road"} <= set(chip_labels[name])
    )
    assert expected  # the test means something only if some chips have both
    qtbot.waitUntil(lambda: sorted(grid_order(window)) == expected)
    bar = window.page.filters
    assert bar.chart_bar.isVisible()
    assert f"agriculture + road ({len(expected)})" in bar.chart_note.text()
    bar.chart_clear.click()
    qtbot.waitUntil(lambda: len(grid_order(window)) == N_CHIPS)
    assert not bar.chart_bar.isVisible()
    assert window.page.filters.query() == ChipQuery(sort=window.page.filters.query().sort)


def test_the_tag_table_marks_the_tags_the_model_is_weak_on(window: MainWindow) -> None:
    from model.tags import TAGS

    table = window.page.detail.table
    marked = {tag for r, tag in enumerate(TAGS) if table.item(r, 1).text().endswith("⚠")}
    assert marked == {"bare_ground", "selective_logging", "blooming", "slash_burn", "blow_down"}
    road = table.item(TAG_INDEX["road"], 1).toolTip()
    assert "precision 0.56" in road and "F1 0.69" in road  # the README's table, from the card


def test_colour_per_tag_is_read_off_the_window_thread(qtbot, window: MainWindow) -> None:
    from model.chips import decode_rgb

    review, dock = window.review, window.overview
    dock.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: "colour_per_tag" in dock.frames, timeout=60_000)
    frame = dock.frames["colour_per_tag"]
    water = [k for k in range(N_CHIPS) if review.current[k, TAG_INDEX["water"]] > 0.5]
    by_hand = np.mean([decode_rgb(review.paths[k], 16).mean(axis=(0, 1)) for k in water], axis=0)
    assert frame.loc["water", "chips"] == len(water)
    np.testing.assert_allclose(frame.loc["water", ["r", "g", "b"]].to_numpy(float), by_hand)
    assert f"Mean colour of {N_CHIPS} chips" in dock.colour_note.text()


def test_saved_thresholds_become_the_model_in_use_without_predicting_again(
    qtbot, window: MainWindow
) -> None:
    from model.paths import BUNDLED_MODEL
    from model.versions import active_model, list_models

    review, dock = window.review, window.overview
    bundled = BUNDLED_MODEL.read_bytes()
    dock.tabs.setCurrentIndex(TAB_THRESHOLDS)
    dock.threshold_tag.setCurrentText("water")
    qtbot.waitUntil(lambda: "water" in dock.threshold_note.text())
    assert not dock.save_button.isEnabled()  # nothing moved yet
    dock.thresholds.line.setValue(0.6)  # as a drag leaves it
    qtbot.waitUntil(dock.save_button.isEnabled)
    old_version = review.card.version
    dock.save_button.click()
    qtbot.waitUntil(lambda: review.card.version != old_version)
    assert review.card.parent == old_version and review.card.thresholds["water"] == 0.6
    assert active_model().path in [entry.path for entry in list_models()]
    assert active_model().path != BUNDLED_MODEL and BUNDLED_MODEL.read_bytes() == bundled
    assert review.predicted.sum() == N_CHIPS and not window.predictions.running
    assert review.moved_thresholds() == {}
