"""The whole set at a glance: tag counts, co-occurrence, colour per tag, where the model and the
crowd disagree, and how each tag's scores move with its threshold.

Every function takes (n_chips, 17) tag matrices in TAGS order (0/1 or bool) and returns a pandas
DataFrame, so the Overview's charts, their CSV exports and `python main.py stats` read the same
numbers. `chips_*` functions answer a chart click: the rows behind one bar or cell.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from model.files import atomic_write_text
from model.metrics import LAND_INDICES
from model.tags import LAND_TAGS, TAG_INDEX, TAGS, WEATHER_INDICES, WEATHER_TAGS

COUNT_SOURCES = ("crowd", "now", "model")
CURVE_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)
YES_NO = "model_yes_crowd_no"
NO_YES = "model_no_crowd_yes"


def _bool(tags: np.ndarray) -> np.ndarray:
    return np.asarray(tags) > 0.5 if np.asarray(tags).dtype != bool else np.asarray(tags)


def tag_counts(**sources: np.ndarray) -> pd.DataFrame:
    """Chips carrying each tag, one column per source (e.g. crowd=, now=, model=)."""
    return pd.DataFrame(
        {name: _bool(tags).sum(axis=0) for name, tags in sources.items()},
        index=pd.Index(TAGS, name="tag"),
    )


def cooccurrence(tags: np.ndarray) -> pd.DataFrame:
    """17x17 chips carrying both tags; the diagonal is each tag's count."""
    as_int = _bool(tags).astype(np.int64)
    return pd.DataFrame(
        as_int.T @ as_int,
        index=pd.Index(TAGS, name="tag"),
        columns=pd.Index(TAGS, name="with"),
    )


def row_normalised(co: pd.DataFrame) -> pd.DataFrame:
    """Each row divided by its diagonal: of the chips with the row's tag, the share that also
    carry the column's (0 where the row's tag has no chip)."""
    diagonal = np.diag(co.to_numpy()).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(diagonal[:, None] > 0, co.to_numpy() / diagonal[:, None], 0.0)
    return pd.DataFrame(shares, index=co.index, columns=co.columns)


def chips_with(tags: np.ndarray, *names: str) -> np.ndarray:
    """Rows carrying every one of the named tags."""
    t = _bool(tags)
    return np.flatnonzero(t[:, [TAG_INDEX[n] for n in names]].all(axis=1))


def weather_confusion(calls: np.ndarray, crowd: np.ndarray, known: np.ndarray) -> pd.DataFrame:
    """4x4: chips with each crowd weather tag (rows) by the model's weather call (columns).

    Only labelled, predicted chips (`known`) with exactly one crowd weather tag count: a chip
    with none or two breaks a rule, which the grid flags on its own."""
    rows = _weather_rows(crowd, known)
    c = _bool(crowd)[rows][:, WEATHER_INDICES]
    m = _bool(calls)[rows][:, WEATHER_INDICES]
    table = c.astype(np.int64).T @ m.astype(np.int64)
    return pd.DataFrame(
        table,
        index=pd.Index(WEATHER_TAGS, name="crowd"),
        columns=pd.Index(WEATHER_TAGS, name="model"),
    )


def _weather_rows(crowd: np.ndarray, known: np.ndarray) -> np.ndarray:
    one_weather = _bool(crowd)[:, WEATHER_INDICES].sum(axis=1) == 1
    return np.flatnonzero(np.asarray(known, bool) & one_weather)


def chips_in_weather_cell(
    calls: np.ndarray, crowd: np.ndarray, known: np.ndarray, crowd_tag: str, model_tag: str
) -> np.ndarray:
    rows = _weather_rows(crowd, known)
    c, m = _bool(crowd)[rows], _bool(calls)[rows]
    hit = c[:, TAG_INDEX[crowd_tag]] & m[:, TAG_INDEX[model_tag]]
    return rows[hit]


def land_disagreements(calls: np.ndarray, crowd: np.ndarray, known: np.ndarray) -> pd.DataFrame:
    """Per land tag, labelled and predicted chips (`known`) where the model says yes and the
    crowd no, and where the model says no and the crowd yes."""
    k = np.asarray(known, bool)
    m, c = _bool(calls)[k][:, LAND_INDICES], _bool(crowd)[k][:, LAND_INDICES]
    return pd.DataFrame(
        {YES_NO: (m & ~c).sum(axis=0), NO_YES: (~m & c).sum(axis=0)},
        index=pd.Index(LAND_TAGS, name="tag"),
    )


