"""The map of the set (View > Map of the set): every chip as a point placed by its features
(model/map_view.py), coloured by a chosen tag's crowd label, model call, disagreement or the
chip's suspicion. A lasso or rectangle drawn on it selects those chips in the grid (where the tag
keys then act on all of them); the current chip is ringed.

Layouts are computed off the window's thread: PCA at once, then UMAP where umap-learn is
installed. A layout computed for an older state of the review (another folder, fewer features)
is dropped when it arrives.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QDockWidget, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from model.map_view import (
    COLOUR_MODES,
    UMAP_MISSING,
    UmapProcess,
    colouring,
    in_polygon,
    in_rectangle,
    pca_layout,
    umap_available,
)
from model.review import Review
from model.tags import TAGS

MODE_LABELS = {
    "crowd": "the crowd's tag",
    "model": "the model's call",
    "disagreement": "disagreement",
    "suspicion": "suspicion (any tag)",
}
PALETTES = {  # one colour per category, in the order model/map_view.py names them
    "crowd": ("#b0b0b0", "#4a78c2", "#e8730c"),
    "model": ("#b0b0b0", "#4a78c2", "#e8730c"),
    "disagreement": ("#b0b0b0", "#4a78c2", "#d62728", "#9c27b0"),
    "suspicion": ("#b0b0b0", "#f2c94c", "#f2994a", "#d62728"),
}
SELECT_MODES = ("lasso", "rectangle", "pan")
POINTS_PER_TURN = 2_000  # points made per turn of the event loop (_draw): about 7 ms idle
_generations = itertools.count(1)


class _LayoutSignals(QObject):
    ready = Signal(int, str, object)  # generation, "PCA" or "UMAP", (n, 2) array
    note = Signal(int, str)  # generation, one line to show (UMAP missing or failed)


class _LayoutJob(QRunnable):
    """PCA at once, then UMAP in a child process (model.map_view says why a process), given up
    as soon as a newer layout is asked for or the view is gone."""

    def __init__(
        self,
        signals: _LayoutSignals,
        generation: int,
        features: np.ndarray,
        umap: UmapProcess,
        superseded: Callable[[], bool],
    ) -> None:
        super().__init__()
        self.signals, self.generation, self.features = signals, generation, features
        self.umap, self.superseded = umap, superseded

    def run(self) -> None:
        try:
            # The snapshot is taken here, not on the window's thread: copying 36,000 chips'
            # features (37 MB, fresh pages) held the window 56 ms; here the copy lets the GIL
            # go. A row the window fills meanwhile is whole or partly NaN, and a row with any
            # NaN is left out of the layout (model/map_view.py).
            self.features = self.features.copy()
            self.signals.ready.emit(self.generation, "PCA", pca_layout(self.features))
            if self.superseded():
                return
            try:
                xy = self.umap.layout(self.features, cancelled=self.superseded)
            except ImportError:
                self.signals.note.emit(self.generation, UMAP_MISSING)
                return
            if xy is not None:
                self.signals.ready.emit(self.generation, "UMAP", xy)
        except RuntimeError as exc:
            if not self.superseded():  # else the window closed while this ran: nobody waits
                self.signals.note.emit(self.generation, f"UMAP failed: {exc} (showing PCA)")
        except Exception as exc:  # a layout must never take the app down
            self.signals.note.emit(self.generation, f"layout failed: {type(exc).__name__}: {exc}")


class _WarmUpJob(QRunnable):
    """Start UMAP's process and compile its loops while the model is still predicting."""

    def __init__(self, umap: UmapProcess, superseded: Callable[[], bool]) -> None:
        super().__init__()
        self.umap, self.superseded = umap, superseded

    def run(self) -> None:
        # A failure here is met again, and said, by the layout that follows.
        with contextlib.suppress(Exception):
            self.umap.warm(cancelled=self.superseded)


