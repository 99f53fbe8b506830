"""Each chip's small image and mean colour, decoded off the window's thread for the Overview's
colour per tag (model/chip_colours.py does the work)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QThread, Signal

from model import overview
from model.chip_colours import ChipColours, small_images
from model.errors import CancelledError


class ColourWorker(QThread):
    """One folder's chips, once; `done(images, broken)` at the end, `progress(done, total)`
    on the way. `stop()` ends it early and nothing more is reported."""

    progress = Signal(int, int)
    done = Signal(object)  # ChipColours

    def __init__(self, paths: list[Path], parent=None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.cancelled = threading.Event()

    def run(self) -> None:
        try:
            colours = small_images(
                self.paths, cancelled=self.cancelled, on_progress=self.progress.emit
            )
            colours.means  # noqa: B018  (computed once, here: off the window's thread)
        except CancelledError:
            return
        if not self.cancelled.is_set():
            self.done.emit(colours)

    def stop(self) -> None:
        self.cancelled.set()
        self.wait(5000)


class ColourSummary(QThread):
    """Colour per tag and the mean chip per tag for the tags at one moment, computed off the
    window's thread (a second or so on 36,000 chips when the machine is busy)."""

    done = Signal(object, object)  # colour per tag (DataFrame), mean chips (17, h, w, 3) uint8

    def __init__(self, tags: np.ndarray, colours: ChipColours, parent=None) -> None:
        super().__init__(parent)
        self.tags, self.colours = tags, colours

    def run(self) -> None:
        frame = overview.colour_per_tag(self.tags, self.colours.means)
        means = overview.mean_images(self.tags, self.colours.images, self.colours.read)
        self.done.emit(frame, means)
