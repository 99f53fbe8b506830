"""The selected chip, large: a zoomable image (true colour, or NIR false colour for 4-band
TIFFs; where the model looks laid over it on demand) and, for each tag, the crowd's label, the
model's probability against its threshold, the model's call and the reviewer's decision."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSplitter,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.actions import TAG_KEYS
from model.chips import decode_rgb, is_tiff, read_bands, tiff_false_colour, tiff_rgb
from model.errors import ChipAuditError
from model.review import Review
from model.tags import TAGS
from model.trust import WEAK_F1, tag_trust

PROB_ROLE = Qt.ItemDataRole.UserRole + 10
THRESH_ROLE = Qt.ItemDataRole.UserRole + 11
MODEL_YES = QColor(70, 130, 230, 70)  # model says yes, crowd says no
MODEL_NO = QColor(230, 80, 60, 70)  # model says no, crowd says yes
COLUMNS = ("Key", "Tag", "Crowd", "Model probability", "Model", "Now")
ROW_HEIGHT = 22
LEGEND = (
    "<b>Bar</b>: the model's probability, blue at or above the tag's threshold (the black"
    " tick), grey below; <b>Model</b> is the call that makes. <b>Blue row</b>: the model says"
    " yes, the tags now say no. <b>Red row</b>: the model says no, the tags now say yes."
    " <b>✎</b>: you changed it from the crowd's. <b>⚠</b>: a tag the model is weak on"
    f" (validation F1 under {WEAK_F1}): its silence there means little. <b>–</b> in Crowd: no"
    " label;"
    " <b>…</b> in Model: not predicted yet; <b>✗</b>: the chip cannot be read.<br>"
    "Keys toggle tags; Shift+key takes the model's call; Space marks reviewed; F1 lists all."
)


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


def heat_over(rgb: np.ndarray, heat: np.ndarray | None) -> np.ndarray:
    """The chip with a map in [0, 1] laid over it in red, half see-through where it is 1."""
    if heat is None or heat.shape != rgb.shape[:2]:
        return rgb
    alpha = 0.55 * heat[..., None]
    red = np.array([255.0, 40.0, 0.0])
    return np.ascontiguousarray((rgb * (1 - alpha) + red * alpha).astype(np.uint8))


class ProbabilityDelegate(QStyledItemDelegate):
    """A bar for the probability, a tick at the tag's threshold."""

    def paint(self, painter: QPainter, option, index) -> None:
        prob = index.data(PROB_ROLE)
        thresh = index.data(THRESH_ROLE)
        painter.save()
        r = option.rect.adjusted(4, 6, -50, -6)
        palette = option.palette
        painter.fillRect(r, palette.color(QPalette.ColorRole.AlternateBase))
        if prob is not None:
            above = thresh is not None and prob >= thresh
            colour = palette.color(QPalette.ColorRole.Highlight) if above else QColor(150, 150, 150)
            painter.fillRect(QRect(r.x(), r.y(), int(r.width() * prob), r.height()), colour)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            painter.drawText(
                option.rect.adjusted(0, 0, -4, 0),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{prob:.3f}",
            )
        if thresh is not None:
            x = r.x() + int(r.width() * thresh)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Text), 2))
            painter.drawLine(x, r.y() - 3, x, r.bottom() + 3)
        painter.restore()


