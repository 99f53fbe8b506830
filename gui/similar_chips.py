"""The "Chips like this one" panel: the current chip's most alike chips (model/similar_chips.py)
with their tags; a click goes to one, a button filters the grid to chips like the selection."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.workers import ThumbnailLoader
from model.review import Review
from model.similar_chips import SimilarChip, similar_chips, tag_counts

ICON = 64


class SimilarChipsPanel(QWidget):
    chip_chosen = Signal(int)  # review row of the chip clicked
    like_requested = Signal()  # "show chips like the selected ones"

    def __init__(self, thumbnails: ThumbnailLoader) -> None:
        super().__init__()
        self.thumbnails = thumbnails
        self.review: Review | None = None
        self.row: int | None = None
        self.chips: list[SimilarChip] = []
        self.title = QLabel("<b>Chips like this one</b>")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        # Why the chip's tags are suspect, by the model and by these chips (Review.explain).
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setTextFormat(Qt.TextFormat.RichText)
        self.list = QListWidget()
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setWordWrap(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the review keys stay on the grid
        self.list.itemActivated.connect(self._chosen)
        self.list.itemClicked.connect(self._chosen)
        self.like = QPushButton("Show chips like these")
        self.like.setToolTip("Show only the selected chips and the chips most like them")
        self.like.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.like.setToolTip("Filter the grid to the selected chips and their most alike chips")
        self.like.clicked.connect(self.like_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.why)
        layout.addWidget(self.summary)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.like)
        thumbnails.ready.connect(self._thumbnail_ready)
        self._wanted: tuple[Review | None, int | None] = (None, None)
        self._fill_soon = QTimer(self, singleShot=True, interval=0)
        self._fill_soon.timeout.connect(self._fill)

    def show_chip(self, review: Review | None, row: int | None) -> None:
        """Show the chips like `row` on the next turn of the event loop: the search (a product
        with every chip's features) then runs apart from what changed the current chip (a
        re-sort of 36,000 chips, say), and a key held down searches once, where it stops."""
        self._wanted = (review, row)
        self._fill_soon.start()

    def _fill(self) -> None:
        review, row = self._wanted
        self.review, self.row = review, row
        self.list.clear()
        self.chips = [] if review is None or row is None else similar_chips(review, row)
        if review is None or row is None:
            self.summary.setText("")
        elif not self.chips:
            self.summary.setText("Known once the model has seen this chip.")
        else:
            self.summary.setText(f"Tagged: {tag_counts(self.chips)}")
        reasons = {} if review is None or row is None else review.explain(row)
        self.why.setText(
            "<b>Suspect:</b><br>" + "<br>".join(f"{t}: {why}" for t, why in reasons.items())
            if reasons
            else ""
        )
        for chip in self.chips:
            tags = " ".join(chip.tags) if chip.labelled or chip.tags else "(no label)"
            item = QListWidgetItem(f"{chip.name}  ({chip.similarity:.3f})\n{tags}")
            item.setData(Qt.ItemDataRole.UserRole, chip.row)
            image = self.thumbnails.get(chip.name, review.paths[chip.row])
            if image is not None:
                item.setIcon(QIcon(QPixmap.fromImage(image)))
            self.list.addItem(item)

    def shown_names(self) -> list[str]:
        return [c.name for c in self.chips]

    def _chosen(self, item: QListWidgetItem) -> None:
        self.chip_chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _thumbnail_ready(self, name: str) -> None:
        for k, chip in enumerate(self.chips):
            if chip.name == name:
                image = self.thumbnails.cache.get(name)
                if image is not None:
                    self.list.item(k).setIcon(QIcon(QPixmap.fromImage(image)))
