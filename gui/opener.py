"""Opening a folder off the window's thread: listing 36,000 chips, reading their labels and
opening the session take over a second, during which the window keeps drawing and answering.

Each open has an id; only the latest one's review is handed over, and an older one that finishes
later is closed unseen (the user has since asked for another folder).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from model.card import ModelCard
from model.errors import ChipAuditError, LabelsError
from model.review import Review, open_review


@dataclass(frozen=True)
class OpenRequest:
    folder: Path
    labels: Path | None = None
    use_labels: bool = True
    card: ModelCard | None = None  # the active model's card: its cached predictions come along


class FolderOpener(QObject):
    opened = Signal(object, object)  # OpenRequest, Review
    failed = Signal(object, str, bool)  # OpenRequest, message, the labels file was the problem
    _done = Signal(int, object, object, str, bool)  # id, request, review or None, error, labels

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._latest = 0
        self._done.connect(self._deliver)  # emitted from the opening thread: queued here

    @property
    def busy(self) -> bool:
        return self._latest != 0

    def open(self, request: OpenRequest) -> None:
        self._latest = open_id = next(self._ids)
        threading.Thread(
            target=self._work, args=(open_id, request), name="open-folder", daemon=True
        ).start()

    def cancel(self) -> None:
        """Whatever is being opened is closed when it arrives."""
        self._latest = 0

    def _work(self, open_id: int, request: OpenRequest) -> None:
        try:
            review = open_review(request.folder, request.labels, request.use_labels, request.card)
        except ChipAuditError as exc:
            self._done.emit(open_id, request, None, str(exc), isinstance(exc, LabelsError))
        except Exception as exc:  # the window must hear of it, whatever it was
            self._done.emit(open_id, request, None, f"{type(exc).__name__}: {exc}", False)
        else:
            self._done.emit(open_id, request, review, "", False)

    @Slot(int, object, object, str, bool)
    def _deliver(
        self,
        open_id: int,
        request: OpenRequest,
        review: Review | None,
        error: str,
        labels_problem: bool,
    ) -> None:
        if open_id != self._latest:
            if review is not None:
                review.close()
            return
        self._latest = 0
        if review is None:
            self.failed.emit(request, error, labels_problem)
        else:
            self.opened.emit(request, review)
