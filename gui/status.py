"""The status bar's permanent widgets: the review's counts, and the prediction run's progress
with Pause and Cancel. Both subscribe to what they show."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from gui.prediction import PredictionController
from model.review import Review


def format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def counts_text(review: Review | None, shown: int | None = None) -> str:
    if review is None:
        return ""
    c = review.counts()
    filtered = shown is not None and shown != c["chips"]
    text = (
        f"{c['chips']:,} chips" + (f" · {shown:,} shown" if filtered else "") + " · "
        f"{c['labelled']:,} labelled · {c['predicted']:,} predicted · "
        f"{c['reviewed']:,} reviewed · {c['changed']:,} changed · {c['suspects']:,} suspects"
    )
    return text + (f" · {c['broken']} unreadable" if c["broken"] else "")


class StatusWidgets:
    """Counts (redrawn at most every 300 ms while predictions stream in) and run progress."""

    def __init__(self, bar: QStatusBar, predictions: PredictionController) -> None:
        self.bar = bar
        self.predictions = predictions
        self.review: Review | None = None
        self.shown: int | None = None  # chips the grid shows, when a filter hides some
        self.counts = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress_label = QLabel()
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.pause_button.toggled.connect(self._pause_toggled)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel_button.clicked.connect(lambda: predictions.cancel("Prediction cancelled."))
        # Permanent widgets: showMessage() would hide ordinary ones while a message shows.
        for widget in self._run_widgets():
            bar.addPermanentWidget(widget)
        bar.insertPermanentWidget(0, self.counts)
        self._timer = QTimer(bar, singleShot=True, interval=300)
        self._timer.timeout.connect(self.update_counts)
        predictions.loading.connect(self._loading)
        predictions.started.connect(self._started)
        predictions.progress.connect(self._progress)
        predictions.ended.connect(self._ended)
        self._show_run(False)

    def _run_widgets(self):
        return (self.progress_label, self.progress, self.pause_button, self.cancel_button)

    def set_review(self, review: Review | None) -> None:
        self.review = review
        if review is not None:
            for event in (
                review.events.edited,
                review.events.reloaded,
                review.events.predictions,
                review.events.broken,
                review.events.model,  # another model, or a threshold moved: other suspects
            ):
                event.connect(self.counts_soon)
        self.update_counts()

    def set_shown(self, shown: int) -> None:
        self.shown = shown
        self.update_counts()

    def counts_soon(self, **_info) -> None:
        self._timer.start()

    def update_counts(self) -> None:
        self.counts.setText(counts_text(self.review, self.shown))

    def _show_run(self, visible: bool) -> None:
        for widget in self._run_widgets():
            widget.setVisible(visible)

    def _loading(self) -> None:
        self.pause_button.setChecked(False)
        self._show_run(True)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Loading the model…")

    def _started(self, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(0)

    def _progress(self, done: int, total: int, rate: float) -> None:
        if self.pause_button.isChecked():
            return  # the last batch before the pause: keep saying "Paused"
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        left = (total - done) / rate if rate > 0 else 0
        self.progress_label.setText(
            f"{done:,}/{total:,} · {rate:.0f} chips/s · {format_eta(left)} left"
        )

    def _ended(self, message: str) -> None:
        self._show_run(self.predictions.running)
        self.bar.showMessage(message, 8000)
        self.update_counts()

    def _pause_toggled(self, paused: bool) -> None:
        self.predictions.set_paused(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        if paused:
            self.progress_label.setText(
                f"Paused at {self.progress.value():,}/{self.progress.maximum():,}"
            )
