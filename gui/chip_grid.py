"""The grid of chips: a virtual list model over the review's display order, and a delegate that
paints each thumbnail with its badges. Only visible rows are asked for, so a folder of 40,000
chips costs no more to show than a folder of 40."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from gui.workers import ThumbnailLoader
from model.audit import LEVEL_MEANINGS
from model.review import Review

ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the chip's index in the review
BADGE_ROLE = Qt.ItemDataRole.UserRole + 2

DISAGREE = QColor(230, 80, 60)
VIOLATION = QColor(240, 170, 0)
REVIEWED = QColor(60, 170, 90)
CHANGED = QColor(70, 130, 230)


def contiguous_runs(sorted_positions: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 8] -> [(1, 3), (7, 8)]: first and last of each run of adjacent integers."""
    runs: list[tuple[int, int]] = []
    for k in sorted_positions:
        if runs and k <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(k, runs[-1][1]))
        else:
            runs.append((k, k))
    return runs


def _positions(order: np.ndarray, n: int) -> np.ndarray:
    """Grid position of each review row (-1 where the filter hides it): a lookup array, not a
    dict, so that re-sorting 36,000 chips costs no Python loop."""
    positions = np.full(n, -1, dtype=np.int64)
    positions[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    return positions


class ChipListModel(QAbstractListModel):
    def __init__(self, review: Review, thumbnails: ThumbnailLoader) -> None:
        super().__init__()
        self.review = review
        self.thumbnails = thumbnails
        self.order = np.arange(len(review.names))
        self.position = _positions(self.order, len(review.names))
        thumbnails.ready.connect(self._thumbnail_ready)

    def set_order(self, order: np.ndarray) -> None:
        self.beginResetModel()
        self.order = order
        self.position = _positions(order, len(self.review.names))
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.order)

    def review_row(self, index: QModelIndex) -> int:
        return int(self.order[index.row()])

    def index_of(self, review_row: int) -> QModelIndex:
        k = int(self.position[review_row]) if 0 <= review_row < len(self.position) else -1
        return QModelIndex() if k < 0 else self.index(k, 0)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        i = int(self.order[index.row()])
        name = self.review.names[i]
        if role == Qt.ItemDataRole.DisplayRole:
            return name
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnails.get(name, self.review.paths[i])
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(i)
        if role == ROW_ROLE:
            return i
        if role == BADGE_ROLE:
            return self._badge(i)
        return None

    def _badge(self, i: int) -> dict[str, bool | int]:
        badges = self.review.badges()  # cached by the review until something changes
        name = self.review.names[i]
        return {
            "disagree": bool(badges.disagree[i]),
            "suspicion": int(badges.suspicion[i]),
            "violation": bool(badges.violation[i]),
            "reviewed": bool(badges.reviewed[i]),
            "changed": bool(badges.changed[i]),
            "broken": bool(badges.broken[i]) or name in self.thumbnails.broken,
        }

    def _tooltip(self, i: int) -> str:
        chip = self.review.chip(i)
        reason = chip.broken or self.thumbnails.broken.get(chip.name)
        if reason:
            return f"{chip.name}: cannot be read ({reason})"
        lines = [chip.name, "tags: " + (" ".join(chip.tags_now) or "(none)")]
        level = int(self.review.badges().suspicion[i])
        if level:
            lines.append("suspect: " + LEVEL_MEANINGS[level])
        lines.extend("rule: " + v for v in chip.violations)
        return "\n".join(lines)

    def refresh_rows(self, rows: list[int] | None = None) -> None:
        """Badges may have changed (new predictions, an edit): repaint these rows, or all."""
        if rows is None or len(rows) > 200:
            if len(self.order):
                self.dataChanged.emit(self.index(0), self.index(len(self.order) - 1))
            return
        # One signal per run of adjacent grid positions: a batch of predictions in folder order
        # is usually one run, not one emit per chip.
        found = self.position[np.asarray(rows, dtype=np.int64)] if len(rows) else np.zeros(0, int)
        positions = sorted(int(k) for k in found if k >= 0)
        for first, last in contiguous_runs(positions):
            self.dataChanged.emit(self.index(first), self.index(last))

    def _thumbnail_ready(self, name: str) -> None:
        i = self.review.index.get(name)
        if i is not None:
            index = self.index_of(i)
            if index.isValid():
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


