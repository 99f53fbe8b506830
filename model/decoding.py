"""Decode many chips into arrays, a batch ahead of the consumer.

Pillow releases the GIL while it decodes, so a background thread keeps the next batch ready while
the classifier works on this one: decoding stays off the critical path.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.chips import decode_rgb
from model.errors import CancelledError, ChipError

CancelFlag = Callable[[], bool]


@dataclass
class DecodedBatch:
    """Chips that decoded (names, images) and those that did not (errors), from one batch."""

    names: list[str]
    images: np.ndarray  # (n, size, size, 3) uint8
    errors: list[ChipError] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


def decode_batch(
    paths: Sequence[Path], size: int, pool: ThreadPoolExecutor | None = None
) -> DecodedBatch:
    """Decode `paths` to size x size RGB; a bad chip becomes an error, the rest go on."""

    def one(path: Path) -> np.ndarray | ChipError:
        try:
            return decode_rgb(path, size)
        except ChipError as exc:
            return exc

    results = list(pool.map(one, paths)) if pool is not None else [one(p) for p in paths]
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    names: list[str] = []
    kept: list[Path] = []
    errors: list[ChipError] = []
    for path, result in zip(paths, results):
        if isinstance(result, ChipError):
            errors.append(result)
            continue
        images[len(names)] = result
        names.append(path.stem)
        kept.append(path)
    return DecodedBatch(names, images[: len(names)], errors, kept)


def iter_decoded(
    paths: Sequence[Path],
    size: int,
    batch_size: int = 64,
    cancel: CancelFlag | None = None,
    workers: int = 2,
    prefetch: int = 2,
) -> Iterator[DecodedBatch]:
    """Yield decoded batches in order, decoding up to `prefetch` batches ahead in threads."""
    chunks = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
    ready: queue.Queue[DecodedBatch | BaseException | None] = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def produce() -> None:
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
                for chunk in chunks:
                    if stop.is_set():
                        return
                    batch = decode_batch(chunk, size, pool)
                    while not stop.is_set():
                        try:
                            ready.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
            ready.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            ready.put(exc)

    producer = threading.Thread(target=produce, name="decode-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            if cancel is not None and cancel():
                raise CancelledError("cancelled")
            item = ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while producer.is_alive():  # drain so a blocked put can finish
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        producer.join()


def decode_all(
    paths: Sequence[Path],
    size: int,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelFlag | None = None,
    batch_size: int = 256,
) -> DecodedBatch:
    """Every chip decoded into one array (for training and evaluation sets)."""
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    names: list[str] = []
    kept: list[Path] = []
    errors: list[ChipError] = []
    done = 0
    for batch in iter_decoded(paths, size, batch_size, cancel):
        images[len(names) : len(names) + len(batch.names)] = batch.images
        names.extend(batch.names)
        kept.extend(batch.paths)
        errors.extend(batch.errors)
        done += len(batch.names) + len(batch.errors)
        if progress is not None:
            progress(done, len(paths))
    return DecodedBatch(names, images[: len(names)], errors, kept)