class SelectingViewBox(pg.ViewBox):
    """A view box on which a left drag draws a lasso or a rectangle (or pans, in pan mode)."""

    shape_drawn = Signal(str, object)  # mode, (m, 2) polygon or (2, 2) corners in data units

    def __init__(self) -> None:
        super().__init__()
        self.select_mode = "lasso"
        self._path: list[tuple[float, float]] = []
        self.outline = pg.PlotCurveItem(
            pen=pg.mkPen("#222222", width=1, style=Qt.PenStyle.DashLine)
        )
        self.addItem(self.outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None) -> None:
        if self.select_mode == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        here = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._path = [(start.x(), start.y())]
        if (here.x(), here.y()) != self._path[-1]:  # the release repeats the last move
            self._path.append((here.x(), here.y()))
        shape = self._shape()
        closed = np.vstack([shape, shape[:1]])
        self.outline.setData(closed[:, 0], closed[:, 1])
        if ev.isFinish():
            self.outline.setData([], [])
            corners = np.array([self._path[0], self._path[-1]])
            self.shape_drawn.emit(self.select_mode, corners if self.is_rect() else shape)
            self._path = []

    def is_rect(self) -> bool:
        return self.select_mode == "rectangle"

    def _shape(self) -> np.ndarray:
        if self.is_rect():
            (xa, ya), (xb, yb) = self._path[0], self._path[-1]
            return np.array([(xa, ya), (xb, ya), (xb, yb), (xa, yb)])
        return np.array(self._path)