class ChipDelegate(QStyledItemDelegate):
    """Thumbnail, name, and corner badges: suspicion level, rule broken, reviewed, changed,
    broken."""

    def __init__(self, thumb: int, parent=None) -> None:
        super().__init__(parent)
        self.thumb = thumb

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(self.thumb + 12, self.thumb + 28)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        palette = option.palette
        rect = option.rect
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
            text_colour = palette.color(QPalette.ColorRole.HighlightedText)
        else:
            text_colour = palette.color(QPalette.ColorRole.Text)
        image_rect = QRect(rect.x() + 6, rect.y() + 4, self.thumb, self.thumb)
        image = index.data(Qt.ItemDataRole.DecorationRole)
        badge = index.data(BADGE_ROLE) or {}
        if badge.get("broken"):
            painter.fillRect(image_rect, palette.color(QPalette.ColorRole.Mid))
            painter.setPen(QPen(DISAGREE, 3))
            painter.drawLine(image_rect.topLeft(), image_rect.bottomRight())
            painter.drawLine(image_rect.topRight(), image_rect.bottomLeft())
        elif image is not None and not image.isNull():
            painter.drawImage(image_rect, image)
        else:
            painter.fillRect(image_rect, palette.color(QPalette.ColorRole.AlternateBase))
        self._badges(painter, image_rect, badge)
        painter.setPen(text_colour)
        text_rect = QRect(rect.x() + 2, image_rect.bottom() + 2, rect.width() - 4, 20)
        name = painter.fontMetrics().elidedText(
            str(index.data(Qt.ItemDataRole.DisplayRole)),
            Qt.TextElideMode.ElideMiddle,
            text_rect.width(),
        )
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        painter.restore()

    def _badges(self, painter: QPainter, r: QRect, badge: dict) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        d = max(10, self.thumb // 7)
        painter.setPen(QPen(QColor(255, 255, 255), 1.5))
        level = int(badge.get("suspicion", 0))
        if level:  # how suspect the crowd's tags are: a ring, a dot, a large dot
            size = d if level < 3 else d + 6
            painter.setBrush(Qt.BrushStyle.NoBrush if level == 1 else DISAGREE)
            if level == 1:
                painter.setPen(QPen(DISAGREE, 3))
            painter.drawEllipse(r.right() - size - 2, r.top() + 2, size, size)
            painter.setPen(QPen(QColor(255, 255, 255), 1.5))
        if badge.get("violation"):
            painter.setBrush(VIOLATION)
            painter.drawRect(r.right() - 2 * d - 12, r.top() + 2, d, d)
        if badge.get("reviewed"):
            painter.setBrush(REVIEWED)
            painter.drawEllipse(r.left() + 2, r.top() + 2, d, d)
        if badge.get("changed"):
            painter.setBrush(CHANGED)
            painter.drawRect(r.left() + 2, r.bottom() - d - 2, d, d)


GRID_LEGEND = (
    f"<span style='color:{DISAGREE.name()}'>○</span> low, "
    f"<span style='color:{DISAGREE.name()}'>●</span> medium, "
    f"<span style='color:{DISAGREE.name()}; font-size:large'>●</span> high: how likely the"
    " crowd's tags are wrong (hover for the odds) · "
    f"<span style='color:{VIOLATION.name()}'>■</span> rule broken · "
    f"<span style='color:{REVIEWED.name()}'>●</span> reviewed · "
    f"<span style='color:{CHANGED.name()}'>■</span> changed · ✕ unreadable"
)


def make_grid_view(thumb: int) -> QListView:
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setUniformItemSizes(True)  # lets Qt lay out 40,000 items without asking each one
    view.setLayoutMode(QListView.LayoutMode.Batched)
    view.setBatchSize(500)
    view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
    view.setItemDelegate(ChipDelegate(thumb, view))
    view.setSpacing(2)
    return view
