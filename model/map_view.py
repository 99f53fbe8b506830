"""A map of the whole set: every chip placed in 2-D by its pooled features (PCA at once, UMAP
when it is ready and installed), the colour each chip takes, and which chips a drawn shape holds.
Plain numpy; gui/map_view.py draws it and computes layouts off the window's thread."""

from __future__ import annotations

import importlib.util
import multiprocessing
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from model.review import Review
from model.tags import TAG_INDEX

UMAP_MISSING = "UMAP needs umap-learn: pip install 'chip-audit[map]' (showing PCA)"
UMAP_NEIGHBOURS = 15  # umap-learn's default
UMAP_DIMENSIONS = 50  # principal components UMAP works on (umap_layout says why)


@dataclass(frozen=True)
class Colouring:
    """What the colours mean: a category per chip and each category's name, in legend order."""

    category: np.ndarray  # (n,) int, an index into names
    names: tuple[str, ...]


COLOUR_MODES = ("crowd", "model", "disagreement", "suspicion")


def pca_layout(features: np.ndarray) -> np.ndarray:
    """(n, 2): the first two principal components of the rows with features (NaN elsewhere)."""
    x = np.asarray(features, dtype=np.float32)
    have = ~np.isnan(x).any(axis=1)
    out = np.full((len(x), 2), np.nan, dtype=np.float32)
    if have.sum() < 2:
        return out
    out[have] = principal_components(x[have], 2)
    return out


def principal_components(x: np.ndarray, k: int) -> np.ndarray:
    """(n, k): the rows of x, centred, on their first k principal axes."""
    centred = x - x.mean(axis=0)
    # Eigenvectors of the d x d covariance: cheaper than an SVD of n x d for n in the 10,000s.
    values, vectors = np.linalg.eigh(centred.T @ centred)
    return centred @ vectors[:, np.argsort(values)[::-1][:k]]


def _umap(points: np.ndarray, seed: int, n_epochs: int | None = None) -> np.ndarray:
    """umap-learn on these points, given their exact neighbours (scikit-learn's brute-force
    search, which comes with umap-learn): umap-learn's own approximate search (pynndescent) is
    compiled afresh in each process, over a minute on 2 cores, where the exact one on 50
    numbers a point takes seconds. Each point is its own first neighbour, as umap-learn has it."""
    import warnings

    import umap  # optional: the "map" extra
    from sklearn.neighbors import NearestNeighbors

    points = np.ascontiguousarray(points, dtype=np.float32)
    search = NearestNeighbors(n_neighbors=UMAP_NEIGHBOURS, algorithm="brute").fit(points)
    distance, index = search.kneighbors(points)
    reducer = umap.UMAP(
        n_neighbors=UMAP_NEIGHBOURS,
        metric="euclidean",
        init="pca",
        random_state=seed,
        n_jobs=1,  # what a fixed seed means to umap-learn anyway; said, it does not warn
        n_epochs=n_epochs,
        precomputed_knn=(index, distance, None),
    )
    with warnings.catch_warnings():  # "no search index: transform() unavailable": not used
        warnings.simplefilter("ignore", UserWarning)
        return reducer.fit_transform(points)


