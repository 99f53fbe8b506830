"""The Overview dock: the open folder as a whole (model/overview.py's numbers as charts), linked to
the grid: a click on a bar or cell asks the grid to show those chips (`show_rows`), and the
threshold line moves a tag's threshold in the review, live."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.overview_charts import (
    RGB_COLOURS,
    SOURCE_COLOURS,
    BarsChart,
    HeatmapChart,
    MeanImageStrip,
    ThresholdChart,
)
from gui.overview_colour import ColourSummary, ColourWorker
from model import overview
from model.chip_colours import ChipColours
from model.errors import ChipAuditError
from model.review import Review
from model.tags import TAG_INDEX, TAGS
from model.threshold_versions import save_review_thresholds
from model.versions import active_model
from model.wording import count

TAB_COUNTS, TAB_CO, TAB_COLOUR, TAB_THRESHOLDS, TAB_DISAGREE = range(5)
LABEL_SOURCES = {"crowd": "the crowd's labels", "now": "the labels now (your corrections in)"}
DISAGREE_COLOURS = {overview.YES_NO: (60, 120, 220), overview.NO_YES: (220, 70, 60)}


def _page(*widgets: QWidget, stretch_last: bool = True) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(4, 4, 4, 4)
    for k, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if stretch_last and k == len(widgets) - 1 else 0)
    return page


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return row


class OverviewDock(QDockWidget):
    show_rows = Signal(object, str)  # frozenset of review rows, what they are in words
    model_saved = Signal(object)  # Path of a model version just written
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Overview", parent)
        self.setObjectName("overview")
        self.review: Review | None = None
        self.frames: dict[str, pd.DataFrame] = {}
        self.images: ChipColours | None = None  # each chip small, once read
        self.worker: ColourWorker | None = None
        self.summary: ColourSummary | None = None
        self._summary_again = False
        self._stale: set[int] = set()  # tabs to redraw when next shown
        self._curve_stale = True  # the scores against threshold need computing again
        self._refresh_timer = QTimer(self, singleShot=True, interval=0)
        self._refresh_timer.timeout.connect(self.refresh)

        self.counts = BarsChart("Chips per tag", SOURCE_COLOURS)
        self.counts.chosen.connect(self._count_chosen)
        self.co_source = QComboBox(toolTip="Whose tags the matrix counts")
        for key, text in (("crowd", "crowd"), ("now", "now"), ("model", "model")):
            self.co_source.addItem(f"Tags: {text}", key)
        self.co_normalise = QCheckBox("Share of the row's tag")
        self.co_hover = QLabel("Hover a cell for its number; click it for those chips.")
        self.co = HeatmapChart("Chips with both tags", "tag", "with")
        self.co.chosen.connect(self._pair_chosen)
        self.co.hovered.connect(self.co_hover.setText)
        self.co_source.currentIndexChanged.connect(self._soon)
        self.co_normalise.toggled.connect(self._soon)
        self.colour = BarsChart("Mean colour of the chips with each tag", RGB_COLOURS)
        self.colour.chosen.connect(lambda tag, _c: self._tag_chosen("now", tag))
        self.strip = MeanImageStrip()
        self.colour_note = QLabel("")
        self.threshold_tag = QComboBox(toolTip="The tag whose threshold to move")
        self.threshold_tag.addItems(list(TAGS))
        self.threshold_labels = QComboBox(toolTip="What the scores are measured against")
        for key, text in LABEL_SOURCES.items():
            self.threshold_labels.addItem(f"against {text}", key)
        self.thresholds = ThresholdChart()
        self.thresholds.moved.connect(self._threshold_moved)
        self.threshold_note = QLabel()
        self.threshold_note.setWordWrap(True)
        self.reset_button = QPushButton("Card's value")
        self.reset_button.setToolTip("Put this tag's threshold back to the model card's")
        self.reset_button.clicked.connect(self._reset_threshold)
        self.save_button = QPushButton("Save thresholds…")
        self.save_button.setToolTip(
            "Write a new model version: the same weights, these thresholds (listed in Models;"
            " the model in use is never overwritten)"
        )
        self.save_button.clicked.connect(self.save_thresholds)
        self.threshold_tag.currentIndexChanged.connect(self._changed)
        self.threshold_labels.currentIndexChanged.connect(self._changed)
        self.weather = HeatmapChart(
            "Weather: the tag now (crowd's, corrected) by the model's call", "tag now", "model"
        )
        self.weather.chosen.connect(self._weather_chosen)
        self.land = BarsChart(
            "Land tags: where the model and the crowd (tags now) disagree",
            DISAGREE_COLOURS,
            {overview.YES_NO: "model yes, crowd no", overview.NO_YES: "model no, crowd yes"},
        )
        self.land.chosen.connect(self._land_chosen)

        self.tabs = QTabWidget()
        self.tabs.addTab(_page(self.counts), "Tag counts")
        self.tabs.addTab(
            _page(_row(self.co_source, self.co_normalise), self.co_hover, self.co), "Co-occurrence"
        )
        self.tabs.addTab(_page(self.colour_note, self.strip, self.colour), "Colour")
        controls = _row(self.threshold_tag, self.threshold_labels, self.reset_button)
        self.tabs.addTab(
            _page(controls, self.threshold_note, _row(self.save_button), self.thresholds),
            "Thresholds",
        )
        self.tabs.addTab(_page(self.weather, self.land, stretch_last=False), "Disagreements")
        self.tabs.currentChanged.connect(self._show_soon)
        self.setWidget(self.tabs)
        self.visibilityChanged.connect(lambda visible: visible and self._show_soon())

    def open(self) -> None:
        """Show it: the first time as a window of its own beside the main one (17x17 cells do
        not fit in a strip beside the chip); the user may dock it anywhere after."""
        if not self.isVisible() and not getattr(self, "_placed", False):
            self._placed = True
            self.setFloating(True)
            self.resize(1100, 800)
        self.show()
        self.raise_()

    # --- the review -----------------------------------------------------------------------
    def set_review(self, review: Review | None) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.summary is not None:
            self.summary.done.disconnect(self._colour_summed)
            self.summary.wait()
            self.summary = None
        if self.review is not None:
            for event in self._events(self.review):
                event.disconnect(self._changed)
            self.review.events.model.disconnect(self._thresholds_changed)
        self.review = review
        self.images = None
        self._curve_stale = True
        self.colour_note.setText("")
        if review is not None:
            for event in self._events(review):
                event.connect(self._changed)
            review.events.model.disconnect(self._changed)
            review.events.model.connect(self._thresholds_changed)
        self._soon()

    @staticmethod
    def _events(review: Review):
        e = review.events
        return (e.edited, e.predictions, e.reloaded, e.model, e.broken)

    def _changed(self, **_info) -> None:
        self._curve_stale = True
        self._soon()

    def _thresholds_changed(self, **_info) -> None:
        """A threshold moved (or the model changed, which also brings `predictions`): the
        scores against threshold stand; the calls and counts do not."""
        self._soon()

    def _soon(self, *_args) -> None:
        """Many notices in one pass of the event loop (a drag, a batch) make one redraw."""
        self._stale.update(range(self.tabs.count()))
        self._show_soon()

    def _show_soon(self, *_args) -> None:
        if self.isVisible():
            self._refresh_timer.start()

    def refresh(self) -> None:
        """Redraw the tab in view if the review changed since it was drawn; the others wait until
        they are shown (a threshold drag redraws one chart, not six)."""
        tab = self.tabs.currentIndex()
        if self.review is not None and tab in self._stale:
            self._stale.discard(tab)
            self._draw(tab)

    def draw_all(self) -> None:
        if self.review is not None:
            for tab in range(self.tabs.count()):
                self._draw(tab)
            self._stale.clear()

    def _draw(self, tab: int) -> None:
        review = self.review
        assert review is not None
        known = review.has_label & review.predicted
        sources = {"crowd": review.crowd_matrix, "now": review.current, "model": review.calls}
        if tab == TAB_COUNTS:
            self.frames["tag_counts"] = overview.tag_counts(**sources)
            self.counts.set_frame(self.frames["tag_counts"])
        elif tab == TAB_CO:
            co = overview.cooccurrence(sources[self.co_source.currentData()])
            share = self.co_normalise.isChecked()
            self.frames["cooccurrence"] = overview.row_normalised(co) if share else co
            self.co.set_frame(self.frames["cooccurrence"], as_share=share)
        elif tab == TAB_COLOUR:
            self._refresh_colour()
        elif tab == TAB_THRESHOLDS:
            self._refresh_thresholds(known)
        elif tab == TAB_DISAGREE:
            self.frames["weather_confusion"] = overview.weather_confusion(
                review.calls, review.current, known
            )
            self.weather.set_frame(self.frames["weather_confusion"])
            self.frames["land_disagreements"] = overview.land_disagreements(
                review.calls, review.current, known
            )
            self.land.set_frame(self.frames["land_disagreements"])

    def _refresh_thresholds(self, known: np.ndarray) -> None:
        review = self.review
        assert review is not None
        tag = self.threshold_tag.currentText()
        i = TAG_INDEX[tag]
        labels = self.threshold_labels.currentData()
        if self._curve_stale or "thresholds" not in self.frames:
            truth = (review.crowd_matrix if labels == "crowd" else review.current)[known, i]
            self.frames["thresholds"] = overview.threshold_curve(review.probs[known, i], truth)
            self._curve_stale = False
        curve = self.frames["thresholds"]
        self.thresholds.set_curve(
            curve,
            f"{tag}: scores on {count(int(known.sum()), 'labelled chip')}, "
            f"against {LABEL_SOURCES[labels]}",
        )
        value = float(review.thresholds[i])
        self.thresholds.set_threshold(value)
        card_value = review.card.thresholds.get(tag) if review.card else None
        called = int(review.calls[:, i].sum())
        at = curve.iloc[int(np.argmin(np.abs(curve["threshold"].to_numpy() - value)))]
        moved = review.moved_thresholds()
        self.threshold_note.setText(
            f"<b>{tag}</b> threshold {value:.2f}"
            + (f" (card: {card_value:.2f})" if card_value is not None else "")
            + f": the model calls it on {count(called, 'chip')}; on the labelled chips precision"
            f" {at['precision']:.2f}, recall {at['recall']:.2f}, F1 {at['f1']:.2f},"
            f" F2 {at['f2']:.2f}. Drag the black line to move it for this session"
            + (f"; moved: {', '.join(moved)}." if moved else ".")
        )
        self.save_button.setEnabled(bool(moved))
        self.reset_button.setEnabled(tag in moved)

    def _refresh_colour(self) -> None:
        review = self.review
        if review is None:
            return
        if self.images is None:
            if self.worker is None:
                self.worker = ColourWorker(list(review.paths), self)
                self.worker.progress.connect(
                    lambda done, total: self.colour_note.setText(
                        f"Reading each chip's colour: {done:,} of {total:,}…"
                    )
                )
                self.worker.done.connect(self._colours_read)
                self.worker.start()
            return
        if self.summary is not None:  # one at a time; the latest tags once it is done
            self._summary_again = True
            return
        self.summary = ColourSummary(review.current.copy(), self.images, self)
        self.summary.done.connect(self._colour_summed)
        self.summary.start()

    def _colour_summed(self, frame: pd.DataFrame, means: np.ndarray) -> None:
        self.summary.wait()
        self.summary = None
        self.frames["colour_per_tag"] = frame
        self.colour.set_frame(frame)
        self.strip.set_images(means, list(TAGS))
        if self._summary_again:
            self._summary_again = False
            self._refresh_colour()

    def _colours_read(self, colours: ChipColours) -> None:
        self.images, self.worker = colours, None
        broken = colours.broken
        unread = f"; {count(len(broken), 'chip')} could not be read" if broken else ""
        self.colour_note.setText(
            f"Mean colour of {count(int(colours.read.sum()), 'chip')}, by the tags now{unread}."
            " Click a bar for those chips."
        )
        self._soon()

    # --- clicks: those chips in the grid -----------------------------------------------
    def _offer(self, rows: np.ndarray, label: str) -> None:
        self.show_rows.emit(frozenset(int(r) for r in rows), f"{label} ({len(rows):,})")

    def _count_chosen(self, tag: str, source: str) -> None:
        self._tag_chosen(source, tag)

    def _tag_chosen(self, source: str, tag: str) -> None:
        if self.review is None:
            return
        matrix = {"crowd": self.review.crowd_matrix, "now": self.review.current}
        tags = matrix.get(source, self.review.calls)
        self._offer(overview.chips_with(tags, tag), f"{source}: {tag}")

    def _pair_chosen(self, tag: str, other: str) -> None:
        if self.review is None:
            return
        source = self.co_source.currentData()
        tags = {"crowd": self.review.crowd_matrix, "now": self.review.current}.get(
            source, self.review.calls
        )
        pair = tag if tag == other else f"{tag} + {other}"
        self._offer(overview.chips_with(tags, tag, other), f"{source}: {pair}")

    def _weather_chosen(self, crowd_tag: str, model_tag: str) -> None:
        review = self.review
        if review is None:
            return
        known = review.has_label & review.predicted
        rows = overview.chips_in_weather_cell(
            review.calls, review.current, known, crowd_tag, model_tag
        )
        self._offer(rows, f"crowd {crowd_tag}, model {model_tag}")

    def _land_chosen(self, tag: str, kind: str) -> None:
        review = self.review
        if review is None:
            return
        known = review.has_label & review.predicted
        rows = overview.chips_disagreeing(review.calls, review.current, known, tag, kind)
        words = "model yes, crowd no" if kind == overview.YES_NO else "model no, crowd yes"
        self._offer(rows, f"{tag}: {words}")

    # --- thresholds -----------------------------------------------------------------------
    def _threshold_moved(self, value: float) -> None:
        if self.review is not None and self.review.card is not None:
            self.review.set_threshold(self.threshold_tag.currentText(), round(value, 2))

    def _reset_threshold(self) -> None:
        review = self.review
        tag = self.threshold_tag.currentText()
        if review is not None and review.card is not None:
            review.set_threshold(tag, review.card.thresholds.get(tag, review.thresholds[0]))

    def save_thresholds(self) -> Path | None:
        """Write the review's thresholds as a new model version and say so; the window makes
        it the model in use (`model_saved`)."""
        if self.review is None:
            return None
        try:
            path = save_review_thresholds(self.review, active_model().path)
        except ChipAuditError as exc:
            self.message.emit(f"Thresholds not saved: {exc}")
            return None
        self.message.emit(f"Saved the thresholds as a new model version: {path}")
        self.model_saved.emit(path)
        return path

    # --- export ---------------------------------------------------------------------------
    def export_to(self, folder: str | Path) -> list[Path]:
        """Every chart as PNG and its numbers as CSV, in `folder`; returns the files written."""
        self.draw_all()
        folder = Path(folder)
        tag = self.threshold_tag.currentText()
        charts = {
            "tag_counts": self.counts,
            "cooccurrence": self.co,
            "colour_per_tag": self.colour,
            "weather_confusion": self.weather,
            "land_disagreements": self.land,
            "thresholds": self.thresholds,
        }
        written = []
        for name, chart in charts.items():
            frame = self.frames.get(name)
            if frame is None:
                continue  # colour per tag before the chips were read
            stem = f"thresholds_{tag}" if name == "thresholds" else name
            overview.write_csv(frame, folder / f"{stem}.csv")
            chart.export_png(folder / f"{stem}.png")
            written += [folder / f"{stem}.csv", folder / f"{stem}.png"]
        return written

    def shutdown(self) -> None:
        self.set_review(None)
