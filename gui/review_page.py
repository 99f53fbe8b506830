"""The review page: filter bar, chip grid and detail panel, wired to one Review."""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.chip_grid import GRID_LEGEND, ChipListModel, make_grid_view
from gui.detail_panel import DetailPanel
from gui.filter_bar import FilterBar
from gui.similar_chips import SimilarChipsPanel
from gui.workers import ThumbnailLoader
from model.errors import ChipAuditError
from model.events import Event
from model.review import ChipQuery, Review
from model.session import REVIEWED, Change

THUMB = 96
LOOK_ALIKES_INLINE = 3000  # chips; above this the look-alike search runs on another thread


def describe(changes: list[Change], names: list[str], rows: list[int]) -> str:
    """What an edit did, for the status bar: "haze on, clear off (train_3)"."""
    if not changes:
        return "nothing to change"
    done = sorted({(c.tag, c.new) for c in changes})
    words = [
        ("reviewed" if new else "not reviewed")
        if tag == REVIEWED
        else f"{tag} {'on' if new else 'off'}"
        for tag, new in done
    ]
    what = ", ".join(words[:4]) + (" …" if len(words) > 4 else "")
    return f"{what} ({which_chips(names, rows)})"


def which_chips(names: list[str], rows: list[int]) -> str:
    """The chip's name, or how many chips: "train_3", "12 chips"."""
    return names[rows[0]] if len(rows) == 1 else f"{len(rows)} chips"


