"""The "Chips like this one" panel follows the current chip, and its chips and filter reach the
grid; the neighbours come from the features the window's own prediction run stored."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from sklearn.metrics.pairwise import cosine_similarity

from gui.main_window import MainWindow

N_CHIPS = 40


@pytest.fixture
def window(window_with_features, errors) -> MainWindow:
    return window_with_features(300, N_CHIPS)


TIE = 1e-5  # cosines this close are a tie: float32 sums in another order may swap them


def assert_most_similar(window: MainWindow, row: int, names: list[str], k: int = 10) -> None:
    """`names` are `row`'s k most similar chips, best first, checked by brute force: every
    pair's cosine by scikit-learn on the stored features. Chips whose cosines tie (within TIE)
    may come in either order, and either may hold the k-th place."""
    review = window.review
    sims = cosine_similarity(review.features.astype(np.float32))[row]
    others = np.delete(np.arange(len(review)), row)
    kth_best = np.sort(sims[others])[::-1][k - 1]
    shown = np.array([review.index[n] for n in names])
    assert len(shown) == k and len(set(shown.tolist())) == k and row not in shown
    assert (sims[shown] >= kth_best - TIE).all(), (sims[shown], kth_best)
    assert (np.diff(sims[shown]) <= TIE).all(), sims[shown]  # best first


def test_similar_chips_follow_the_current_chip(qtbot, window: MainWindow) -> None:
    page = window.page
    panel = page.similar
    for row in (5, 17, 0):
        page.select_row(row)
        qtbot.waitUntil(lambda row=row: panel.row == row)
        assert_most_similar(window, row, panel.shown_names())
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
    qtbot.waitUntil(lambda: page.current_row() == row and panel.row == row)
    assert_most_similar(window, row, panel.shown_names())


def test_chips_like_the_selected_ones(qtbot, window: MainWindow) -> None:
    page = window.page
    page.select_row(8)
    qtbot.waitUntil(lambda: page.similar.row == 8)
    page.similar.like.click()
    qtbot.waitUntil(lambda: len(page.shown_rows()) == 11)  # the chip and its ten
    shown = page.shown_rows()
    assert 8 in shown
    sims = cosine_similarity(window.review.features.astype(np.float32))[8]
    best_first = sorted((r for r in shown if r != 8), key=lambda r: -sims[r])
    assert_most_similar(window, 8, [window.review.names[r] for r in best_first])
    assert page.filters.like.isVisible()
    page.filters.like.click()  # ends the filter: every chip again
    qtbot.waitUntil(lambda: len(page.shown_rows()) == N_CHIPS)


def test_look_alikes_filter_on_a_big_folder_searches_off_the_windows_thread(
    qtbot, window: MainWindow, monkeypatch
) -> None:
    """Above a size the look-alike search runs on another thread: the window says so at once,
    and the grid shows the filter's chips when the search is done; an edit afterwards only
    compares tags again (the neighbours are kept)."""
    import gui.review_page

    monkeypatch.setattr(gui.review_page, "LOOK_ALIKES_INLINE", 0)  # these 40 chips count as big
    page, review = window.page, window.review
    messages: list[str] = []
    page.message.connect(messages.append)
    combo = page.filters.kind
    with qtbot.waitSignal(page._look_alikes_found, timeout=60_000):
        combo.setCurrentIndex(combo.findData("near_duplicates"))
        assert messages and messages[-1].startswith(f"Finding look-alikes among {N_CHIPS} chips")
    qtbot.waitUntil(lambda: review.look_alikes_ready())
    expected = sorted({i for a, b, _ in review.near_duplicates() for i in (a, b)})
    qtbot.waitUntil(lambda: sorted(page.shown_rows()) == expected)
    kept = review._look_alikes
    review.set_tag([0], "road", "road" not in review.tags_now(0))
    assert review._look_alikes is kept and review.look_alikes_ready()


def test_the_features_table_is_made_on_the_prediction_thread(
    qtbot, window_with_features, monkeypatch
) -> None:
    """The empty table the features fill (37 MB for 36,000 chips) is made by the prediction
    thread with the first batch, not by the window as that batch lands."""
    import model.review

    made: list[tuple[bool, np.ndarray]] = []
    make = model.review.empty_features

    def recording(n_chips: int, width: int) -> np.ndarray:
        table = make(n_chips, width)
        made.append((threading.current_thread() is threading.main_thread(), table))
        return table

    monkeypatch.setattr(model.review, "empty_features", recording)
    window = window_with_features(300, N_CHIPS)
    assert [on_window_thread for on_window_thread, _ in made] == [False]
    assert window.review.features is made[0][1]
    assert window.review.features.shape[0] == N_CHIPS and window.review.has_features.all()