def umap_layout(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, 2) by UMAP (NaN where no features). ImportError when umap-learn is not installed: the
    caller says UMAP_MISSING and keeps PCA.

    UMAP runs on the first UMAP_DIMENSIONS principal components of the unit-length features, by
    Euclidean distance: on unit rows that orders neighbours as cosine similarity does, and 50
    numbers a chip instead of 512 make the exact neighbour search ten times cheaper
    (bench/gui_responsiveness.py --map times it in the app). The seed is fixed so that a set
    maps the same."""
    from model.neighbours import unit_rows

    x = np.asarray(features, dtype=np.float32)
    have = ~np.isnan(x).any(axis=1)
    out = np.full((len(x), 2), np.nan, dtype=np.float32)
    if have.sum() <= UMAP_NEIGHBOURS:
        return pca_layout(features)
    reduced = principal_components(unit_rows(x[have]), min(UMAP_DIMENSIONS, x.shape[1]))
    out[have] = _umap(reduced, seed)
    return out


def umap_available() -> bool:
    return importlib.util.find_spec("umap") is not None


def _warm_up() -> np.ndarray:
    """A throwaway layout of random points, for the compiling alone: UMAP's loops are compiled
    on first use in each process, which takes about as long as laying out 36,000 chips."""
    points = np.random.default_rng(0).random((300, UMAP_DIMENSIONS), dtype=np.float32)
    return _umap(points, 0, n_epochs=5)


def _layouts_in_child(requests: Connection, replies: Connection) -> None:
    """The child's loop: ("layout", shape, dtype, seed) followed by the features' raw bytes,
    or ("warm",), in; ("done", xy) or ("failed", why) out."""
    # umap-learn imports TensorFlow, where installed, for its ParametricUMAP (seconds and
    # hundreds of MB); this process has no use for it, and umap-learn goes on without it.
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]
    while True:
        try:
            request = requests.recv()
            if request[0] == "layout":
                _, shape, dtype, seed = request
                raw = requests.recv_bytes()
        except EOFError:  # the parent closed its end: done
            return
        try:
            if request[0] == "layout":
                features = np.frombuffer(raw, dtype=dtype).reshape(shape)
                xy = umap_layout(features, seed)
            else:
                xy = _warm_up()
            replies.send(("done", xy))
        except Exception as exc:  # everything goes back to the parent, which says it
            replies.send(("failed", f"{type(exc).__name__}: {exc}"))


class UmapProcess:
    """UMAP layouts in one child process, kept for the next layout; one request at a time (a
    second caller waits its turn, or gives up when cancelled).

    Why a process: UMAP's compiled loops hold the GIL, a tenth of a second or more per epoch on
    36,000 chips, so in a thread of the app they would stall the window 200 times over. Why kept,
    and warmed up: each new process compiles UMAP's loops again, 15 to 30 s on 2 cores, as long
    as the layout itself. A layout given up is given up by killing the child; the next one
    starts another."""

    def __init__(self) -> None:
        self._child: multiprocessing.process.BaseProcess | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None
        self._turn = threading.Lock()

    def layout(
        self, features: np.ndarray, seed: int = 0, cancelled: Callable[[], bool] | None = None
    ) -> np.ndarray | None:
        """`umap_layout(features, seed)` in the child; None when `cancelled()` turned true
        first. ImportError where umap-learn is missing; RuntimeError if the child fails.

        The features go as raw bytes, not pickled: pickling 36,000 chips' features (37 MB)
        copies them holding the GIL, which held the window 60-180 ms; writing the bytes to the
        pipe lets it go."""
        features = np.ascontiguousarray(features)
        header = ("layout", features.shape, features.dtype.str, seed)
        return self._ask(header, cancelled, payload=features)

    def warm(self, cancelled: Callable[[], bool] | None = None) -> None:
        """Start the child and have it compile UMAP's loops now, ahead of the first layout."""
        self._ask(("warm",), cancelled)

    def _ask(
        self,
        request: tuple,
        cancelled: Callable[[], bool] | None,
        payload: np.ndarray | None = None,
    ) -> np.ndarray | None:
        if not umap_available():
            raise ImportError("umap-learn is not installed")
        while not self._turn.acquire(timeout=0.2):
            if cancelled is not None and cancelled():
                return None
        try:
            return self._ask_in_turn(request, cancelled, payload)
        finally:
            self._turn.release()

    def _ask_in_turn(
        self, request: tuple, cancelled: Callable[[], bool] | None, payload: np.ndarray | None
    ) -> np.ndarray | None:
        self._start()
        assert self._child is not None and self._requests and self._replies
        self._requests.send(request)
        if payload is not None:
            self._requests.send_bytes(memoryview(payload).cast("B"))
        while not self._replies.poll(0.2):
            if cancelled is not None and cancelled():
                self.close(at_once=True)
                return None
            if not self._child.is_alive() and not self._replies.poll(0):
                code = self._child.exitcode
                self.close(at_once=True)
                raise RuntimeError(f"the UMAP process ended early (exit code {code})")
        try:
            kind, value = self._replies.recv()
        except EOFError:  # the child died without a word (killed, out of memory)
            code = self._child.exitcode
            self.close(at_once=True)
            raise RuntimeError(f"the UMAP process ended early (exit code {code})") from None
        if kind == "failed":
            raise RuntimeError(value)
        return value

    def _start(self) -> None:
        if self._child is not None and self._child.is_alive():
            return
        self.close(at_once=True)
        context = multiprocessing.get_context("spawn")  # no forked copy of Qt's or Keras' threads
        child_requests, self._requests = context.Pipe(duplex=False)
        self._replies, child_replies = context.Pipe(duplex=False)
        self._child = context.Process(
            target=_layouts_in_child,
            args=(child_requests, child_replies),
            name="umap-layout",
            daemon=True,
        )
        self._child.start()
        child_requests.close()
        child_replies.close()

    def close(self, at_once: bool = False) -> None:
        """End the child: an idle one is asked to (its request pipe closed) and given 2 s, a
        busy one, or `at_once`, is killed."""
        child, self._child = self._child, None
        if self._requests is not None:
            self._requests.close()
        if child is not None:
            if not at_once:
                child.join(2.0)
            if child.is_alive():
                child.kill()
            child.join()
        if self._replies is not None:
            self._replies.close()
        self._requests = self._replies = None


