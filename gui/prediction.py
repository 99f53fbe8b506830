"""Prediction runs for the review on screen: one run at a time, each owned by one review and
one model version.

`start` cancels the run in progress and starts another; the worker's signals carry the run's id,
and only the current run's results are accepted. The review is the one writer of predictions
(`Review.add_predictions`, which also refuses another model version's batch), and the views
learn of them from the review's own change notices, not from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from gui.workers import InferenceThread, PredictionJob
from model.review import Review


@dataclass
class _Run:
    job: PredictionJob
    review: Review
    total: int = 0
    precision: str = "fp32"  # the worker says which ran (model.predictor.open_predictor)


class PredictionController(QObject):
    """Starts, pauses and cancels runs; tells the status bar how they go."""

    loading = Signal()  # a run was queued: the model loads before the first batch
    started = Signal(int)  # total chips of the current run
    progress = Signal(int, int, float)  # done, total, chips/s
    ended = Signal(str)  # the current run ended: what to say in the status bar
    failed = Signal(str)  # ... with an error worth a dialog
    stale_dropped = Signal(int)  # a batch of a superseded run arrived and was refused (its size)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: InferenceThread | None = None
        self._run: _Run | None = None

    @property
    def running(self) -> bool:
        return self._run is not None

    @property
    def job(self) -> PredictionJob | None:
        return self._run.job if self._run is not None else None

    def start(self, review: Review, model_path: Path) -> bool:
        """Predict the review's chips that have no prediction from its model yet. Cancels the
        run in progress, whatever review it was for. Returns False when there is nothing to do."""
        self.cancel()
        if review.card is None:
            return False
        paths = review.unpredicted_paths()
        if not paths:
            return False
        # The worker makes the empty features table where the review has none yet.
        blank_for = len(review) if review.features is None else 0
        job = PredictionJob(str(model_path), paths, review.card.version, review_chips=blank_for)
        self._run = _Run(job, review, len(paths))
        self._worker_thread().submit(job)
        self.loading.emit()
        return True

    def cancel(self, message: str = "") -> None:
        """Stop the current run; nothing it produces lands afterwards."""
        run, self._run = self._run, None
        if run is not None:
            run.job.cancel()
            if message:
                self.ended.emit(message)

    def set_paused(self, paused: bool) -> None:
        if self._run is not None:
            self._run.job.set_paused(paused)

    def shutdown(self) -> None:
        self.cancel()
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def worker_thread(self) -> InferenceThread:
        """The thread that owns the model: Grad-CAM requests go to it too (gui/grad_cam.py),
        served between two batches of a run in progress."""
        return self._worker_thread()

    def _worker_thread(self) -> InferenceThread:
        if self._thread is None:
            self._thread = InferenceThread(self)
            worker = self._thread.worker
            # Bound methods of this object, which lives on the window's thread: queued there.
            worker.started.connect(self._started)
            worker.batch_ready.connect(self._batch_ready)
            worker.progress.connect(self._progress)
            worker.finished.connect(self._finished)
            worker.cancelled.connect(self._cancelled)
            worker.failed.connect(self._failed)
            worker.chip_failed.connect(self._chip_failed)
            worker.precision_chosen.connect(self._precision_chosen)
        return self._thread

    def _current(self, run_id: int) -> _Run | None:
        run = self._run
        return run if run is not None and run.job.run_id == run_id else None

    @Slot(int, int)
    def _started(self, run_id: int, total: int) -> None:
        if self._current(run_id):
            self.started.emit(total)

    @Slot(int, object, object, object, object)
    def _batch_ready(self, run_id: int, names: list[str], probs, features, blank) -> None:
        run = self._current(run_id)
        if run is None:
            self.stale_dropped.emit(len(names))
            return
        run.review.add_predictions(names, probs, run.job.version, features, blank)

    @Slot(int, int, int, float)
    def _progress(self, run_id: int, done: int, total: int, rate: float) -> None:
        if self._current(run_id):
            self.progress.emit(done, total, rate)

    @Slot(int, str, str)
    def _chip_failed(self, run_id: int, name: str, reason: str) -> None:
        run = self._current(run_id)
        if run is not None:
            run.review.mark_broken(name, reason)

    @Slot(int, str)
    def _precision_chosen(self, run_id: int, precision: str) -> None:
        run = self._current(run_id)
        if run is not None:
            run.precision = precision

    @Slot(int, float)
    def _finished(self, run_id: int, seconds: float) -> None:
        run = self._current(run_id)
        if run is not None:
            self._run = None
            # The precision alone: why the twin was not used is said by `info` and the tooltip.
            precision = run.precision.split(";")[0]
            self.ended.emit(
                f"Predicted {run.total:,} chips with model {run.job.version} ({precision}) "
                f"in {seconds:.1f}s."
            )

    @Slot(int)
    def _cancelled(self, run_id: int) -> None:
        if self._current(run_id):
            self._run = None
            self.ended.emit("Prediction cancelled.")

    @Slot(int, str)
    def _failed(self, run_id: int, message: str) -> None:
        if self._current(run_id):
            self._run = None
            self.ended.emit("Prediction stopped.")
            self.failed.emit(message)
