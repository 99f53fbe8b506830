"""The "Chips like this one" panel follows the current chip, and its chips and filter reach the
grid; the neighbours come from the features the window's own prediction run stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from sklearn.metrics.pairwise import cosine_similarity

from gui.main_window import MainWindow

N_CHIPS = 40


@pytest.fixture
def window(
    qtbot,
    tmp_path: Path,
    tiny_model: Path,
    errors,
    monkeypatch,
    open_and_wait,
    labelled_folder,
    labelled_names,
) -> MainWindow:
    from model.versions import set_active_model

    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "app-data"))
    set_active_model(tiny_model)
    folder, labels = labelled_folder(tmp_path, labelled_names[300 : 300 + N_CHIPS])
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    assert open_and_wait(win, folder, labels)
    qtbot.waitUntil(
        lambda: not win.predictions.running and win.review.has_features.all(), timeout=120_000
    )
    return win


def expected_similar(window: MainWindow, row: int, k: int = 10) -> list[str]:
    """By brute force: every pair's cosine (scikit-learn) on the stored features, best first."""
    review = window.review
    sims = cosine_similarity(review.features.astype(np.float32))[row]
    others = sorted((j for j in range(len(review)) if j != row), key=lambda j: (-sims[j], j))
    return [review.names[j] for j in others[:k]]


def test_similar_chips_follow_the_current_chip(qtbot, window: MainWindow) -> None:
    page = window.page
    panel = page.similar
    for row in (5, 17, 0):
        page.select_row(row)
        qtbot.waitUntil(lambda row=row: panel.row == row)
        assert panel.shown_names() == expected_similar(window, row)
        assert panel.list.count() == 10
        first = panel.list.item(0).text()
        assert first.startswith(panel.shown_names()[0])
        tags = " ".join(window.review.tags_now(window.review.index[panel.shown_names()[0]]))
        assert tags in first

    # A click on a similar chip makes it the current chip, and the panel follows it.
    target = panel.shown_names()[3]
    item = panel.list.item(3)
    QTest.mouseClick(
        panel.list.viewport(),
        Qt.MouseButton.LeftButton,
        pos=panel.list.visualItemRect(item).center(),
    )
    row = window.review.index[target]
    qtbot.waitUntil(lambda: page.current_row() == row)
    assert panel.row == row and panel.shown_names() == expected_similar(window, row)


def test_chips_like_the_selected_ones(qtbot, window: MainWindow) -> None:
    page = window.page
    page.select_row(8)
    qtbot.waitUntil(lambda: page.similar.row == 8)
    page.similar.like.click()
    want = {8, *(window.review.index[n] for n in expected_similar(window, 8))}
    qtbot.waitUntil(lambda: set(page.shown_rows()) == want)
    assert page.filters.like.isVisible()
    page.filters.like.click()  # ends the filter: every chip again
    qtbot.waitUntil(lambda: len(page.shown_rows()) == N_CHIPS)
