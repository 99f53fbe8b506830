"""The Overview's charts (pyqtgraph): each shows a DataFrame from model/overview.py and says which
bar or cell was clicked; none computes anything. Also used without a window by `stats`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QFont, QFontMetrics

SOURCE_COLOURS = {"crowd": (120, 120, 120), "now": (60, 120, 220), "model": (230, 140, 40)}
CURVE_COLOURS = {
    "precision": (40, 110, 220),
    "recall": (220, 60, 60),
    "f1": (30, 160, 60),
    "f2": (150, 60, 190),
}
RGB_COLOURS = {"r": (220, 50, 50), "g": (40, 160, 60), "b": (50, 90, 220)}
BAR = 0.8  # of a row's height, shared by a row's bars

pg.setConfigOptions(antialias=True, background="w", foreground="k")


class Chart(pg.PlotWidget):
    """A plot that reports clicks in data coordinates and exports itself as PNG."""

    clicked_at = Signal(float, float)  # x, y of a left click, in the plot's coordinates
    hovered_at = Signal(float, float)

    def __init__(self, title: str = "") -> None:
        super().__init__()
        self.setTitle(title)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.scene().sigMouseClicked.connect(self._clicked)
        self.scene().sigMouseMoved.connect(self._moved)

    def _in_view(self, scene_pos: QPointF) -> QPointF | None:
        box = self.plotItem.vb
        if not box.sceneBoundingRect().contains(scene_pos):
            return None
        return box.mapSceneToView(scene_pos)

    def _clicked(self, event) -> None:
        point = self._in_view(event.scenePos())
        if point is not None and event.button() == pg.QtCore.Qt.MouseButton.LeftButton:
            self.clicked_at.emit(point.x(), point.y())

    def _moved(self, scene_pos: QPointF) -> None:
        point = self._in_view(scene_pos)
        if point is not None:
            self.hovered_at.emit(point.x(), point.y())

    def view_to_widget(self, x: float, y: float) -> pg.QtCore.QPoint:
        """Where a point of the plot is on the widget (tests click there)."""
        scene = self.plotItem.vb.mapViewToScene(QPointF(x, y))
        return self.mapFromScene(scene)

    def export_png(self, path: str | Path) -> None:
        """At the chart's own size: scaled up, pyqtgraph enlarges the text and it overlaps."""
        ImageExporter(self.plotItem).export(str(path))


def _category_axis(chart: Chart, names: list[str], side: str = "left") -> None:
    axis = chart.getAxis(side)
    axis.setTicks([list(enumerate(names))])
    if side == "left":  # room for the longest tag, else the axis drops the labels that overflow
        metrics = QFontMetrics(axis.style.get("tickFont") or QFont())
        axis.setWidth(metrics.horizontalAdvance(max(names, key=len)) + 16)