class MapView(QWidget):
    """The map for one review at a time."""

    rows_selected = Signal(object)  # review rows inside the drawn shape

    def __init__(self) -> None:
        super().__init__()
        self.review: Review | None = None
        self.xy: np.ndarray | None = None
        self.layout_kind = ""
        self.generation = 0
        self.current: int | None = None
        self.selected = np.zeros(0, dtype=np.int64)
        self._features_seen = -1
        self.mode = QComboBox(toolTip="What the colours show")
        for key in COLOUR_MODES:
            self.mode.addItem(MODE_LABELS[key], key)
        self.tag = QComboBox(toolTip="The tag the colours are about")
        for tag in TAGS:
            self.tag.addItem(tag, tag)
        self.tag.setCurrentText("road")
        self.select = QComboBox(toolTip="What a drag with the left button does")
        for key in SELECT_MODES:
            self.select.addItem(f"Drag: {key}", key)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)  # unwrapped, disagreement's legend widened the window
        self.box = SelectingViewBox()
        self.plot = pg.PlotWidget(viewBox=self.box, background="w")
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.box.setAspectLocked(False)
        self.points: list[pg.ScatterPlotItem] = []  # the picture shown
        # The next picture, built hidden a chunk per turn and then shown in one (_draw):
        self._building: list[pg.ScatterPlotItem] = []
        # its points still to make: (x, y, review rows, colour, z)
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, str, int]] = []
        self._next_layout: tuple[np.ndarray, str] | None = None  # its layout, if a new one
        self._next_legend = ""
        self._pending = False  # a picture is being built (or waits to be shown)
        self._step_queued = False  # one step per turn, however often _draw is called
        self._job_note = ""  # what the layout job said of UMAP (missing, failed)
        self.chosen = pg.ScatterPlotItem(
            size=9, pen=pg.mkPen("#000000", width=1.5), brush=None, pxMode=True
        )
        self.ring = pg.ScatterPlotItem(
            size=22, pen=pg.mkPen("#000000", width=3), brush=None, pxMode=True
        )
        self.chosen.setZValue(10)  # above every category's points
        self.ring.setZValue(11)
        self.box.addItem(self.chosen)
        self.box.addItem(self.ring)
        # The dock must fit beside the review page on a 1600 px screen (the page needs 1,363):
        # combos that shrink to a few letters, two rows of them, not three combos' full width.
        for combo in (self.mode, self.tag, self.select):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(3)
        colour = QHBoxLayout()
        colour.addWidget(QLabel("Colour by"))
        colour.addWidget(self.mode, 1)
        colour.addWidget(self.tag, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(colour)
        layout.addWidget(self.select)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.note)
        self.mode.currentIndexChanged.connect(self.recolour)
        self.tag.currentIndexChanged.connect(self.recolour)
        self.select.currentIndexChanged.connect(
            lambda: setattr(self.box, "select_mode", self.select.currentData())
        )
        self.box.shape_drawn.connect(self.select_shape)
        self.signals = _LayoutSignals(self)
        self.signals.ready.connect(self._layout_ready)
        self.signals.note.connect(self._layout_note)
        self.pool = QThreadPool(self)
        # Two: a layout's PCA is not held behind UMAP's warm-up (UmapProcess takes turns).
        self.pool.setMaxThreadCount(2)
        self._closed = False  # set by shutdown(): a running layout gives up within 0.2 s
        self.umap = UmapProcess()  # one child process, kept between layouts
        self._warmed = False
        # Predictions arrive in batches: lay out again once they pause, recolour soon after edits.
        self._relayout = QTimer(self, singleShot=True, interval=1500)
        self._relayout.timeout.connect(self.compute_layout)
        self._recolour = QTimer(self, singleShot=True, interval=200)
        self._recolour.timeout.connect(self.recolour)

    # --- the review -----------------------------------------------------------------------
    def set_review(self, review: Review | None) -> None:
        if self.review is not None:
            self.review.events.edited.disconnect(self._edited)
            self.review.events.predictions.disconnect(self._predicted)
            self.review.events.model.disconnect(self._predicted)
            self.review.events.reloaded.disconnect(self._edited)
        self.review = review
        self.xy, self.layout_kind, self.current = None, "", None
        self._next_layout = None
        self.selected = np.zeros(0, dtype=np.int64)
        self._features_seen = -1
        self._draw()
        if review is not None:
            review.events.edited.connect(self._edited)
            review.events.predictions.connect(self._predicted)
            review.events.model.connect(self._predicted)
            review.events.reloaded.connect(self._edited)
            if self.isVisible():
                self.compute_layout()

    def shutdown(self) -> None:
        """Stop any layout (its UMAP process is killed) and wait for its thread to end."""
        self._closed = True
        self._relayout.stop()
        self.pool.waitForDone()
        self.umap.close()

    def _edited(self, **_info) -> None:
        self._recolour.start()

    def _predicted(self, **_info) -> None:
        self._recolour.start()
        if self.isVisible():
            self._relayout.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._warmed and umap_available():
            self._warmed = True
            self.pool.start(_WarmUpJob(self.umap, lambda: self._closed))
        if self.review is not None and self._features_seen != int(self.review.has_features.sum()):
            self.compute_layout()

    def compute_layout(self) -> None:
        """Start laying out the chips with features now (off this thread)."""
        review = self.review
        if review is None or review.features is None:
            self.note.setText("The map appears once the model has seen the chips.")
            return
        have = int(review.has_features.sum())
        if have == self._features_seen:
            return
        self._features_seen = have
        self.generation = next(_generations)
        self.note.setText(f"Laying out {have:,} chips…")
        self._job_note = ""
        generation = self.generation
        self.pool.start(
            _LayoutJob(
                self.signals,
                generation,
                review.features,  # copied in the job (_LayoutJob.run)
                self.umap,
                lambda: self._closed or self.generation != generation,
            )
        )

    def _layout_ready(self, generation: int, kind: str, xy: np.ndarray) -> None:
        if generation != self.generation or self.review is None or len(xy) != len(self.review):
            return
        # Shown, with its note and range, once its points are all built (_reveal).
        self._next_layout = (xy, kind)
        self._draw()

    def _layout_note(self, generation: int, text: str) -> None:
        if generation == self.generation:
            self._job_note = text  # kept when a layout built meanwhile is shown (_reveal)
            self.note.setText(text)

    # --- drawing --------------------------------------------------------------------------
    def recolour(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """Draw the points again (a new layout, or new colours): built hidden a chunk per turn
        of the event loop, then shown in place of the old picture in one turn (_reveal).

        pyqtgraph takes about 3.5 ms per 1,000 points to make them, and every repaint draws all
        points shown: 36,000 added in one turn held the window half a second, and added a chunk
        per turn to the shown picture each turn also repainted all before (a stall of 123 ms on
        36,329 chips). Hidden items are not painted; the old picture stays until the new is
        whole."""
        self._drop(self._building)
        self._building, self._chunks, self._pending = [], [], False
        review = self.review
        xy = self._next_layout[0] if self._next_layout is not None else self.xy
        if review is None or xy is None:
            self._drop(self.points)
            self.points = []
            self.legend.setText("")
            self.chosen.setData([], [])
            self.ring.setData([], [])
            return
        mode = self.mode.currentData()
        colours = colouring(review, mode, self.tag.currentData())
        palette = PALETTES[mode]
        placed = ~np.isnan(xy[:, 0])
        legend = []
        for k, name in enumerate(colours.names):
            rows = np.flatnonzero(placed & (colours.category == k))
            legend.append(  # an entry breaks between entries only, not from its dot
                f"<span style='white-space:nowrap'><span style='color:{palette[k]}'>●</span>"
                f" {name} ({len(rows):,})</span>"
            )
            for start in range(0, len(rows), POINTS_PER_TURN):
                part = rows[start : start + POINTS_PER_TURN]
                self._chunks.append((xy[part, 0], xy[part, 1], part, palette[k], k))
        self._next_legend = "&nbsp; ".join(legend)
        self._pending = True
        self._queue_step()  # on the next turn: a new layout arrives with its note in this one

    def _drop(self, items: list[pg.ScatterPlotItem]) -> None:
        for item in items:
            self.box.removeItem(item)

    def _queue_step(self) -> None:
        if not self._step_queued:
            self._step_queued = True
            QTimer.singleShot(0, self._step)

    def _step(self) -> None:
        """Make the next chunk's points, hidden, or show the picture once all are made (a new
        _draw drops what was made of the old one)."""
        self._step_queued = False
        if not self._pending:
            return
        if not self._chunks:
            self._reveal()
            return
        x, y, rows, colour, z = self._chunks.pop(0)
        item = pg.ScatterPlotItem(
            x=x,
            y=y,
            size=5,
            pen=None,
            brush=pg.mkBrush(colour),
            pxMode=True,
            data=rows,
        )
        item.setZValue(z)  # the rarer, more telling categories on top
        item.setVisible(False)
        self.box.addItem(item)
        self._building.append(item)
        self._queue_step()

    def _reveal(self) -> None:
        """Show the built picture in place of the old one, with its legend and, for a new
        layout, its note and view range: one repaint."""
        self._pending = False
        self._drop(self.points)
        self.points, self._building = self._building, []
        for item in self.points:
            item.setVisible(True)
        self.legend.setText(self._next_legend)
        if self._next_layout is not None:
            self.xy, self.layout_kind = self._next_layout
            self._next_layout = None
            more = " UMAP follows." if self.layout_kind == "PCA" else ""
            if self._job_note:  # UMAP missing or failed, said while this was built
                more = f" {self._job_note}"
            self.note.setText(f"{self.layout_kind} of the network's features.{more}")
            placed = self.xy[~np.isnan(self.xy[:, 0])]
            if len(placed):  # the whole layout, not the first chunk of points drawn
                (x0, y0), (x1, y1) = placed.min(axis=0).tolist(), placed.max(axis=0).tolist()
                self.box.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)
        self._draw_marks()

    def drawing(self) -> bool:
        """Whether points are still being made or not yet shown."""
        return self._pending

    def _draw_marks(self) -> None:
        xy = self.xy
        if xy is None:
            return
        chosen = self.selected[~np.isnan(xy[self.selected, 0])] if len(self.selected) else []
        self.chosen.setData(xy[chosen, 0], xy[chosen, 1]) if len(chosen) else self.chosen.setData(
            [], []
        )
        row = self.current
        if row is not None and not np.isnan(xy[row, 0]):
            self.ring.setData([xy[row, 0]], [xy[row, 1]])
        else:
            self.ring.setData([], [])

    def set_current(self, row: int | None) -> None:
        """Ring the chip the grid is on."""
        self.current = row
        self._draw_marks()

    def ring_position(self) -> tuple[float, float] | None:
        data = self.ring.getData()
        return (float(data[0][0]), float(data[1][0])) if len(data[0]) else None

    # --- selecting ------------------------------------------------------------------------
    def select_shape(self, mode: str, shape: np.ndarray) -> None:
        """Select the chips inside a drawn lasso (polygon) or rectangle (two corners)."""
        if self.xy is None:
            return
        inside = (
            in_rectangle(self.xy, *shape) if mode == "rectangle" else in_polygon(self.xy, shape)
        )
        self.selected = np.flatnonzero(inside)
        self._draw_marks()
        self.rows_selected.emit([int(i) for i in self.selected])


class MapDock(QDockWidget):
    """The map in a dock of the window, linked to the review page both ways."""

    def __init__(self, page, parent=None) -> None:
        super().__init__("Map of the set", parent)
        self.setObjectName("map_dock")
        self.view = MapView()
        self.setWidget(self.view)
        page.review_set.connect(self.view.set_review)
        page.current_changed.connect(self.view.set_current)
        self.view.rows_selected.connect(page.select_rows)
        self.hide()
