"""The main window: a shell that places the pages, builds menus and keys from gui/actions.py, and
hands the user's requests to the parts that carry them out (opening, predicting, retraining,
exporting). What is shown comes from the review, whose views subscribe to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QStackedWidget

from gui import dialogs
from gui.actions import accept_id, key_table_html, toggle_id
from gui.exporting import EXPORTS, export, export_charts
from gui.grad_cam import GradCamView
from gui.map_view import MapDock
from gui.menus import build_actions, recent_menu, update_enabled
from gui.models_dialog import ModelsDialog
from gui.opener import FolderOpener, OpenRequest
from gui.overview import OverviewDock
from gui.prediction import PredictionController
from gui.retraining import RetrainFlow
from gui.review_page import ReviewPage
from gui.start_page import StartPage
from gui.status import StatusWidgets
from gui.window_state import restore_layout, save_layout
from model.card import ModelCard, read_card
from model.errors import ChipAuditError
from model.review import Review
from model.settings import Settings, load_settings
from model.tags import TAGS
from model.versions import active_model, set_active_model
from model.wording import count

NO_LABELS_CHOICE = "Open without labels"
OTHER_LABELS_CHOICE = "Choose another labels CSV…"


class MainWindow(QMainWindow):
    review_opened = Signal(object)  # the Review now shown
    open_failed = Signal(str)

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else load_settings()
        self.setWindowTitle("Chip Audit")
        self.setAcceptDrops(True)
        self.review: Review | None = None
        self.start_page = StartPage()
        self.start_page.open_requested.connect(self.choose_folder)
        self.start_page.recent_chosen.connect(lambda folder: self.open_folder(folder))
        self.page = ReviewPage()
        self.page.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.page.edit_failed.connect(self._edit_failed)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.page)
        self.setCentralWidget(self.stack)
        self.map_dock = MapDock(self.page, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.map_dock)

        self.opener = FolderOpener(self)
        self.opener.opened.connect(self._opened)
        self.opener.failed.connect(self._open_failed)
        self.predictions = PredictionController(self)
        self.predictions.failed.connect(
            lambda message: dialogs.show_error(
                self, "Prediction stopped", message, "Reviewing goes on; choose another model."
            )
        )
        self.status = StatusWidgets(self.statusBar(), self.predictions)
        self.predictions.ended.connect(lambda _message: self.page.requery_soon())
        self.grad_cam = GradCamView(self.page, self.predictions, self)
        self.page.shown_changed.connect(self.status.set_shown)
        self.retraining = RetrainFlow(self)
        self.retraining.model_chosen.connect(self.set_active_model)
        self.overview = OverviewDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.overview)
        self.overview.hide()  # View > Overview
        self.overview.show_rows.connect(self.page.filters.set_rows)
        self.overview.model_saved.connect(self.set_active_model)
        self.overview.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.review_opened.connect(self.overview.set_review)
        self.actions_by_id = build_actions(self, self._handlers())
        self.recent_menu = recent_menu(self.actions_by_id["open_labels"])
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.start_page.set_recent(self.settings.recent_folders)
        restore_layout(self, self.page.splitter, self.settings)
        self._update_enabled()

    # --- actions --------------------------------------------------------------------------
    def _handlers(self) -> dict[str, Callable[[], object]]:
        page = self.page
        handlers: dict[str, Callable[[], object]] = {
            "open_folder": self.choose_folder,
            "open_labels": lambda: self.choose_labels(),
            **{f"export_{kind}": lambda k=kind: self._export(k) for kind in EXPORTS},
            "export_charts": lambda: (
                self.review
                and export_charts(self, self.statusBar(), self.review, self.overview.export_to)
            ),
            "overview": self.overview.open,
            "quit": self.close,
            "undo": page.undo,
            "redo": page.redo,
            "next_suspect": page.next_suspect,
            "reviewed_and_next": page.reviewed_and_next,
            "accept_all": lambda: page.accept_model(None),
            "zoom_in": page.detail.zoom_in,
            "zoom_out": page.detail.zoom_out,
            "zoom_fit": page.detail.zoom_fit,
            "map": lambda: self.map_dock.setVisible(not self.map_dock.isVisible()),
            "grad_cam": self.grad_cam.toggle,
            "predict": self.start_prediction,
            "retrain": lambda: self.review and self.retraining.ask(self.review),
            "models": self.show_models,
            "keys": lambda: QMessageBox.information(self, "Keys", key_table_html()),
        }
        for tag in TAGS:
            handlers[toggle_id(tag)] = lambda t=tag: page.toggle_tag(t)
            handlers[accept_id(tag)] = lambda t=tag: page.accept_model(t)
        return handlers

    def _update_enabled(self, **_info) -> None:
        update_enabled(self.actions_by_id, self.review)

    # --- opening --------------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = self.settings.last_folder or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of chips", start)
        if folder:
            self.open_folder(folder)

    def choose_labels(self, folder: Path | None = None) -> None:
        """Open the folder on screen (or `folder`) again with a labels CSV the user picks."""
        folder = folder or (self.review.folder if self.review is not None else None)
        if folder is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Labels CSV for this folder", str(folder), "CSV files (*.csv)"
        )
        if path:
            self.open_folder(folder, path)

    def open_folder(
        self, folder: str | Path, labels: str | Path | None = None, use_labels: bool = True
    ) -> None:
        """Open (or resume) the review of a folder, off the window's thread: `review_opened`
        or `open_failed` follows. With no labels given, the session's last labels, or a labels
        CSV found in or beside the folder, are used and said so."""
        folder = Path(folder)
        card = self._active_card()
        labels = Path(labels) if labels else None
        self.opener.open(OpenRequest(folder, labels, use_labels, card))
        self.statusBar().showMessage(f"Opening {folder}…")

    def _opened(self, request: OpenRequest, review: Review) -> None:
        self.predictions.cancel()
        if self.review is not None:
            self.page.close_review()  # what the page still had to write goes in first
            self.review.close()
        self.review = review
        self.page.set_review(review)
        self.status.set_review(review)
        review.events.edited.connect(self._update_enabled)
        review.events.reloaded.connect(self._update_enabled)
        self.stack.setCurrentWidget(self.page)
        # Else focus falls to the name filter box, which swallows the review keys (N, tags).
        self.page.grid.setFocus()
        self.setWindowTitle(f"Chip Audit — {review.folder.name}")
        real = str(review.folder.resolve())
        self.settings.add_recent(real)
        self.settings.last_folder = real
        self.start_page.set_recent(self.settings.recent_folders)
        self._update_enabled()
        self.page.describe_labels(
            tiffs=review.tiff_note(active_model().path),
            choose=lambda: self.choose_labels(),
            use_none=lambda: self.open_folder(review.folder, None, use_labels=False),
        )
        self.statusBar().clearMessage()
        held = review.resumed()
        if held["reviewed"] or held["changed"] or held["decisions"]:
            self.statusBar().showMessage(
                f"Resumed: {held['reviewed']:,} reviewed, {held['changed']:,} changed"
                f" ({count(held['decisions'], 'decision')} kept).",
                15000,
            )
        if review.card is None:
            self.statusBar().showMessage("No model to predict with: reviewing without.", 10000)
        self.start_prediction()
        self.review_opened.emit(review)

    def _open_failed(self, request: OpenRequest, message: str, labels_problem: bool) -> None:
        self.statusBar().clearMessage()
        self.open_failed.emit(message)
        if not labels_problem:
            dialogs.show_error(self, "Cannot open this folder", message, "Choose another folder.")
            return
        # The chips are fine, the labels file is not: never a dead end.
        choice = dialogs.choose(
            self,
            "Cannot read the labels",
            message,
            "The folder can still be opened: without labels (the model's tags are shown), or"
            " with another labels CSV. Or fix the file and open the folder again.",
            [NO_LABELS_CHOICE, OTHER_LABELS_CHOICE],
        )
        if choice == NO_LABELS_CHOICE:
            self.open_folder(request.folder, None, use_labels=False)
        elif choice == OTHER_LABELS_CHOICE:
            self.choose_labels(request.folder)

    # --- models ---------------------------------------------------------------------------
    def _active_card(self) -> ModelCard | None:
        path = active_model().path
        try:
            return read_card(path) if path.is_file() else None
        except ChipAuditError as exc:
            dialogs.show_error(
                self, "Cannot use the model", str(exc), "Reviewing goes on without predictions."
            )
            return None

    def start_prediction(self) -> None:
        if self.review is not None and not self.predictions.start(self.review, active_model().path):
            self.page.requery_soon()

    def set_active_model(self, path: str | Path) -> None:
        """Switch model (for the command line too); predictions this session already has for
        it are reused, and a run in progress for the old model is cancelled."""
        try:
            set_active_model(path)
        except ChipAuditError as exc:
            dialogs.show_error(self, "Cannot use the model", str(exc), "The model in use stays.")
            return
        card = self._active_card()
        if self.review is None or card is None:
            return
        self.predictions.cancel()
        cached = self.review.set_model(card)
        self.statusBar().showMessage(
            f"Model {card.version}: {cached:,} predictions reused from the session.", 5000
        )
        self.start_prediction()

    def show_models(self) -> None:
        dialog = ModelsDialog(active_model().path, self)
        dialog.chosen.connect(self.set_active_model)
        dialog.deleted.connect(
            lambda path, freed: self.statusBar().showMessage(
                f"Deleted {path} ({freed / 1e6:.0f} MB freed)", 8000
            )
        )
        dialog.exec()

    # --- review ---------------------------------------------------------------------------
    def _edit_failed(self, message: str) -> None:
        self.statusBar().showMessage("Not saved: the last key changed nothing.", 10000)
        dialogs.show_error(
            self,
            "Decision not saved",
            message,
            "Nothing was changed. Another program may be holding the review session, or the disk"
            " is full: free it and press the key again.",
        )

    def _export(self, kind: str) -> None:
        if self.review is not None:
            export(self, self.statusBar(), self.review, kind, self.page.shown_rows())

    # --- settings, recent folders, drag and drop ------------------------------------------
    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.settings.recent_folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_folder(f))
            action.setEnabled(Path(folder).is_dir())

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        folders = [p for p in paths if p.is_dir()]
        csvs = [p for p in paths if p.suffix.lower() == ".csv"]
        if folders:
            self.open_folder(folders[0], csvs[0] if csvs else None)
        elif csvs and self.review is not None:
            self.open_folder(self.review.folder, csvs[0])

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.retraining.may_close():
            event.ignore()
            return
        self.opener.cancel()
        self.page.close_review()
        self.overview.shutdown()
        self.map_dock.view.shutdown()
        self.page.thumbnails.shutdown()
        save_layout(self, self.page.splitter, self.settings)
        self.predictions.shutdown()
        self.retraining.shutdown()
        if self.review is not None:
            self.review.close()
            self.review = None  # a pending timer or signal must not use the closed session
            self.status.set_review(None)
        super().closeEvent(event)