class BarsChart(Chart):
    """Horizontal bars, one group per row of a frame (its index on the y axis, first at the top),
    one bar per column; `chosen(row, column)` on a click."""

    chosen = Signal(str, str)

    def __init__(
        self,
        title: str,
        colours: dict[str, tuple[int, int, int]],
        names: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.colours = colours
        self.names = names or {}
        self.frame: pd.DataFrame | None = None
        self.plotItem.invertY(True)
        self.plotItem.addLegend(offset=(-10, -10))
        self.clicked_at.connect(self._pick)

    def set_frame(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.plotItem.clear()
        columns = [c for c in frame.columns if c in self.colours]
        step = BAR / max(len(columns), 1)
        y = np.arange(len(frame))
        for k, column in enumerate(columns):
            values = frame[column].to_numpy(dtype=float)
            values = np.nan_to_num(values, nan=0.0)
            offset = -BAR / 2 + step * (k + 0.5)
            colour = self.colours[column]
            self.plotItem.addItem(
                pg.BarGraphItem(
                    x0=0,
                    y=y + offset,
                    height=step * 0.9,
                    width=values,
                    brush=colour,
                    name=self.names.get(column, column),
                )
            )
        _category_axis(self, list(frame.index))
        self.plotItem.setYRange(-0.6, len(frame) - 0.4, padding=0)
        top = float(np.nanmax(frame[columns].to_numpy(dtype=float), initial=0.0)) or 1.0
        self.plotItem.setXRange(0, top * 1.05, padding=0)

    def bar_centre(self, row: str, column: str) -> tuple[float, float]:
        """The middle of one bar, in plot coordinates."""
        assert self.frame is not None
        columns = [c for c in self.frame.columns if c in self.colours]
        step = BAR / len(columns)
        k = columns.index(column)
        value = float(np.nan_to_num(self.frame.loc[row, column]))
        y = list(self.frame.index).index(row) - BAR / 2 + step * (k + 0.5)
        return value / 2, y

    def _pick(self, x: float, y: float) -> None:
        if self.frame is None:
            return
        columns = [c for c in self.frame.columns if c in self.colours]
        i = int(round(y))
        if not 0 <= i < len(self.frame) or not columns:
            return
        k = int((y - i + BAR / 2) // (BAR / len(columns)))
        if 0 <= k < len(columns) and x >= 0:
            self.chosen.emit(str(self.frame.index[i]), columns[k])


class HeatmapChart(Chart):
    """A matrix as coloured cells with their numbers; hover says the cell, a click chooses it."""

    chosen = Signal(str, str)  # row, column
    hovered = Signal(str)

    def __init__(self, title: str, row_axis: str, column_axis: str) -> None:
        super().__init__(title)
        self.frame: pd.DataFrame | None = None
        self.image = pg.ImageItem()
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plotItem.invertY(True)
        self.plotItem.setLabel("left", row_axis)
        self.plotItem.setLabel("bottom", column_axis)
        self.plotItem.setAspectLocked(True)
        self.labels: list[pg.TextItem] = []
        self.clicked_at.connect(self._pick)
        self.hovered_at.connect(self._hover)

    def set_frame(self, frame: pd.DataFrame, as_share: bool = False) -> None:
        self.frame = frame
        self.plotItem.clear()
        values = frame.to_numpy(dtype=float)
        self.image.setImage(values.T, autoLevels=False, levels=(0, max(values.max(), 1e-9)))
        self.image.setRect(QRectF(-0.5, -0.5, values.shape[1], values.shape[0]))
        self.plotItem.addItem(self.image)
        small = len(frame) <= 6
        for r in range(values.shape[0]):
            for c in range(values.shape[1]):
                v = values[r, c]
                text = f"{v:.2f}" if as_share else (f"{v:,.0f}" if small else _short(v))
                light = v < 0.6 * values.max()
                item = pg.TextItem(text, color="w" if light else "k", anchor=(0.5, 0.5))
                item.setPos(c, r)
                self.plotItem.addItem(item)
        _category_axis(self, list(frame.index), "left")
        _category_axis(self, [_abbrev(t) for t in frame.columns], "bottom")
        self.plotItem.setRange(
            xRange=(-0.5, values.shape[1] - 0.5), yRange=(-0.5, values.shape[0] - 0.5), padding=0
        )

    def cell_at(self, x: float, y: float) -> tuple[str, str] | None:
        if self.frame is None:
            return None
        r, c = int(round(y)), int(round(x))
        if 0 <= r < self.frame.shape[0] and 0 <= c < self.frame.shape[1]:
            return str(self.frame.index[r]), str(self.frame.columns[c])
        return None

    def _pick(self, x: float, y: float) -> None:
        cell = self.cell_at(x, y)
        if cell is not None:
            self.chosen.emit(*cell)

    def _hover(self, x: float, y: float) -> None:
        cell = self.cell_at(x, y)
        if cell is not None and self.frame is not None:
            value = self.frame.loc[cell[0], cell[1]]
            number = f"{value:.3f}" if isinstance(value, float) and value < 1.0 else f"{value:,.0f}"
            text = f"{cell[0]} × {cell[1]}: {number}"
            self.setToolTip(text)
            self.hovered.emit(text)


def _short(v: float) -> str:
    return f"{v / 1000:.1f}k" if v >= 10_000 else f"{v:.0f}"


# Column labels under a 17-wide matrix or strip have about 6 letters' room each.
SHORT = {
    "partly_cloudy": "p.cloudy",
    "agriculture": "agri",
    "cultivation": "cultiv",
    "habitation": "habit",
    "bare_ground": "bare",
    "selective_logging": "s.logging",
    "artisinal_mine": "a.mine",
    "blooming": "bloom",
    "slash_burn": "s.burn",
    "blow_down": "b.down",
    "conventional_mine": "c.mine",
}


def _abbrev(tag: str) -> str:
    return SHORT.get(tag, tag)


class ThresholdChart(Chart):
    """A tag's precision, recall, F1 and F2 against threshold, and its threshold as a line the
    user drags; `moved(value)` while dragging."""

    moved = Signal(float)

    def __init__(self) -> None:
        super().__init__("")
        self.plotItem.addLegend(offset=(10, -10))
        self.plotItem.setLabel("bottom", "threshold")
        self.plotItem.setXRange(0, 1, padding=0.02)
        self.plotItem.setYRange(0, 1, padding=0.02)
        self.plotItem.showGrid(x=True, y=True, alpha=0.2)
        self.frame: pd.DataFrame | None = None
        self.curves = {
            name: self.plotItem.plot([], [], pen=pg.mkPen(colour, width=2), name=name)
            for name, colour in CURVE_COLOURS.items()
        }
        self.line = pg.InfiniteLine(
            0.5, angle=90, movable=True, bounds=(0.01, 0.99), pen=pg.mkPen("k", width=3)
        )
        self.line.setHoverPen(pg.mkPen((230, 140, 40), width=5))
        self.line.sigPositionChanged.connect(lambda line: self.moved.emit(float(line.value())))
        self.plotItem.addItem(self.line)

    def set_curve(self, frame: pd.DataFrame, title: str) -> None:
        """Only where it changed: a redraw of the curves and title costs more than a drag's
        step allows, and while dragging neither changes."""
        if (
            title == self.plotItem.titleLabel.text
            and self.frame is not None
            and self.frame.equals(frame)
        ):
            return
        self.frame = frame
        self.setTitle(title)
        for name, curve in self.curves.items():
            curve.setData(frame["threshold"].to_numpy(), frame[name].to_numpy())

    def set_threshold(self, value: float) -> None:
        """Place the line without reporting a move (the review's value, shown)."""
        self.line.blockSignals(True)
        self.line.setValue(value)
        self.line.blockSignals(False)


class MeanImageStrip(Chart):
    """The mean small chip of each tag, side by side under the tag's name."""

    def __init__(self) -> None:
        super().__init__("Mean chip per tag")
        self.plotItem.invertY(True)
        self.plotItem.hideAxis("left")
        self.plotItem.setAspectLocked(True)
        self.setFixedHeight(150)

    def set_images(self, images: np.ndarray, names: list[str]) -> None:
        """`images`: (k, h, w, 3) uint8, one per name."""
        self.plotItem.clear()
        for k, image in enumerate(images):
            item = pg.ImageItem(np.transpose(image, (1, 0, 2)), levels=(0, 255))
            item.setRect(QRectF(k - 0.45, -0.45, 0.9, 0.9))
            self.plotItem.addItem(item)
        _category_axis(self, [_abbrev(n) for n in names], "bottom")
        self.plotItem.setRange(xRange=(-0.5, len(images) - 0.5), yRange=(-0.5, 0.5), padding=0)
