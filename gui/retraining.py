"""The retrain, from the window's side: the settings dialog, the trainer process and the window
with its curves. What to train (start model, labels, recipe) is decided in model/retrain.py."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QWidget

from gui import dialogs
from gui.retrain_dialog import RetrainSettingsDialog, RetrainWindow
from gui.trainer import TrainerProcess
from model.errors import ChipAuditError
from model.retrain import default_retrain_config
from model.review import Review
from model.train_config import TrainConfig
from model.versions import active_model_path


class RetrainFlow(QObject):
    model_chosen = Signal(str)  # the user chose to use the new model

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.trainer: TrainerProcess | None = None
        self.window: RetrainWindow | None = None

    @property
    def running(self) -> bool:
        return self.trainer is not None and self.trainer.running

    def ask(self, review: Review) -> None:
        """Show the settings (Enter accepts the defaults), then train."""
        if self.running and self.window is not None:
            self.window.show()
            self.window.raise_()
            return
        try:
            config = default_retrain_config(review, active_model_path())
        except ChipAuditError as exc:
            dialogs.show_error(
                self.parent_widget, "Cannot prepare the retrain", str(exc), "Nothing was changed."
            )
            return
        summary = (
            f"{review.retrain_chip_count():,} labelled chips in {review.folder.name}"
            " (your corrections applied)"
        )
        dialog = RetrainSettingsDialog(config, summary, self.parent_widget)
        if dialog.exec() == RetrainSettingsDialog.DialogCode.Accepted:
            self.start(dialog.chosen())
        else:
            config.labels.unlink(missing_ok=True)  # the export made for a retrain not wanted

    def start(self, config: TrainConfig) -> None:
        self.trainer = trainer = TrainerProcess(self)  # one per run: no stale connections
        self.window = window = RetrainWindow(self.parent_widget)
        trainer.event.connect(window.on_event)
        trainer.done.connect(window.show_comparison)
        trainer.cancelled.connect(
            lambda: window.show_ended("Training cancelled. No new model was saved.")
        )
        trainer.failed.connect(self._failed)
        window.cancel_requested.connect(trainer.cancel)
        window.use_new.connect(self.model_chosen)
        baseline = active_model_path()
        trainer.start(config, baseline if Path(baseline).is_file() else None)
        # Shown without taking the keyboard: reviewing goes on while the model trains.
        window.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        window.show()

    def _failed(self, message: str) -> None:
        if self.window is not None:
            self.window.show_ended(f"Training stopped: {message}")
        dialogs.show_error(
            self.parent_widget,
            "Training stopped",
            message,
            "Your review and the model in use are unchanged.",
        )

    def may_close(self) -> bool:
        """Whether the window may close: asks first while a retrain runs (default: keep it)."""
        return not self.running or dialogs.confirm(
            self.parent_widget,
            "Stop the retrain?",
            "A retrain is running. Closing Chip Audit stops it, and nothing it has trained"
            " so far is kept. Your review is saved either way.",
            "Stop it and close",
        )

    def shutdown(self) -> None:
        if self.trainer is not None:
            self.trainer.kill()
            self.trainer.process.waitForFinished(3000)
