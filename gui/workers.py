"""Background work for the window: the inference thread and thumbnail decoding.

The inference worker follows Orange's pattern: a plain function does the work
(`model.predicting.predict_paths`), the worker hands it a cancel flag and forwards its progress
and partial results to the window as signals. One long-lived QThread owns the Keras model, so
Keras is never called from two threads, and the main thread never waits on it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage

from model.errors import CancelledError, ChipAuditError


class InferenceWorker(QObject):
    """Lives in its own QThread. Loads a model once per path and predicts lists of chips."""

    started = Signal(int)  # total chips
    batch_ready = Signal(object, object, str)  # names, probs (n, 17), model version
    progress = Signal(int, int, float)  # done, total, chips per second
    finished = Signal(str, float)  # model version, seconds
    cancelled = Signal()
    failed = Signal(str)
    chip_failed = Signal(str, str)  # chip name, reason: shown as broken, the rest go on

    def __init__(self) -> None:
        super().__init__()
        self._classifier = None
        self._model_path: str | None = None
        self._cancel = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.holding = False  # paused and waiting, nothing in flight

    # Called from the main thread: plain flags, no queued call needed.
    def cancel(self) -> None:
        self._cancel.set()
        self._resume.set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._resume.clear()
        else:
            self._resume.set()

    def _should_stop(self) -> bool:
        while not self._resume.wait(0.1):  # paused: hold the next batch here
            self.holding = True
            if self._cancel.is_set():
                break
        self.holding = False
        return self._cancel.is_set()

    @Slot(str, object, bool, str)
    def predict(self, model_path: str, paths: list[Path], tta: bool, session_path: str) -> None:
        """Predict `paths`, saving each batch to the review session from this thread (its own
        SQLite connection), so the main thread only updates what it shows."""
        from model.classifier import Classifier
        from model.predicting import predict_paths
        from model.session import ReviewSession

        self._cancel.clear()
        started = time.monotonic()
        store = None
        try:
            if self._classifier is None or self._model_path != model_path:
                self._classifier = Classifier.load(model_path)
                self._model_path = model_path
            self.started.emit(len(paths))
            store = ReviewSession(session_path) if session_path else None
            version = self._classifier.version

            def batch_done(names: list[str], probs: np.ndarray) -> None:
                if store is not None:
                    store.store_predictions(version, names, probs)
                self.batch_ready.emit(list(names), np.array(probs), version)

            def report(done: int, total: int) -> None:
                rate = done / max(time.monotonic() - started, 1e-6)
                self.progress.emit(done, total, rate)

            result = predict_paths(
                self._classifier,
                paths,
                tta,
                report,
                self._should_stop,
                on_batch=batch_done,
            )
            for error in result.errors:
                self.chip_failed.emit(Path(error.path).stem, error.reason)
        except CancelledError:
            self.cancelled.emit()
            return
        except ChipAuditError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # the thread must survive anything a model throws
            self.failed.emit(f"prediction failed: {type(exc).__name__}: {exc}")
            return
        finally:
            if store is not None:
                store.close()
        self.finished.emit(self._classifier.version, time.monotonic() - started)


class InferenceThread(QObject):
    """Owns the worker and its thread; the window talks to this."""

    request = Signal(str, object, bool, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("inference")
        self.worker = InferenceWorker()
        self.worker.moveToThread(self.thread)
        self.request.connect(self.worker.predict)
        self.thread.start()

    def predict(
        self,
        model_path: str | Path,
        paths: list[Path],
        session_path: str | Path = "",
        tta: bool = False,
    ) -> None:
        self.worker.set_paused(False)
        self.request.emit(str(model_path), list(paths), tta, str(session_path))

    def stop(self) -> None:
        self.worker.cancel()
        self.thread.quit()
        self.thread.wait(30000)


class _ThumbnailJob(QRunnable):
    def __init__(self, loader: ThumbnailLoader, name: str, path: Path, size: int) -> None:
        super().__init__()
        self.loader, self.name, self.path, self.size = loader, name, path, size

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
            self.loader.decoded.emit(self.name, *result)


class ThumbnailLoader(QObject):
    """Decodes thumbnails lazily in a small thread pool; keeps the most recent in memory."""

    decoded = Signal(str, QImage, str)  # name, image (null when broken), reason
    ready = Signal(str)

    def __init__(self, size: int = 96, capacity: int = 3000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
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
            self.pool.start(_ThumbnailJob(self, name, path, self.size))
        return None

    def shutdown(self) -> None:
        """Drop queued jobs and wait for running ones, so none reports to a deleted loader."""
        self.pool.clear()
        self.pool.waitForDone(2000)

    def clear(self) -> None:
        self.pool.clear()
        self.cache.clear()
        self.pending.clear()
        self.broken.clear()

    @Slot(str, QImage, str)
    def _store(self, name: str, image: QImage, reason: str) -> None:
        self.pending.discard(name)
        if reason:
            self.broken[name] = reason
        else:
            self.cache[name] = image
            while len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
        self.ready.emit(name)