def colouring(review: Review, mode: str, tag: str) -> Colouring:
    """Each chip's category under `mode` for `tag` (suspicion ignores the tag)."""
    n = len(review)
    t = TAG_INDEX[tag]
    labelled, predicted = review.has_label, review.predicted
    category = np.zeros(n, dtype=np.int64)
    if mode == "crowd":
        category[labelled] = np.where(review.current[labelled, t] > 0.5, 2, 1)
        return Colouring(category, ("no label", f"no {tag}", tag))
    if mode == "model":
        category[predicted] = np.where(review.calls[predicted, t], 2, 1)
        return Colouring(category, ("not predicted", f"model: no {tag}", f"model: {tag}"))
    if mode == "disagreement":
        known = labelled & predicted
        crowd = review.current[:, t] > 0.5
        calls = review.calls[:, t]
        category[known] = 1
        category[known & calls & ~crowd] = 2
        category[known & ~calls & crowd] = 3
        names = ("unknown", "agree", f"model {tag}, crowd not", f"crowd {tag}, model not")
        return Colouring(category, names)
    if mode == "suspicion":
        return Colouring(
            review.suspicion_levels().astype(np.int64), ("none", "low", "medium", "high")
        )
    raise ValueError(f"no such colouring: {mode}")


def in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points (n, 2) lie inside the closed polygon (m, 2), by counting edge crossings of a
    ray to the right (even-odd rule); NaN points are outside."""
    points = np.asarray(points, dtype=np.float64)
    polygon = np.asarray(polygon, dtype=np.float64)
    inside = np.zeros(len(points), dtype=bool)
    if len(polygon) < 3:
        return inside
    x, y = points[:, 0], points[:, 1]
    for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0)):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return inside


def in_rectangle(points: np.ndarray, corner_a, corner_b) -> np.ndarray:
    (xa, ya), (xb, yb) = corner_a, corner_b
    x, y = points[:, 0], points[:, 1]
    return (x >= min(xa, xb)) & (x <= max(xa, xb)) & (y >= min(ya, yb)) & (y <= max(ya, yb))
