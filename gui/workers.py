"""Background work for the window: the inference thread and thumbnail decoding.

After Orange's `concurrent.py`: the work is a plain function (`model.predicting.predict_paths`)
given a cancel flag, a progress callback and a callback for partial results; the worker forwards
those as signals. Every job carries the id of the run it belongs to, and every signal carries it
back: the receiver (gui/prediction.py) accepts only the current run's results, so a batch already
on its way when the user switched folders or models can never land. One long-lived QThread owns
the Keras model, so Keras is never called from two threads, and the window's thread never waits
on it. Grad-CAM requests do not wait behind a run: they are kept aside (the newest per asker) and
served between two batches of the run in progress, or at once when the thread is idle.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage

from model.errors import CancelledError, ChipAuditError

_run_ids = itertools.count(1)


@dataclass
class PredictionJob:
    """One run: these chips with this model. Its flags are set from the window's thread and read
    by the worker between batches."""

    model_path: str
    paths: list[Path]
    version: str  # the model version the review expects; a mismatch fails the run
    tta: bool = False
    review_chips: int = 0  # the review's size: the first batch brings its empty features table
    run_id: int = field(default_factory=lambda: next(_run_ids))
    cancelled: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)
    holding: bool = False  # paused and waiting, nothing in flight

    def __post_init__(self) -> None:
        self.resume.set()

    def cancel(self) -> None:
        self.cancelled.set()
        self.resume.set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.resume.clear()
        else:
            self.resume.set()

    def should_stop(self, meanwhile: Callable[[], None] | None = None) -> bool:
        """Called by the worker before each batch: hold here while paused. `meanwhile` is called
        now and every 0.1 s of a pause (the worker serves Grad-CAM requests there)."""
        if meanwhile is not None:
            meanwhile()
        while not self.resume.wait(0.1):
            self.holding = True
            if self.cancelled.is_set():
                break
            if meanwhile is not None:
                meanwhile()
        self.holding = False
        return self.cancelled.is_set()


@dataclass(frozen=True)
class CamRequest:
    """Where does this model see `tag` in this chip (Grad-CAM, model/grad_cam.py)?"""

    model_path: str
    version: str
    path: Path
    tag: str
    asker: int = 0  # who asked: only an asker's newest request is kept while it waits
    request_id: int = field(default_factory=lambda: next(_run_ids))


class InferenceWorker(QObject):
    """Lives in its own QThread. Loads a model once per path and runs one job at a time;
    Grad-CAM requests are served between a run's batches (`ask_cam`)."""

    started = Signal(int, int)  # run id, total chips
    # run id, names, probs (n, 17), pooled features (n, d) of the same pass (None with TTA),
    # and with a run's first batch the review's empty features table (Review.add_predictions)
    batch_ready = Signal(int, object, object, object, object)
    progress = Signal(int, int, int, float)  # run id, done, total, chips per second
    finished = Signal(int, float)  # run id, seconds
    cancelled = Signal(int)  # run id
    failed = Signal(int, str)  # run id, message
    chip_failed = Signal(int, str, str)  # run id, chip name, reason
    precision_chosen = Signal(int, str)  # run id, "int8" or "fp32", with any fallback's reason
    # request id, (map (grid, grid) in [0, 1], grid) or the reason it could not be made (str)
    cam_ready = Signal(int, object)
    _cam_waiting = Signal()  # emitted from the asking thread; queued to this one

    def __init__(self) -> None:
        super().__init__()
        self._classifier = None
        self._model_path: str | None = None
        self._notes: list[str] = []  # why the predictor fell back to float32, if it did
        self._keras_model = None  # Grad-CAM's float32 network when the predictor is the twin
        self._cams: dict[int, CamRequest] = {}  # waiting Grad-CAM requests, the newest per asker
        self._cams_lock = threading.Lock()
        self._cam_waiting.connect(self._serve_cams)

    def ask_cam(self, request: CamRequest) -> None:
        """Called from any thread (the window's): keep the request aside, replacing the asker's
        older one (its answer would be ignored), and have it served as soon as this thread can:
        between two batches of a run in progress, else when the thread's event loop gets to it."""
        with self._cams_lock:
            self._cams[request.asker] = request
        self._cam_waiting.emit()

    @Slot()
    def _serve_cams(self, model_path: str | None = None) -> None:
        """Answer the waiting requests, in this thread. Between batches (`model_path`: the run's
        model) only those for the run's model: another model would be loaded mid-run, and the
        run that uses this one is being cancelled anyway; the rest wait for the idle call."""
        with self._cams_lock:
            requests = [
                r for r in self._cams.values() if model_path is None or r.model_path == model_path
            ]
            for request in requests:
                del self._cams[request.asker]
        for request in requests:
            self.class_activation(request)

    def _load(self, model_path: str, version: str):
        """The predictor for this model, loaded once per path: the command line's choice (the
        int8 twin where it runs, else float32). A missing twin is not made here: that would
        hold the run a minute or two unannounced."""
        from model.predictor import open_predictor

        if self._classifier is None or self._model_path != model_path:
            self._notes = []
            self._classifier = open_predictor(
                model_path, "auto", self._notes.append, make_missing=False
            )
            self._model_path = model_path
        if self._classifier.version != version:
            raise ChipAuditError(
                f"{model_path}: the model file is version {self._classifier.version},"
                f" its card said {version}; choose the model again"
            )
        return self._classifier

    def _keras(self, model_path: str, version: str):
        """The float32 Keras network, for what needs gradients (Grad-CAM): the twin has none."""
        predictor = self._load(model_path, version)
        if predictor.precision == "fp32":
            return predictor
        from model.classifier import Classifier

        if self._keras_model is None or self._keras_model.path != Path(model_path):
            self._keras_model = Classifier.load(model_path)
        return self._keras_model

    def class_activation(self, request: CamRequest) -> None:
        """Grad-CAM of one chip and tag, on demand, with the model this thread owns."""
        from model.chips import decode_rgb
        from model.grad_cam import class_activation

        try:
            classifier = self._keras(request.model_path, request.version)
            image = decode_rgb(request.path, classifier.input_size)
            result: object = class_activation(classifier, image, request.tag)
        except ChipAuditError as exc:
            result = str(exc)
        except Exception as exc:  # the thread must survive anything a model throws
            result = f"{type(exc).__name__}: {exc}"
        self.cam_ready.emit(request.request_id, result)

    @Slot(object)
    def run(self, job: PredictionJob) -> None:
        from model.predicting import predict_paths
        from model.review import empty_features

        run_id = job.run_id
        if job.cancelled.is_set():  # superseded while it waited behind the previous run
            self.cancelled.emit(run_id)
            return
        started = time.monotonic()
        try:
            self._load(job.model_path, job.version)
            self.precision_chosen.emit(
                run_id, "; ".join([self._classifier.precision, *self._notes])
            )
            self.started.emit(run_id, len(job.paths))

            def report(done: int, total: int) -> None:
                rate = done / max(time.monotonic() - started, 1e-6)
                self.progress.emit(run_id, done, total, rate)

            blank_sent = False

            def send(names, probs, features=None) -> None:
                nonlocal blank_sent
                pooled = None if features is None else np.array(features, dtype=np.float16)
                blank = None
                if pooled is not None and not blank_sent and job.review_chips:
                    blank = empty_features(job.review_chips, pooled.shape[1])
                    blank_sent = True
                self.batch_ready.emit(run_id, list(names), np.array(probs), pooled, blank)

            def should_stop() -> bool:  # before each batch: Grad-CAM requests are served here
                return job.should_stop(lambda: self._serve_cams(job.model_path))

            # Features come from the same forward pass (the map, similar chips); TTA averages 8
            # passes and has none.
            result = predict_paths(
                self._classifier,
                job.paths,
                job.tta,
                report,
                should_stop,
                on_batch=send,
                features=not job.tta,
            )
            for error in result.errors:
                self.chip_failed.emit(run_id, Path(error.path).stem, error.reason)
        except CancelledError:
            self.cancelled.emit(run_id)
            return
        except ChipAuditError as exc:
            self.failed.emit(run_id, str(exc))
            return
        except Exception as exc:  # the thread must survive anything a model throws
            self.failed.emit(run_id, f"prediction failed: {type(exc).__name__}: {exc}")
            return
        self.finished.emit(run_id, time.monotonic() - started)


