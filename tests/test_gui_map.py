"""The map of the set: laid out off the window's thread from the features the prediction run
stored, a lasso or rectangle drawn with the mouse selects those chips in the grid, and the
current chip is ringed."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from gui.main_window import MainWindow
from gui.map_view import PALETTES
from model.map_view import colouring, in_polygon, pca_layout

N_CHIPS = 40


@pytest.fixture
def window(qtbot, window_with_features, errors) -> MainWindow:
    win = window_with_features(400, N_CHIPS, (1500, 900))
    win.actions_by_id["map"].trigger()
    win.resizeDocks([win.map_dock], [700], Qt.Orientation.Horizontal)
    view = win.map_dock.view
    qtbot.waitUntil(
        lambda: (
            view.xy is not None
            and view.layout_kind == "UMAP"
            or (view.xy is not None and "umap-learn" in view.note.text())
        ),
        timeout=120_000,
    )
    return win


@pytest.fixture(autouse=True)
def pca_only(monkeypatch):
    """The map on its PCA layout: UMAP in its process is tested in test_map_layout.py; here it
    would cost a process and its compiling (tens of seconds) for the same selection logic."""
    import gui.map_view
    import model.map_view

    monkeypatch.setattr(gui.map_view, "umap_available", lambda: False)
    monkeypatch.setattr(model.map_view, "umap_available", lambda: False)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Points are added a chunk per turn of the event loop: chunks of 7 make 40 chips several."""
    import gui.map_view

    monkeypatch.setattr(gui.map_view, "POINTS_PER_TURN", 7)


@pytest.fixture(autouse=True)
def every_mouse_move():
    """pyqtgraph drops mouse moves that come faster than 100 a second (a real mouse's rate);
    the synthetic ones below come at once, so let every one through."""
    before = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", -1)
    yield
    pg.setConfigOption("mouseRateLimit", before)


def _drag(view, points_in_data: list[tuple[float, float]]) -> None:
    """Press, move through the points and release the left button, as a mouse does."""
    widget = view.plot.viewport()

    def at(x: float, y: float) -> QPointF:
        scene = view.box.mapViewToScene(QPointF(x, y))
        return QPointF(view.plot.mapFromScene(scene))

    def send(kind, pos: QPointF, buttons) -> None:
        button = (
            Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
        )
        event = QMouseEvent(
            kind,
            pos,
            widget.mapToGlobal(pos.toPoint()),
            button,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(widget, event)

    left = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, at(*points_in_data[0]), left)
    for x, y in points_in_data[1:]:
        send(QEvent.Type.MouseMove, at(x, y), left)
    send(QEvent.Type.MouseButtonRelease, at(*points_in_data[-1]), Qt.MouseButton.NoButton)


