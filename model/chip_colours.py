"""Each chip small and its mean colour, for the Overview's colour per tag: decoded at a few
pixels (JPEG draft mode makes that a fraction of a full decode), an unreadable chip left as NaN
and named, the rest going on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from model.chips import decode_rgb
from model.errors import CancelledError, ChipAuditError

SMALL = 16


def small_images(
    paths: Sequence[Path],
    size: int = SMALL,
    cancelled: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    every: int = 1000,
) -> tuple[np.ndarray, dict[str, str]]:
    """(n, size, size, 3) float32 images (NaN for a chip that cannot be read) and
    {chip name: why} for those. Raises CancelledError when `cancelled` is set."""
    images = np.full((len(paths), size, size, 3), np.nan, dtype=np.float32)
    broken: dict[str, str] = {}
    for k, path in enumerate(paths):
        if cancelled is not None and cancelled.is_set():
            raise CancelledError("colour per tag cancelled")
        try:
            images[k] = decode_rgb(path, size)
        except ChipAuditError as exc:
            broken[Path(path).stem] = getattr(exc, "reason", str(exc))
        if on_progress is not None and (k + 1) % every == 0:
            on_progress(k + 1, len(paths))
    if on_progress is not None:
        on_progress(len(paths), len(paths))
    return images, broken


def mean_colours(images: np.ndarray) -> np.ndarray:
    """(n, 3): each chip's mean R, G, B; NaN where the chip was not read."""
    return np.asarray(images, dtype=np.float64).mean(axis=(1, 2))
