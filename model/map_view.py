"""A map of the whole set: every chip placed in 2-D by its pooled features (PCA at once, UMAP
when it is ready and installed), the colour each chip takes, and which chips a drawn shape holds.
Plain numpy; gui/map_view.py draws it and computes layouts off the window's thread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.review import Review
from model.tags import TAG_INDEX

UMAP_MISSING = "UMAP needs umap-learn: pip install 'chip-audit[map]' (showing PCA)"
UMAP_NEIGHBOURS = 15  # umap-learn's default; the layout's seed is fixed, so a set maps the same


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
    centred = x[have] - x[have].mean(axis=0)
    # Eigenvectors of the d x d covariance: cheaper than an SVD of n x d for n in the 10,000s.
    values, vectors = np.linalg.eigh(centred.T @ centred)
    top = vectors[:, np.argsort(values)[::-1][:2]]
    out[have] = centred @ top
    return out


def umap_layout(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, 2) by UMAP on cosine distance (NaN where no features). ImportError when umap-learn is
    not installed: the caller says UMAP_MISSING and keeps PCA."""
    import umap  # optional: the "map" extra

    x = np.asarray(features, dtype=np.float32)
    have = ~np.isnan(x).any(axis=1)
    out = np.full((len(x), 2), np.nan, dtype=np.float32)
    if have.sum() <= UMAP_NEIGHBOURS:
        return pca_layout(features)
    reducer = umap.UMAP(n_neighbors=UMAP_NEIGHBOURS, metric="cosine", random_state=seed)
    out[have] = reducer.fit_transform(x[have])
    return out


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