def chips_disagreeing(
    calls: np.ndarray, crowd: np.ndarray, known: np.ndarray, tag: str, kind: str
) -> np.ndarray:
    """Rows where the model and the crowd disagree on `tag` the `kind` way (YES_NO or NO_YES)."""
    i = TAG_INDEX[tag]
    m, c = _bool(calls)[:, i], _bool(crowd)[:, i]
    hit = (m & ~c) if kind == YES_NO else (~m & c)
    return np.flatnonzero(hit & np.asarray(known, bool))


def threshold_curve(
    probs: np.ndarray, truth: np.ndarray, grid: np.ndarray = CURVE_GRID
) -> pd.DataFrame:
    """One tag's precision, recall, F1 and F2 at each threshold of `grid` (the plain rule: called
    where the probability reaches the threshold), with scikit-learn's zero where undefined.

    Sorted once, so a whole curve over 36,000 chips costs a few milliseconds."""
    p = np.asarray(probs, dtype=np.float64)
    t = _bool(truth)
    keep = ~np.isnan(p)
    p, t = p[keep], t[keep]
    order = np.sort(p)
    positives = np.sort(p[t])
    called = len(order) - np.searchsorted(order, grid, side="left")
    tp = len(positives) - np.searchsorted(positives, grid, side="left")
    support = len(positives)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(called > 0, tp / called, 0.0)
        recall = tp / support if support else np.zeros(len(grid))
        f1 = np.where(support + called > 0, 2 * tp / (support + called), 0.0)
        f2 = np.where(4 * support + called > 0, 5 * tp / (4 * support + called), 0.0)
    return pd.DataFrame(
        {
            "threshold": grid,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "f2": f2,
            "called": called,
            "true_positives": tp,
        }
    )


def colour_per_tag(tags: np.ndarray, mean_rgb: np.ndarray) -> pd.DataFrame:
    """Mean R, G, B (0-255) of the chips with each tag, from each chip's own mean colour; chips
    whose colour is unknown (NaN: not decoded, unreadable) are left out and not counted."""
    rgb = np.asarray(mean_rgb, dtype=np.float64)
    seen = ~np.isnan(rgb).any(axis=1)
    t = _bool(tags)[seen].astype(np.float64)
    n = t.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = (t.T @ rgb[seen]) / n[:, None]
    return pd.DataFrame(
        {"r": means[:, 0], "g": means[:, 1], "b": means[:, 2], "chips": n.astype(np.int64)},
        index=pd.Index(TAGS, name="tag"),
    )


def mean_images(tags: np.ndarray, small: np.ndarray, read: np.ndarray) -> np.ndarray:
    """(17, h, w, 3) uint8: the mean of the small chip images (n, h, w, 3) carrying each tag,
    over the chips `read` (black where a tag has none). Summed in blocks, so 36,000 chips take
    neither a float copy of them all nor long."""
    weights = (_bool(tags) & np.asarray(read, bool)[:, None]).astype(np.float32)
    flat = np.asarray(small).reshape(len(small), -1)
    sums = np.zeros((flat.shape[1], weights.shape[1]), dtype=np.float64)
    for start in range(0, len(flat), 4096):
        block = slice(start, start + 4096)
        # (pixels, chips) @ (chips, tags): the order OpenBLAS runs ten times faster here
        sums += flat[block].astype(np.float32).T @ weights[block]
    sums = sums.T
    n = weights.sum(axis=0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(n > 0, sums / n, 0.0)
    return np.clip(np.round(means), 0, 255).astype(np.uint8).reshape((len(TAGS), *small.shape[1:]))


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """A chart's numbers as CSV, written whole or not at all."""
    atomic_write_text(path, frame.to_csv(float_format="%.6g", lineterminator="\n"))


def labels_overview(
    labels: dict[str, tuple[str, ...]], mean_rgb: np.ndarray | None = None
) -> dict[str, pd.DataFrame]:
    """The study's charts for a labels file alone (`python main.py stats`): tag counts,
    co-occurrence (counts and row shares) and, given each chip's mean colour in the labels'
    order, colour per tag."""
    names = list(labels)
    matrix = np.zeros((len(names), len(TAGS)), dtype=bool)
    for row, name in enumerate(names):
        for tag in labels[name]:
            matrix[row, TAG_INDEX[tag]] = True
    co = cooccurrence(matrix)
    frames = {
        "tag_counts": tag_counts(crowd=matrix),
        "cooccurrence": co,
        "cooccurrence_share": row_normalised(co),
    }
    if mean_rgb is not None:
        frames["colour_per_tag"] = colour_per_tag(matrix, mean_rgb)
    return frames