class InferenceThread(QObject):
    """Owns the worker and its thread. Jobs queue in the thread's event loop and run in order;
    Grad-CAM requests (`ask_cam`) are served between a run's batches."""

    request = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("inference")
        self.worker = InferenceWorker()
        self.worker.moveToThread(self.thread)
        self.request.connect(self.worker.run)
        self.thread.start()

    def submit(self, job: PredictionJob) -> None:
        self.request.emit(job)

    def ask_cam(self, request: CamRequest) -> None:
        """Grad-CAM of one chip: answered by `worker.cam_ready`, between batches of a run."""
        self.worker.ask_cam(request)

    def stop(self, job: PredictionJob | None = None) -> None:
        if job is not None:
            job.cancel()
        self.thread.quit()
        self.thread.wait(30000)


class _ThumbnailJob(QRunnable):
    def __init__(
        self, loader: ThumbnailLoader, generation: int, name: str, path: Path, size: int
    ) -> None:
        super().__init__()
        self.loader, self.generation = loader, generation
        self.name, self.path, self.size = name, path, size

    def run(self) -> None:
        from model.chips import thumbnail

        try:
            rgb = np.ascontiguousarray(thumbnail(self.path, self.size))
            h, w, _ = rgb.shape
            result = (QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy(), "")
        except ChipAuditError as exc:
            result = (QImage(), getattr(exc, "reason", str(exc)))
        except Exception as exc:  # a worker must never take the app down
            result = (QImage(), f"{type(exc).__name__}: {exc}")
        # RuntimeError: the window closed while this chip decoded; nobody is waiting for it.
        with contextlib.suppress(RuntimeError):
            self.loader.decoded.emit(self.generation, self.name, *result)


