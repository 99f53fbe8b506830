"""The main window: menus and keys, opening folders, the inference thread, status and export."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
)

from gui.dialogs import confirm, show_error
from gui.keys import ACCEPT_ALL, NEXT_SUSPECT, REVIEWED_AND_NEXT, TAG_KEYS
from gui.models_dialog import ModelsDialog
from gui.retrain_dialog import RetrainSettingsDialog, RetrainWindow
from gui.review_page import ReviewPage
from gui.start_page import StartPage
from gui.trainer import TrainerProcess
from gui.workers import InferenceThread
from model.card import read_card
from model.chips import is_tiff
from model.errors import ChipAuditError
from model.paths import BUNDLED_MODEL, user_data_dir
from model.review import Review
from model.training import TrainConfig
from model.versions import new_model_path

MAX_RECENT = 10


def format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("ChipAudit", "Chip Audit")
        self.setWindowTitle("Chip Audit")
        self.setAcceptDrops(True)
        self.review: Review | None = None
        self.inference: InferenceThread | None = None
        self.predicting = False
        self._restart_prediction = False  # the model changed while predicting: go again after
        self.prediction_started = 0.0
        self.trainer: TrainerProcess | None = None
        self.retrain_window: RetrainWindow | None = None

        self.start_page = StartPage()
        self.start_page.open_requested.connect(self.choose_folder)
        self.start_page.recent_chosen.connect(lambda folder: self.open_folder(folder))
        self.page = ReviewPage()
        self.page.edited.connect(self._after_edit)
        self.page.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.page.edit_failed.connect(self._edit_failed)
        self.page.current_changed.connect(self._remember_position)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.page)
        self.setCentralWidget(self.stack)

        self._build_status_bar()
        self._build_actions()
        self._counts_timer = QTimer(self, singleShot=True, interval=300)
        self._counts_timer.timeout.connect(self.update_counts)
        self.start_page.set_recent(self.recent_folders())
        self._restore_layout()

    # --- building -------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.counts_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress_label = QLabel()
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.pause_button.toggled.connect(self._pause_toggled)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel_button.clicked.connect(self.cancel_prediction)
        # Permanent widgets: showMessage() would hide ordinary ones while a message shows.
        for widget in (
            self.counts_label,
            self.progress_label,
            self.progress,
            self.pause_button,
            self.cancel_button,
        ):
            bar.addPermanentWidget(widget)
        self._show_progress(False)

    def _action(
        self, text: str, slot, shortcut: str | QKeySequence | None = None, menu=None
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)  # window-wide shortcut, whichever child has focus
        if menu is not None:
            menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        menus = self.menuBar()
        file = menus.addMenu("&File")
        self._action("&Open folder…", self.choose_folder, QKeySequence.StandardKey.Open, file)
        self._action("Open &labels CSV…", self.choose_labels, "Ctrl+L", file)
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file.addSeparator()
        self.review_actions: list[QAction] = [
            self._action("&Export corrected labels…", self.export_labels, "Ctrl+E", file),
            self._action(
                "Export corrected labels, with the model's tags for unlabelled chips…",
                lambda: self.export_labels(include_model=True),
                None,
                file,
            ),
            self._action("Export the change &log…", self.export_change_log, None, file),
            self._action("Export the model's &predictions…", self.export_predictions, None, file),
        ]
        file.addSeparator()
        self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, file)

        edit = menus.addMenu("&Edit")
        self.undo_action = self._action(
            "&Undo", self.page.undo, QKeySequence.StandardKey.Undo, edit
        )
        self.redo_action = self._action("&Redo", self.page.redo, "Ctrl+Shift+Z", edit)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])

        review = menus.addMenu("&Review")
        self.review_actions += [
            self._action("Next &suspect chip", self._next_suspect, NEXT_SUSPECT, review),
            self._action(
                "Mark reviewed and go to &next",
                self.page.reviewed_and_next,
                REVIEWED_AND_NEXT,
                review,
            ),
            self._action(
                "&Accept the model's call for every tag",
                lambda: self.page.accept_model(None),
                ACCEPT_ALL,
                review,
            ),
        ]
        tags = review.addMenu("&Toggle tag")
        accept = review.addMenu("Accept the model's call for tag")
        for tag, key in TAG_KEYS.items():
            self.review_actions.append(
                self._action(tag, lambda _=False, t=tag: self.page.toggle_tag(t), key, tags)
            )
            self.review_actions.append(
                self._action(
                    tag, lambda _=False, t=tag: self.page.accept_model(t), f"Shift+{key}", accept
                )
            )

        view = menus.addMenu("&View")
        self._action("Zoom &in", self.page.detail.zoom_in, "+", view).setShortcuts(
            [QKeySequence("+"), QKeySequence("=")]
        )
        self._action("Zoom &out", self.page.detail.zoom_out, "-", view)
        self._action("&Fit", self.page.detail.zoom_fit, "0", view)

        model = menus.addMenu("&Model")
        self.predict_action = self._action(
            "&Predict the rest of the folder", self.start_prediction, "Ctrl+P", model
        )
        model.addSeparator()
        self.review_actions.append(
            self._action("&Retrain on this folder…", self.retrain, "Ctrl+R", model)
        )
        self._action("&Models…", self.show_models, "Ctrl+M", model)

        help_menu = menus.addMenu("&Help")
        self._action("&Keys…", self.show_keys, "F1", help_menu)
        self._set_review_enabled(False)

    def _set_review_enabled(self, enabled: bool) -> None:
        for action in self.review_actions + [self.predict_action]:
            action.setEnabled(enabled)
        self._update_undo()

    # --- opening --------------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = self.settings.value("last_folder", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of chips", start)
        if folder:
            self.open_folder(folder)

    def choose_labels(self) -> None:
        if self.review is None:
            return show_error(self, "No folder open", "Open a folder of chips first.")
        path, _ = QFileDialog.getOpenFileName(
            self, "Labels CSV for this folder", str(self.review.folder), "CSV files (*.csv)"
        )
        if path:
            self.open_folder(self.review.folder, path)

    def open_folder(
        self, folder: str | Path, labels: str | Path | None = None, use_labels: bool = True
    ) -> bool:
        """Open (or resume) the review of a folder. With no labels given, the session's last
        labels, or a labels CSV found in or beside the folder, are used and said so."""
        folder = Path(folder)
        self.cancel_prediction()
        try:
            review = Review(folder, labels, find_labels=True, no_labels=not use_labels)
        except ChipAuditError as exc:
            show_error(
                self,
                "Cannot open this folder",
                str(exc),
                "Choose another folder, or fix or choose another labels CSV.",
            )
            return False
        if self.review is not None:
            self.review.close()
        self.review = review
        self.page.set_review(review, review.session.get_meta("position"))
        self.stack.setCurrentWidget(self.page)
        # Else focus falls to the name filter box, which swallows the review keys (N, tags).
        self.page.grid.setFocus()
        self.setWindowTitle(f"Chip Audit — {folder.name}")
        self._add_recent(str(folder.resolve()))
        self.settings.setValue("last_folder", str(folder.resolve()))
        self._set_review_enabled(True)
        self._describe_labels(review.labels_found)
        self.use_active_model()
        self.update_counts()
        return True

    def _describe_labels(self, found_automatically: bool) -> None:
        review = self.review
        if review is None:
            return
        if review.labels_path is None:
            self.page.notice.show_notice(
                "No labels: triage mode. The model's tags are shown; "
                "press the tag keys to tag chips yourself.",
                [("Open labels CSV…", self.choose_labels)],
            )
            return
        if any(is_tiff(p) for p in review.paths):
            self.statusBar().showMessage(
                "4-band TIFFs here: the model learnt from Planet's JPEG chips, and its calls on "
                "stretched TIFFs are much less reliable (samples F2 0.53 on the 16 sample TIFFs).",
                20000,
            )
        how = "Found and using" if found_automatically else "Using"
        self.page.notice.show_notice(
            f"{how} the labels in {review.labels_path} ({len(review.crowd)} rows, "
            f"{int(review.has_label.sum())} of {len(review.names)} chips labelled).",
            [
                ("Choose another…", self.choose_labels),
                ("Use no labels", lambda: self.open_folder(review.folder, None, use_labels=False)),
            ],
        )

    def active_model_path(self) -> Path:
        chosen = self.settings.value("active_model", "")
        return Path(chosen) if chosen and Path(chosen).is_file() else BUNDLED_MODEL

    def use_active_model(self) -> None:
        if self.review is None:
            return
        path = self.active_model_path()
        try:
            card = read_card(path) if path.is_file() else None
        except ChipAuditError as exc:
            show_error(
                self, "Cannot use the model", str(exc), "Reviewing goes on without predictions."
            )
            card = None
        if card is None:
            self.statusBar().showMessage(
                f"No model at {path}: reviewing without predictions.", 10000
            )
            return
        cached = self.review.set_model(card)
        self.page.predictions_arrived(list(range(len(self.review.names))))
        self.statusBar().showMessage(
            f"Model {card.version}: {cached} predictions reused from the session.", 5000
        )
        self.start_prediction()

    # --- prediction -----------------------------------------------------------------------
    def start_prediction(self) -> None:
        if self.review is None or self.review.card is None:
            return
        if self.predicting:
            self._restart_prediction = True
            self.cancel_prediction()
            return
        paths = self.review.unpredicted_paths()
        if not paths:
            self.page.requery_soon()
            return
        if self.inference is None:
            self.inference = InferenceThread(self)
            worker = self.inference.worker
            worker.started.connect(self._prediction_started)
            worker.batch_ready.connect(self._batch_ready)
            worker.progress.connect(self._prediction_progress)
            worker.finished.connect(self._prediction_finished)
            # A bound method, not a lambda: PySide runs a lambda in the emitting (inference)
            # thread, and this one touches widgets.
            worker.cancelled.connect(self._prediction_cancelled)
            worker.failed.connect(self._prediction_failed)
            worker.chip_failed.connect(self._chip_failed)
        self.predicting = True
        self.prediction_started = time.monotonic()
        self.pause_button.setChecked(False)
        self._show_progress(True)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Loading the model…")
        self.inference.predict(self.active_model_path(), paths, self.review.session.path)

    def _prediction_started(self, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(0)

    def _batch_ready(self, names: list[str], probs, version: str) -> None:
        if self.review is None or self.review.card is None or version != self.review.card.version:
            return  # a batch from a model we have since switched away from
        rows = self.review.add_predictions(names, probs, store=False)
        self.page.predictions_arrived(rows)
        self._counts_timer.start()

    def _prediction_progress(self, done: int, total: int, rate: float) -> None:
        if self.pause_button.isChecked():
            return  # the last batch before the pause: keep saying "Paused"
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        left = (total - done) / rate if rate > 0 else 0
        self.progress_label.setText(
            f"{done:,}/{total:,} · {rate:.0f} chips/s · {format_eta(left)} left"
        )

    def _prediction_finished(self, version: str, seconds: float) -> None:
        self._prediction_ended(f"Predicted with model {version} in {seconds:.1f}s.")
        self.page.requery_soon()

    def _prediction_cancelled(self) -> None:
        self._prediction_ended("Prediction cancelled.")

    def _prediction_failed(self, message: str) -> None:
        self._prediction_ended("Prediction stopped.")
        show_error(
            self,
            "Prediction stopped",
            message,
            "Reviewing goes on; choose another model to predict.",
        )

    def _prediction_ended(self, message: str) -> None:
        self.predicting = False
        self._show_progress(False)
        self.statusBar().showMessage(message, 8000)
        self.update_counts()
        if self._restart_prediction:
            self._restart_prediction = False
            self.start_prediction()

    def _chip_failed(self, name: str, reason: str) -> None:
        if self.review is not None:
            self.review.mark_broken(name, reason)
            i = self.review.index.get(name)
            self.page.predictions_arrived([i] if i is not None else [])

    def _pause_toggled(self, paused: bool) -> None:
        if self.inference is not None:
            self.inference.worker.set_paused(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        if paused:
            self.progress_label.setText(
                f"Paused at {self.progress.value():,}/{self.progress.maximum():,}"
            )

    def cancel_prediction(self) -> None:
        if self.inference is not None and self.predicting:
            self.inference.worker.cancel()

    def _show_progress(self, visible: bool) -> None:
        for widget in (self.progress, self.progress_label, self.pause_button, self.cancel_button):
            widget.setVisible(visible)

    def show_keys(self) -> None:
        rows = "".join(
            f"<tr><td><b>{key}</b></td><td>{tag}</td></tr>" for tag, key in TAG_KEYS.items()
        )
        others = [
            (NEXT_SUSPECT, "next suspect chip (most likely wrong, not yet reviewed)"),
            (REVIEWED_AND_NEXT, "mark reviewed and go to the next chip"),
            (ACCEPT_ALL, "take the model's call for every tag"),
            ("Ctrl+Z", "undo, over the whole session"),
            ("Ctrl+Shift+Z, Ctrl+Y", "redo"),
            ("+ / - / 0", "zoom the chip in / out / fit"),
            ("Escape", "from the name filter back to the grid"),
        ]
        rows += "".join(f"<tr><td><b>{k}</b></td><td>{what}</td></tr>" for k, what in others)
        QMessageBox.information(
            self,
            "Keys",
            "<p>Keys act on every selected chip. A tag's key turns it on or off; Shift with the"
            " key takes the model's call for that tag. A weather tag turned on replaces the"
            " other one.</p><table cellspacing=4>" + rows + "</table>",
        )

    # --- models and retraining -------------------------------------------------------------
    def set_active_model(self, path: str | Path) -> None:
        """Switch model; predictions this session already has for it are reused."""
        path = Path(path)
        self.settings.setValue("active_model", "" if path == BUNDLED_MODEL else str(path))
        self.use_active_model()

    def show_models(self) -> None:
        dialog = ModelsDialog(self.active_model_path(), self)
        dialog.chosen.connect(self.set_active_model)
        dialog.exec()

    def default_retrain_config(self) -> TrainConfig | None:
        """Start from the active model, on this session's corrected labels and the folder's
        chips, with the validation fraction, epochs and input size of the active model's card."""
        review = self.review
        if review is None:
            return None
        active = self.active_model_path()
        card = read_card(active) if active.is_file() else None
        recipe = card.recipe if card else {}
        stamp = time.strftime("%Y%m%d-%H%M%S")
        labels = user_data_dir() / "retrain" / f"{review.folder.name}-{stamp}-labels.csv"
        labels.parent.mkdir(parents=True, exist_ok=True)
        review.export_labels(labels)
        base_lr = float(recipe.get("learning_rate", 1e-3))
        # One validation set per folder: a model trained here validates on the chips its parent
        # validated on, so neither model of a comparison has trained on them.
        trained_on = card.data.get("folder") if card else None
        same_folder = bool(trained_on) and Path(trained_on).resolve() == review.folder.resolve()
        validation = card.data.get("validation_names") if same_folder else None
        return TrainConfig(
            folder=review.folder,
            labels=labels,
            out=new_model_path(),
            init=str(active) if card else "scratch",
            epochs=int(recipe.get("epochs", 10)),
            input_size=int(card.input_size) if card else 32,
            val_frac=float(recipe.get("val_frac", 0.1)),
            # Fine-tuning takes smaller steps than training from scratch.
            learning_rate=base_lr / 10 if card else base_lr,
            architecture=card.architecture if card else "vgg16_bn",
            validation_names=list(validation) if validation else None,
        )

    def retrain(self) -> None:
        if self.trainer is not None and self.trainer.running and self.retrain_window is not None:
            self.retrain_window.show()
            self.retrain_window.raise_()
            return
        try:
            config = self.default_retrain_config()
        except ChipAuditError as exc:
            return show_error(self, "Cannot prepare the retrain", str(exc), "Nothing was changed.")
        if config is None or self.review is None:
            return
        n = int(self.review.has_label.sum()) + int(
            (self.review.decided & ~self.review.has_label).sum()
        )
        summary = f"{n:,} labelled chips in {self.review.folder.name} (your corrections applied)"
        dialog = RetrainSettingsDialog(config, summary, self)
        if dialog.exec() == RetrainSettingsDialog.DialogCode.Accepted:
            self.start_retrain(dialog.chosen())
        else:
            config.labels.unlink(missing_ok=True)  # the export made for a retrain not wanted

    def start_retrain(self, config: TrainConfig) -> None:
        self.trainer = trainer = TrainerProcess(self)  # one per run: no stale connections
        self.retrain_window = window = RetrainWindow(self)
        trainer.event.connect(window.on_event)
        trainer.done.connect(window.show_comparison)
        trainer.cancelled.connect(
            lambda: window.show_ended("Training cancelled. No new model was saved.")
        )
        trainer.failed.connect(self._retrain_failed)
        window.cancel_requested.connect(trainer.cancel)
        window.use_new.connect(self.set_active_model)
        baseline = self.active_model_path()
        trainer.start(config, baseline if baseline.is_file() else None)
        # Shown without taking the keyboard: reviewing goes on while the model trains.
        window.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        window.show()

    def _retrain_failed(self, message: str) -> None:
        if self.retrain_window is not None:
            self.retrain_window.show_ended(f"Training stopped: {message}")
        show_error(
            self, "Training stopped", message, "Your review and the model in use are unchanged."
        )

    # --- review ---------------------------------------------------------------------------
    def _edit_failed(self, message: str) -> None:
        self.statusBar().showMessage("Not saved: the last key changed nothing.", 10000)
        show_error(
            self,
            "Decision not saved",
            message,
            "Nothing was changed. Another program may be holding the review session, or the disk"
            " is full: free it and press the key again.",
        )

    def _next_suspect(self) -> None:
        if self.page.next_suspect():
            row = self.page.current_row()
            if self.review is not None and row is not None:
                self.statusBar().showMessage(f"Next suspect: {self.review.names[row]}", 5000)
        else:
            self.statusBar().showMessage("No unreviewed suspect chip left.", 5000)

    def _after_edit(self) -> None:
        self._update_undo()
        self._counts_timer.start()

    def _update_undo(self) -> None:
        has_review = self.review is not None
        self.undo_action.setEnabled(has_review and self.review.session.can_undo())
        self.redo_action.setEnabled(has_review and self.review.session.can_redo())

    def _remember_position(self, row: int) -> None:
        if self.review is not None:
            self.review.session.set_meta("position", self.review.names[row])

    def update_counts(self) -> None:
        if self.review is None:
            self.counts_label.setText("")
            return
        c = self.review.counts()
        text = (
            f"{c['chips']:,} chips · {c['labelled']:,} labelled · {c['predicted']:,} predicted · "
            f"{c['reviewed']:,} reviewed · {c['changed']:,} changed · {c['suspects']:,} suspects"
        )
        if c["broken"]:
            text += f" · {c['broken']} unreadable"
        self.counts_label.setText(text)

    # --- export ---------------------------------------------------------------------------
    def _save_path(self, title: str, suggested: str) -> Path | None:
        assert self.review is not None
        start = str(self.review.folder.parent / suggested)
        path, _ = QFileDialog.getSaveFileName(self, title, start, "CSV files (*.csv)")
        return Path(path) if path else None

    def export_labels(self, include_model: bool = False) -> None:
        if self.review is None:
            return
        path = self._save_path(
            "Export corrected labels", f"{self.review.folder.name}_corrected.csv"
        )
        if path is not None:
            self._export(lambda: self.review.export_labels(path, include_model), path, "rows")

    def export_change_log(self) -> None:
        if self.review is None:
            return
        path = self._save_path("Export the change log", f"{self.review.folder.name}_changes.csv")
        if path is not None:
            self._export(lambda: self.review.export_change_log(path), path, "decisions")

    def export_predictions(self) -> None:
        if self.review is None:
            return
        path = self._save_path(
            "Export the model's predictions", f"{self.review.folder.name}_predictions.csv"
        )
        if path is not None:
            self._export(lambda: self.review.export_predictions(path), path, "chips")

    def _export(self, write, path: Path, what: str) -> None:
        try:
            count = write()
        except ChipAuditError as exc:
            show_error(
                self, "Export failed", str(exc), "Choose another place to save; nothing was lost."
            )
            return
        self.statusBar().showMessage(f"Wrote {count:,} {what} to {path}", 8000)

    # --- settings, recent folders, drag and drop -------------------------------------------
    def recent_folders(self) -> list[str]:
        value = self.settings.value("recent_folders", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, folder: str) -> None:
        recent = [folder] + [f for f in self.recent_folders() if f != folder]
        self.settings.setValue("recent_folders", recent[:MAX_RECENT])
        self.start_page.set_recent(recent[:MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.recent_folders():
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_folder(f))
            action.setEnabled(Path(folder).is_dir())

    def _restore_layout(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        splitter = self.settings.value("splitter")
        if splitter is not None:
            self.page.splitter.restoreState(splitter)
        else:
            self.page.splitter.setSizes([800, 560])

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
        if (
            self.trainer is not None
            and self.trainer.running
            and not confirm(
                self,
                "Stop the retrain?",
                "A retrain is running. Closing Chip Audit stops it, and nothing it has trained"
                " so far is kept. Your review is saved either way.",
                "Stop it and close",
            )
        ):
            event.ignore()
            return
        self.page.thumbnails.shutdown()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("splitter", self.page.splitter.saveState())
        if self.inference is not None:
            self.inference.stop()
        if self.trainer is not None:
            self.trainer.kill()
            self.trainer.process.waitForFinished(3000)
        if self.review is not None:
            self.review.close()
            self.review = None  # a pending timer or signal must not use the closed session
        super().closeEvent(event)