class NoticeBar(QFrame):
    """A one-line notice with optional buttons, above the grid (e.g. which labels are in use)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.buttons = QHBoxLayout()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.text, 1)
        layout.addLayout(self.buttons)
        self.hide()

    def show_notice(self, text: str, actions: list[tuple[str, Callable[[], None]]] = ()) -> None:
        while self.buttons.count():
            widget = self.buttons.takeAt(0).widget()
            if widget:
                widget.deleteLater()
        self.text.setText(text)
        for label, callback in actions:
            button = QPushButton(label)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(callback)
            self.buttons.addWidget(button)
        close = QPushButton("×")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.setFixedWidth(28)
        close.clicked.connect(self.hide)
        self.buttons.addWidget(close)
        self.show()


class ReviewPage(QWidget):
    """Shows one review and forwards the user's edits to it. Redraws on the review's own change
    notices: an edit here, a decision from another window, predictions arriving."""

    message = Signal(str)  # one line for the status bar: what an action just did
    edit_failed = Signal(str)  # an edit the session file refused: nothing was kept
    shown_changed = Signal(int)  # how many chips the grid shows (the filter's result)
    _look_alikes_found = Signal(object)  # the review whose look-alike search ended (any thread)
    review_set = Signal(object)  # the Review now shown (None: none), for views beside the page
    current_changed = Signal(object)  # the current chip's review row (None: none)

    def __init__(self) -> None:
        super().__init__()
        self.review: Review | None = None
        self.model: ChipListModel | None = None
        self.thumbnails = ThumbnailLoader(THUMB, parent=self)
        self.notice = NoticeBar()
        self.filters = FilterBar()
        self.grid = make_grid_view(THUMB)
        self.detail = DetailPanel()
        self.detail.toggle_requested.connect(self.toggle_tag)
        self.similar = SimilarChipsPanel(self.thumbnails)
        self.similar.chip_chosen.connect(self.go_to_row)
        self.similar.like_requested.connect(lambda: self.filters.set_like(self.selected_rows()))
        self.filters.changed.connect(self.apply_query)
        # Enter or Escape in the name filter hands the keyboard back to the grid, where the
        # review keys work.
        self.filters.search.returnPressed.connect(self.grid.setFocus)
        back = QAction(self.filters.search)
        back.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        back.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        back.triggered.connect(self.grid.setFocus)
        self.filters.search.addAction(back)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.filters)
        left_layout.addWidget(self.grid, 1)
        legend = QLabel(GRID_LEGEND)
        legend.setWordWrap(True)
        legend.setTextFormat(Qt.TextFormat.RichText)
        left_layout.addWidget(legend)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.detail)
        self.splitter.addWidget(self.similar)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setStretchFactor(2, 1)
        # Never squeezed away, also where a layout saved before this panel existed is restored.
        self.similar.setMinimumWidth(170)
        self.splitter.setCollapsible(2, False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter, 1)
        self._searching: Review | None = None  # a look-alike search running for this review
        self._look_alikes_found.connect(self._look_alikes_done)
        self._requery = QTimer(self, singleShot=True, interval=150)
        self._requery.timeout.connect(self._resort)
        self._position_timer = QTimer(self, singleShot=True, interval=500)
        self._position_timer.timeout.connect(self._keep_position)
        self._placeholder_row: int | None = None

    # --- review ---------------------------------------------------------------------------
    def set_review(self, review: Review) -> None:
        if self._position_timer.isActive():  # the last position in the folder left
            self._position_timer.stop()
            self._keep_position()
        self._unsubscribe()
        self.review = review
        self.thumbnails.clear()
        self.model = ChipListModel(review, self.thumbnails)
        self.grid.setModel(self.model)
        self.grid.selectionModel().currentChanged.connect(self._on_current)
        self.grid.selectionModel().selectionChanged.connect(
            lambda *_: self.detail.set_selected_count(len(self.selected_rows()))
        )
        self.model.set_order(review.query(self.filters.query()))
        self.shown_changed.emit(len(self.model.order))
        position = review.position
        start = review.row_of(position) if position else None
        first = int(self.model.order[0]) if len(self.model.order) else None
        self.select_row(start if start is not None else first)
        # A first visit starts on whatever sorts first before predictions exist; once they do,
        # the re-sort moves to the top suspect unless the reviewer has gone elsewhere.
        self._placeholder_row = first if start is None else None
        for event, handler in self._subscriptions(review):
            event.connect(handler)
        self.review_set.emit(review)
        self.current_changed.emit(self.current_row())

    def describe_labels(
        self, tiffs: str, choose: Callable[[], None], use_none: Callable[[], None]
    ) -> None:
        """The notice above the grid: which labels are in use (with the ways to change that),
        and what the model's calls on TIFFs are worth."""
        review = self.review
        if review is None:
            return
        if review.labels_path is None:
            text = "No labels: triage mode. The model's tags are shown; press the tag keys to tag"
            text += " chips yourself."
            buttons = [("Open labels CSV…", choose)]
        else:
            how = "Found and using" if review.labels_found else "Using"
            text = f"{how} {review.labels_summary()}."
            buttons = [("Choose another…", choose), ("Use no labels", use_none)]
        self.notice.show_notice(text + (f" {tiffs}" if tiffs else ""), buttons)

    def _subscriptions(self, review: Review) -> list[tuple[Event, Callable[..., None]]]:
        """What this page listens to on a review: connected once, disconnected alike."""
        events = review.events
        return [
            (events.edited, self._rows_changed),
            (events.predictions, self._predictions_changed),
            (events.broken, self._rows_changed),
            (events.reloaded, self._everything_changed),
            (events.model, self._model_changed),
        ]

    def _unsubscribe(self) -> None:
        if self.review is None:
            return
        for event, handler in self._subscriptions(self.review):
            event.disconnect(handler)

    def _rows_changed(self, rows: list[int], **_info) -> None:
        if self.model is not None:
            self.model.refresh_rows(rows)
        current = self.current_row()
        if current is not None and current in set(rows):
            self.detail.show_chip(self.review, current)
            self.similar.show_chip(self.review, current)

    def _predictions_changed(self, rows: list[int]) -> None:
        self._rows_changed(rows)
        # Re-sorting 36,000 chips resets the grid: not on every batch of a run (the window
        # asks once the run ends), only when every chip changed at once (another model).
        if self.review is not None and len(rows) == len(self.review):
            self.requery_soon()

    def _everything_changed(self) -> None:
        if self.model is not None:
            self.model.refresh_rows(None)
        self.detail.show_chip(self.review, self.current_row())
        self.similar.show_chip(self.review, self.current_row())

    def _model_changed(self, card) -> None:
        # Every chip's marks may have changed (another model, a threshold dragged): repaint the
        # chips on screen, which read their marks as they paint. A dataChanged over 36,000 rows
        # costs Qt a rowCount call per row, 50 ms a step of a threshold drag.
        self.grid.viewport().update()
        self.detail.show_chip(self.review, self.current_row())
        self.requery_soon()

    def apply_query(self, query: ChipQuery, go_to_first: bool = False) -> None:
        """Show the chips the query keeps, in its order; stay on the current chip where it is
        still shown (unless `go_to_first`), else go to the first."""
        if self.review is None or self.model is None:
            return
        big = len(self.review) > LOOK_ALIKES_INLINE
        if query.kind == "near_duplicates" and big and not self.review.look_alikes_ready():
            self._find_look_alikes()
            return  # applied when the search is done
        current = self.current_row()
        self.model.set_order(self.review.query(query))
        self.shown_changed.emit(len(self.model.order))
        if not go_to_first and current is not None and self.model.index_of(current).isValid():
            self.select_row(current)
        elif len(self.model.order):
            self.select_row(int(self.model.order[0]))
        else:
            self.detail.show_chip(self.review, None)
            self.similar.show_chip(self.review, None)

    def _find_look_alikes(self) -> None:
        """The look-alike search takes minutes on a big folder: on another thread, with word of
        it in the status bar; the filter applies when it is done (if still chosen)."""
        review = self.review
        if review is None or self._searching is review:
            return
        self._searching = review
        self.message.emit(
            f"Finding look-alikes among {len(review):,} chips (a minute or two on a big folder);"
            " the filter applies when done."
        )
        threading.Thread(
            target=lambda: (review.find_look_alikes(), self._look_alikes_found.emit(review)),
            name="look-alikes",
            daemon=True,
        ).start()

    def _look_alikes_done(self, review: Review) -> None:
        if review is self.review and self._searching is review:
            self._searching = None
            self.apply_query(self.filters.query())

    def requery_soon(self) -> None:
        self._requery.start()

    def requery_pending(self) -> bool:
        return self._requery.isActive()

    def _keep_position(self) -> None:
        row = self.current_row()
        if self.review is not None and row is not None:
            self.review.position = self.review.names[row]

    def close_review(self) -> None:
        """Let go of the review (the window is closing): nothing pending may reach it."""
        if self._position_timer.isActive():
            self._position_timer.stop()
            self._keep_position()
        self._requery.stop()
        self._unsubscribe()
        self.review = None
        self.detail.show_chip(None, None)
        self.similar.show_chip(None, None)
        self.review_set.emit(None)

    def _resort(self) -> None:
        placeholder, self._placeholder_row = self._placeholder_row, None
        # Once: selecting the old chip and then the top one cost two similar-chip searches.
        on_placeholder = placeholder is not None and self.current_row() == placeholder
        self.apply_query(self.filters.query(), go_to_first=on_placeholder)

    def shown_rows(self) -> list[int]:
        """The review rows the grid shows, in its order."""
        return [] if self.model is None else [int(i) for i in self.model.order]

    def current_row(self) -> int | None:
        if self.model is None:
            return None
        index = self.grid.currentIndex()
        return self.model.review_row(index) if index.isValid() else None

    def selected_rows(self) -> list[int]:
        """The multi-selection, or the current chip alone."""
        if self.model is None:
            return []
        rows = sorted(
            {self.model.review_row(i) for i in self.grid.selectionModel().selectedIndexes()}
        )
        current = self.current_row()
        if current is not None and current not in rows:
            rows.insert(0, current)
        elif current is not None:
            rows.remove(current)
            rows.insert(0, current)  # the current chip decides what a toggle means
        return rows

    def select_rows(self, rows: list[int]) -> None:
        """Select these chips in the grid (the first becomes current), showing every chip first
        where the filter hides some: the tag keys then act on all of them."""
        if self.model is None or not rows:
            return
        if any(not self.model.index_of(r).isValid() for r in rows):
            self.filters.reset()
        self.select_row(rows[0])
        flags = QItemSelectionModel.SelectionFlag.Select
        selection = self.grid.selectionModel()
        for row in rows[1:]:
            selection.select(self.model.index_of(row), flags)
        self.message.emit(f"Selected {which_chips(self.review.names, rows)} on the map")

    def select_row(self, row: int | None) -> None:
        if self.model is None or row is None:
            return
        index = self.model.index_of(row)
        if not index.isValid():
            return
        self.grid.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        self.grid.scrollTo(index)

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.review is None or self.model is None or not current.isValid():
            return
        row = self.model.review_row(current)
        if row != self._placeholder_row:  # the reviewer went elsewhere: theirs, kept on re-sort
            self._placeholder_row = None
        self.detail.show_chip(self.review, row)
        self.similar.show_chip(self.review, row)
        self.current_changed.emit(row)
        # Where the reviewer is, kept in the session a moment after they stop moving: a disk
        # write per arrow key would stall the window, and a lost position costs nothing.
        self._position_timer.start()

    def go_to_row(self, row: int) -> None:
        """Make a chip current, showing every chip first where the filter hides it."""
        if self.model is None:
            return
        if not self.model.index_of(row).isValid():
            self.filters.reset()
        self.select_row(row)

    # --- edits ----------------------------------------------------------------------------
    def _edit(self, make: Callable[[], list[Change]], verb: str = "") -> list[Change] | None:
        """Make one edit and say what it did; where the session file refused it, say so
        (nothing kept). The views redraw on the review's own notice."""
        if self.review is None or self.model is None:
            return None
        try:
            changes = make()
        except ChipAuditError as exc:
            self.edit_failed.emit(str(exc))
            return None
        if verb:
            rows = self.review.rows_of(changes)
            self.message.emit(f"{verb}: {describe(changes, self.review.names, rows)}")
        return changes

    def toggle_tag(self, tag: str) -> None:
        if self.review is not None:
            review, rows = self.review, self.selected_rows()
            self._edit(lambda: review.toggle(rows, tag), "Set")

    def accept_model(self, tag: str | None = None) -> None:
        if self.review is not None:
            review, rows, tags = self.review, self.selected_rows(), [tag] if tag else None
            self._edit(lambda: review.accept_model(rows, tags), "Took the model's call")

    def reviewed_and_next(self) -> None:
        if self.review is None or self.model is None:
            return
        review, rows = self.review, self.selected_rows()
        if self._edit(lambda: review.mark_reviewed(rows)) is None:
            return  # not kept: stay on the chip
        self.message.emit(f"Marked {which_chips(review.names, rows)} reviewed")
        index = self.grid.currentIndex()
        if index.isValid() and index.row() + 1 < self.model.rowCount():
            self.select_row(self.model.review_row(self.model.index(index.row() + 1)))

    def next_suspect(self) -> None:
        if self.review is None or self.model is None:
            return
        row = self.review.next_suspect(self.current_row())
        if row is None:
            self.message.emit("No unreviewed suspect chip left.")
            return
        if not self.model.index_of(row).isValid():  # hidden by the filter: show everything
            self.filters.reset()
        self.select_row(row)
        self.message.emit(f"Next suspect: {self.review.names[row]}")

    def undo(self) -> None:
        self._undo_or_redo("undo", "Undid")

    def redo(self) -> None:
        self._undo_or_redo("redo", "Redid")

    def _undo_or_redo(self, which: str, verb: str) -> None:
        """Undo covers the whole session: say so when the action was not made in this window."""
        review = self.review
        if review is None:
            return
        changes = self._edit(getattr(review, which))
        if changes:
            whose = (
                "" if review.last_move_own() else " another window's (or an earlier run's) action"
            )
            rows = review.rows_of(changes)
            self.message.emit(f"{verb}{whose}: {describe(changes, review.names, rows)}")
        self._show_changed(changes)

    def _show_changed(self, changes: list[Change] | None) -> None:
        """After undo or redo, go to the chip it touched so the user sees what happened."""
        if self.review is not None and changes:
            rows = self.review.rows_of(changes)
            if rows and self.current_row() not in rows:
                self.select_row(rows[0])