def test_lasso_and_rectangle_on_the_map_select_those_chips_in_the_grid(
    qtbot, window: MainWindow
) -> None:
    view, page = window.map_dock.view, window.page
    xy = view.xy
    assert xy.shape == (N_CHIPS, 2) and not np.isnan(xy).any()
    qtbot.waitUntil(lambda: not view.drawing())  # points are added a chunk per turn
    drawn_rows = np.concatenate([[p.data() for p in item.points()] for item in view.points])
    assert sorted(drawn_rows.tolist()) == list(range(N_CHIPS))  # every chip, once
    if view.layout_kind == "PCA":  # the first layout, and the last where umap-learn is missing
        np.testing.assert_allclose(
            np.abs(xy), np.abs(pca_layout(window.review.features)), rtol=1e-3, atol=1e-3
        )

    # A lasso: a triangle around the left part of the map, drawn point by point.
    x0, x1 = np.nanmin(xy[:, 0]), np.nanmax(xy[:, 0])
    y0, y1 = np.nanmin(xy[:, 1]), np.nanmax(xy[:, 1])
    w, h = x1 - x0, y1 - y0
    # Inside the data's range, which the view shows whole (autoRange).
    lasso = [(x0, y0), (x0 + 0.7 * w, y0), (x0, y1)]
    path = [lasso[0]]
    for a, b in zip(lasso, lasso[1:] + lasso[:1]):  # the mouse moves along each side
        path += [
            tuple(np.array(a) + (np.array(b) - np.array(a)) * s) for s in np.linspace(0.1, 1, 6)
        ]
    drawn: list[np.ndarray] = []
    view.box.shape_drawn.connect(lambda _mode, shape: drawn.append(np.asarray(shape)))
    _drag(view, path)
    qtbot.waitUntil(lambda: bool(drawn))
    # The lasso the map received is the mouse's path, to a pixel; the chips inside it (by the
    # even-odd rule, model/map_view.py) are what the grid must select.
    np.testing.assert_allclose(drawn[-1], np.array(path), atol=0.01 * max(w, h))
    expected = set(np.flatnonzero(in_polygon(xy, drawn[-1])).tolist())
    assert 0 < len(expected) < N_CHIPS, "the lasso should hold some chips, not all"
    qtbot.waitUntil(lambda: set(page.selected_rows()) == expected)
    assert set(view.selected.tolist()) == expected
    current = page.current_row()
    assert current in expected
    # The ring marks the current chip.
    assert view.ring_position() == pytest.approx(tuple(xy[current]), abs=1e-4)

    # A rectangle around the right half.
    view.select.setCurrentIndex(view.select.findData("rectangle"))
    corners = [(x0 + 0.5 * w, y0 - 0.02 * h), (x1, y1 + 0.02 * h)]
    steps = [
        tuple(np.array(corners[0]) + (np.array(corners[1]) - np.array(corners[0])) * s)
        for s in np.linspace(0, 1, 8)
    ]
    _drag(view, steps)
    qtbot.waitUntil(lambda: len(drawn) == 2)
    np.testing.assert_allclose(drawn[-1], np.array(corners), atol=0.01 * max(w, h))
    (left, _), (right, _) = drawn[-1]
    expected = set(np.flatnonzero((xy[:, 0] >= left) & (xy[:, 0] <= right)).tolist())
    assert 0 < len(expected) < N_CHIPS
    qtbot.waitUntil(lambda: set(page.selected_rows()) == expected)

    # The tag keys act on all of them: the selection is the grid's.
    page.toggle_tag("blow_down")
    review = window.review
    have = {i for i in range(N_CHIPS) if "blow_down" in review.tags_now(i)}
    assert have >= expected

    # Moving in the grid moves the ring.
    other = next(i for i in range(N_CHIPS) if i not in expected)
    page.select_row(other)
    qtbot.waitUntil(lambda: view.ring_position() == pytest.approx(tuple(xy[other]), abs=1e-4))


def _shown(view) -> dict[int, str]:
    """Each drawn chip's colour, as the shown picture has it."""
    return {
        int(p.data()): item.opts["brush"].color().name()
        for item in view.points
        if item.isVisible()
        for p in item.points()
    }


def test_new_colours_replace_the_picture_whole_once_every_point_is_made(
    qtbot, window: MainWindow
) -> None:
    """The points are made a chunk per turn (7 here), hidden; until the last is made the old
    picture stays, every chip in it once, and then the new one replaces it in one turn."""
    view = window.map_dock.view
    qtbot.waitUntil(lambda: not view.drawing())
    before = _shown(view)
    assert sorted(before) == list(range(N_CHIPS))
    view.mode.setCurrentIndex(view.mode.findData("disagreement"))
    assert view.drawing()
    steps = 0
    while view.drawing():
        QApplication.processEvents()  # one turn: one chunk made, or the picture shown
        steps += 1
        if view.drawing():
            assert _shown(view) == before, f"the old picture changed at step {steps}"
    assert steps >= N_CHIPS // 7, "the points were made in one turn, not a chunk per turn"
    after = _shown(view)
    assert sorted(after) == list(range(N_CHIPS))
    # The new colours are disagreement's: what the colouring of the review says, chip by chip.
    colours = colouring(window.review, "disagreement", view.tag.currentData())
    palette = PALETTES["disagreement"]
    assert after == {i: palette[colours.category[i]] for i in range(N_CHIPS)}
    assert view.legend.text().count("●") == len(colours.names)


def test_the_window_with_the_map_fits_a_1600_pixel_screen(qtbot, window: MainWindow) -> None:
    """The map's combos shrink and its legend wraps: with the longest legend (disagreement's),
    the window's narrowest is still under 1,600 px (it was 1,859 here, 1,941 under X)."""
    view = window.map_dock.view
    view.mode.setCurrentIndex(view.mode.findData("disagreement"))
    qtbot.waitUntil(lambda: not view.drawing())
    assert view.legend.text().count("●") == 4
    assert window.minimumSizeHint().width() <= 1600, window.minimumSizeHint()