class ChipImage(QScrollArea):
    """The chip at a zoom factor; Ctrl+wheel or +/- zoom, 0 fits."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.setWidget(self.label)
        self.setWidgetResizable(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pixmap: QPixmap | None = None
        self.zoom = 0.0  # 0 means fit to the view

    def set_pixmap(self, pixmap: QPixmap | None, message: str = "") -> None:
        self.pixmap = pixmap
        if pixmap is None:
            self.label.setPixmap(QPixmap())
            self.label.setText(message)
        self._render()

    def set_zoom(self, zoom: float) -> None:
        self.zoom = max(0.0, min(zoom, 16.0))
        self._render()

    def zoom_by(self, factor: float) -> None:
        current = self.zoom or self._fit_factor()
        self.set_zoom(current * factor)

    def _fit_factor(self) -> float:
        if not self.pixmap or self.pixmap.isNull():
            return 1.0
        size = self.viewport().size()
        return max(
            0.1, min(size.width() / self.pixmap.width(), size.height() / self.pixmap.height())
        )

    def _render(self) -> None:
        if not self.pixmap or self.pixmap.isNull():
            return
        factor = self.zoom or self._fit_factor()
        self.label.setText("")
        self.label.setPixmap(
            self.pixmap.scaled(
                self.pixmap.size() * factor,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation
                if factor >= 2
                else Qt.TransformationMode.SmoothTransformation,
            )
        )

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.zoom == 0.0:
            self._render()

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(1.25 if event.angleDelta().y() > 0 else 0.8)
            event.accept()
        else:
            super().wheelEvent(event)


class DetailPanel(QWidget):
    """Shows one chip; a click in the "Now" column asks to toggle that tag."""

    toggle_requested = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.review: Review | None = None
        self.row: int | None = None
        self.selected = 1  # how many chips the grid has selected
        self._bands: np.ndarray | None = None  # a TIFF's bands
        self._rgb: np.ndarray | None = None  # a JPEG's or PNG's true colour
        self._shown: np.ndarray | None = None  # a TIFF's colours in the current view mode
        self._error = ""  # why the chip cannot be shown

        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)  # a long status must wrap, never hide behind a control
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.view_mode = QComboBox()
        self.view_mode.addItems(["True colour", "NIR false colour"])
        self.view_mode.setToolTip("4-band TIFFs: near-infrared, red, green as R, G, B")
        self.view_mode.currentIndexChanged.connect(self._show_image)
        self.image = ChipImage()
        self.image.setMinimumSize(200, 200)
        self.overlay: np.ndarray | None = None  # (h, w) in [0, 1]: where the model looks
        self.overlay_note = QLabel()
        self.overlay_note.setWordWrap(True)
        self.violations = QLabel()
        self.violations.setWordWrap(True)
        self.violations.setStyleSheet("color: rgb(200, 100, 0); font-weight: bold;")

        self.table = QTableWidget(len(TAGS), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setItemDelegateForColumn(3, ProbabilityDelegate(self.table))
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.table.cellClicked.connect(self._clicked)
        for r, tag in enumerate(TAGS):
            self.table.setItem(r, 0, QTableWidgetItem(TAG_KEYS[tag]))
            self.table.setItem(r, 1, QTableWidgetItem(tag))
            for c in range(2, len(COLUMNS)):
                item = QTableWidgetItem()
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(r, c, item)
        height = ROW_HEIGHT * len(TAGS) + self.table.horizontalHeader().sizeHint().height() + 6
        self.table.setFixedHeight(height)  # all 17 tags always in view, never a scroll bar
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setMinimumWidth(440)
        self.legend = QLabel(LEGEND)
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)

        # The chip beside its tags, not above them: the image takes the panel's full height.
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.view_mode, 0, Qt.AlignmentFlag.AlignLeft)
        left_layout.addWidget(self.image, 1)
        left_layout.addWidget(self.overlay_note)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.violations)
        right_layout.addWidget(self.table)
        right_layout.addWidget(self.legend)
        right_layout.addStretch(1)
        self.body = QSplitter(Qt.Orientation.Horizontal)
        self.body.addWidget(left)
        self.body.addWidget(right)
        self.body.setStretchFactor(0, 1)
        self.body.setStretchFactor(1, 0)
        self.body.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.body, 1)

    def show_chip(self, review: Review | None, row: int | None) -> None:
        changed_chip = row != self.row or review is not self.review
        self.review, self.row = review, row
        if review is None or row is None:
            self.title.setText("No chip selected")
            self._bands = self._rgb = self._shown = None
            self.image.set_pixmap(None, "")
            self._fill_table()
            return
        if changed_chip:
            self.overlay = None
            self.overlay_note.setText("")
            self._load_image()
        self._fill_table()

    def _load_image(self) -> None:
        assert self.review is not None and self.row is not None
        path = self.review.paths[self.row]
        self._bands, self._rgb, self._error = None, None, ""
        self.view_mode.setEnabled(False)
        try:
            if is_tiff(path):
                self._bands = read_bands(path)
                self.view_mode.setEnabled(self._bands.shape[2] >= 4)
            else:
                self._rgb = decode_rgb(path)
        except ChipAuditError as exc:
            self._bands, self._error = None, getattr(exc, "reason", str(exc))
            self.review.mark_broken(path.stem, self._error)
        self._show_image()

    def shown_rgb(self) -> np.ndarray | None:
        """The chip as the panel shows it, (h, w, 3) uint8 without the overlay: the true colour
        of a JPEG or PNG, a TIFF's true colour (the shipped curves) or its NIR false colour.
        None when no chip is shown or it cannot be read."""
        if self._bands is None:
            return self._rgb
        if self._shown is None:  # a TIFF's colours, worked out once per chip and view mode
            nir = self.view_mode.currentIndex() == 1 and self._bands.shape[2] >= 4
            self._shown = tiff_false_colour(self._bands) if nir else tiff_rgb(self._bands)
        return self._shown

    def _show_image(self) -> None:
        self._shown = None
        self._redraw()

    def _redraw(self) -> None:
        rgb = self.shown_rgb()
        if rgb is not None:
            self.image.set_pixmap(rgb_to_pixmap(heat_over(rgb, self.overlay)))
        elif self.row is None:
            self.image.set_pixmap(None, "")
        else:
            self.image.set_pixmap(None, f"Cannot show this chip: {self._error}")

    def set_overlay(self, heat: np.ndarray | None, note: str = "") -> None:
        """Show (or, with None, hide) a map of where the model looks, over the chip as shown
        (`shown_rgb`: heat is at its height and width)."""
        self.overlay = heat
        self.overlay_note.setText(note)
        self._redraw()

    def _fill_table(self) -> None:
        chip = None
        if self.review is not None and self.row is not None:
            chip = self.review.chip(self.row)
        palette = self.palette()
        trust = tag_trust(self.review.card if self.review is not None else None)
        for r, tag in enumerate(TAGS):
            items = [self.table.item(r, c) for c in range(len(COLUMNS))]
            known = trust.get(tag)
            items[1].setText(tag + (" ⚠" if known is not None and known.weak else ""))
            items[1].setToolTip(known.describe(tag) if known else "no validation figures")
            for item in items:
                item.setBackground(palette.color(QPalette.ColorRole.Base))
            if chip is None:
                for item in items[2:]:
                    item.setText("")
                    item.setData(PROB_ROLE, None)
                continue
            crowd = tag in chip.crowd
            predicted = chip.probs is not None
            call = bool(chip.calls[r])
            now = bool(chip.now[r])
            items[2].setText(("yes" if crowd else "·") if chip.crowd_known else "–")
            items[3].setData(PROB_ROLE, float(chip.probs[r]) if predicted else None)
            items[3].setData(THRESH_ROLE, float(chip.thresholds[r]))
            items[3].setToolTip(
                f"probability {float(chip.probs[r]):.3f}, threshold {float(chip.thresholds[r]):.3f}"
                if predicted
                else f"threshold {float(chip.thresholds[r]):.3f}"
            )
            items[4].setText(
                ("yes" if call else "·") if predicted else ("✗" if chip.broken else "…")
            )
            changed = chip.crowd_known and now != crowd or not chip.crowd_known and now
            items[5].setText(("yes" if now else "·") + (" ✎" if changed else ""))
            items[5].setToolTip(
                "changed from the crowd's label" if changed else "click or press the key to change"
            )
            if predicted and chip.crowd_known and call != now:
                colour = MODEL_YES if call else MODEL_NO
                for item in items:
                    item.setBackground(colour)
        if chip is None:
            self.violations.setText("")
            return
        status = []
        if chip.reviewed:
            status.append("reviewed")
        if chip.changed:
            status.append("changed")
        if chip.broken:
            status.append("cannot be read")
        if self.selected > 1:  # a key will change all of them: say so where the eyes are
            status.append(f"keys act on all {self.selected} selected chips")
        self.title.setText(chip.name + (f"  ({', '.join(status)})" if status else ""))
        problems = chip.violations
        self.violations.setText("Rule broken: " + "; ".join(problems) if problems else "")

    def set_selected_count(self, count: int) -> None:
        if count != self.selected:
            self.selected = count
            if self.review is not None:
                self._fill_table()

    def _clicked(self, r: int, c: int) -> None:
        if c in (1, 5) and self.row is not None:
            self.toggle_requested.emit(TAGS[r])

    def zoom_in(self) -> None:
        self.image.zoom_by(1.25)

    def zoom_out(self) -> None:
        self.image.zoom_by(0.8)

    def zoom_fit(self) -> None:
        self.image.set_zoom(0.0)
