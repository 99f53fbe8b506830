"""Each chip small and its mean colour, for colour per tag: decoded at a few pixels (JPEG draft
mode makes that a fraction of a full decode), an unreadable chip named and left out, the rest
going on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from model.chips import decode_rgb
from model.errors import CancelledError, ChipAuditError

SMALL = 16


@dataclass(frozen=True)
class ChipColours:
    images: np.ndarray  # (n, size, size, 3) uint8; zeros where not read (4 MB per 16,000 chips)
    read: np.ndarray  # (n,) bool
    broken: dict[str, str]  # chip name -> why it could not be read

    @cached_property
    def means(self) -> np.ndarray:
        """(n, 3) mean R, G, B of each chip; NaN where it was not read (computed once)."""
        n = len(self.images)
        means = self.images.reshape(n, -1, 3).mean(axis=1)
        means[~self.read] = np.nan
        return means


def small_images(
    paths: Sequence[Path],
    size: int = SMALL,
    cancelled: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    every: int = 1000,
) -> ChipColours:
    """Every chip at size x size. Raises CancelledError when `cancelled` is set."""
    images = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    read = np.zeros(len(paths), dtype=bool)
    broken: dict[str, str] = {}
    for k, path in enumerate(paths):
        if cancelled is not None and cancelled.is_set():
            raise CancelledError("colour per tag cancelled")
        try:
            images[k] = decode_rgb(path, size)
            read[k] = True
        except ChipAuditError as exc:
            broken[Path(path).stem] = getattr(exc, "reason", str(exc))
        if on_progress is not None and (k + 1) % every == 0:
            on_progress(k + 1, len(paths))
    if on_progress is not None:
        on_progress(len(paths), len(paths))
    return ChipColours(images, read, broken)