class ThumbnailLoader(QObject):
    """Decodes thumbnails lazily in a small thread pool; keeps the most recent in memory.

    Each folder is a generation: `clear()` starts a new one, and a job of an older generation
    that finishes afterwards is dropped, so a chip never shows another folder's image.
    """

    decoded = Signal(int, str, QImage, str)  # generation, name, image (null when broken), reason
    ready = Signal(str)

    def __init__(self, size: int = 96, capacity: int = 3000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        self.generation = 0
        self.cache: OrderedDict[str, QImage] = OrderedDict()
        self.pending: set[str] = set()
        self.broken: dict[str, str] = {}
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.decoded.connect(self._store)

    def get(self, name: str, path: Path) -> QImage | None:
        """The cached thumbnail, or None while it is decoded in the background."""
        image = self.cache.get(name)
        if image is not None:
            self.cache.move_to_end(name)
            return image
        if name not in self.pending and name not in self.broken:
            self.pending.add(name)
            self.pool.start(_ThumbnailJob(self, self.generation, name, path, self.size))
        return None

    def shutdown(self) -> None:
        """Drop queued jobs and wait for running ones, so none reports to a deleted loader."""
        self.pool.clear()
        self.pool.waitForDone(2000)

    def clear(self) -> None:
        self.generation += 1
        self.pool.clear()
        self.cache.clear()
        self.pending.clear()
        self.broken.clear()

    @Slot(int, str, QImage, str)
    def _store(self, generation: int, name: str, image: QImage, reason: str) -> None:
        if generation != self.generation:
            return  # decoded for a folder no longer shown
        self.pending.discard(name)
        if reason:
            self.broken[name] = reason
        else:
            self.cache[name] = image
            while len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
        self.ready.emit(name)
