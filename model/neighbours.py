"""Chips that look alike to the network: nearest neighbours by cosine similarity of the pooled
features, near-identical pairs whose tags differ, and what a chip's neighbours say of its tags.

Exact search in numpy, a block of rows at a time: 36,000 chips x 512 features is a few seconds on
two cores, and exact results need no index to build or tune (nor a dependency for the app).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Two chips at or above this cosine similarity of their features count as near-duplicates. The
# pooled features are non-negative and alike for most chips (on the 852 full-size chips the
# median nearest neighbour is at 0.990), so the cut is high: at 0.999, 195 of the 852 chips have
# such a twin and 24 twin pairs are tagged differently (70 among the 3,547 validation chips at
# 32 px). Looked at, the top pairs are plain forest or plain cloud from different scenes, not the
# same scene twice: look-alikes to the network, where differing tags are worth a look.
NEAR_DUPLICATE = 0.999
TIE_SPARES = 4  # candidates kept beyond k, so a tie at the k-th place is settled by row
BLOCK_ROWS = 1024  # rows of the similarity matrix held at once: 1024 x 36,000 float32 = 150 MB


def unit_rows(features: np.ndarray) -> np.ndarray:
    """float32 rows scaled to length 1 (rows of zeros, or NaN, stay zero: similar to nothing).

    A chip has all its features or none (NaN), so only whole rows are checked: nan_to_num over
    36,000 x 512 values took most of a second on the window's thread."""
    features = np.asarray(features)
    x = np.zeros(features.shape, dtype=np.float32)
    have = ~np.isnan(features[:, 0]) if len(features) and features.shape[1] else np.zeros(0, bool)
    x[have] = features[have]
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    return np.divide(x, norms, out=np.zeros(x.shape, dtype=np.float32), where=norms > 0)


@dataclass(frozen=True)
class Neighbours:
    """For each chip (row), its k nearest other chips, most similar first."""

    index: np.ndarray  # (n, k) int: rows of the neighbours; -1 where fewer than k exist
    similarity: np.ndarray  # (n, k) float32 cosine similarity; -inf where index is -1


def nearest(
    features: np.ndarray,
    k: int,
    rows: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
    unit: bool = False,
) -> Neighbours:
    """The k most similar chips to each of `rows` (default all) among `candidates` (a boolean
    mask, default all), never a chip itself. Ties go to the lower row; a chip whose features are
    all zero is like nothing. `unit`: the rows are already `unit_rows` and `candidates` leaves out
    the zero rows (saves scaling and checking every chip for each question)."""
    given_unit = unit
    unit = np.asarray(features, np.float32) if given_unit else unit_rows(features)
    n = len(unit)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    allowed = np.ones(n, bool) if candidates is None else np.asarray(candidates, bool).copy()
    if not given_unit or candidates is None:
        allowed &= unit.any(axis=1)
    pool = np.flatnonzero(allowed)
    k_eff = min(k, max(len(pool) - 1, 0)) if len(pool) else 0
    index = np.full((len(rows), k), -1, dtype=np.int64)
    similarity = np.full((len(rows), k), -np.inf, dtype=np.float32)
    if k_eff == 0 or len(rows) == 0:
        return Neighbours(index, similarity)
    # Spares: one for the chip itself, and a few so that ties at the k-th place are all seen.
    take = min(k_eff + 1 + TIE_SPARES, len(pool))
    # The columns of the similarity matrix: every chip, those not allowed masked, unless the
    # candidates are few (their rows are then copied once, for fewer products). Copying 36,000
    # x 512 floats cost 25-130 ms of a question about one chip, whose product costs 5.
    if 2 * len(pool) >= n:
        columns, column_rows, blocked = np.arange(n), unit, np.flatnonzero(~allowed)
    else:
        columns, column_rows, blocked = pool, unit[pool], np.zeros(0, np.int64)
    column_of = np.full(n, -1, dtype=np.int64)
    column_of[columns] = np.arange(len(columns))
    for start in range(0, len(rows), BLOCK_ROWS):
        block = rows[start : start + BLOCK_ROWS]
        sims = unit[block] @ column_rows.T
        if len(blocked):
            sims[:, blocked] = -np.inf
        own = column_of[block]
        sims[np.flatnonzero(own >= 0), own[own >= 0]] = -np.inf  # never its own neighbour
        sims[~unit[block].any(axis=1)] = -np.inf  # a chip without features has none
        # argpartition for the top `take`, then a stable sort of those by similarity.
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        top_sims = np.take_along_axis(sims, top, axis=1)
        # Identical chips are equally similar, but BLAS may compute their two products to a
        # different last bit (by which column of its tile they fall in): rank on 6 decimals so
        # that such ties go to the lower row, as documented (columns are in row order).
        order = np.lexsort((top, -np.round(top_sims, 6)), axis=1)
        top = np.take_along_axis(top, order, axis=1)[:, :k_eff]
        top_sims = np.take_along_axis(top_sims, order, axis=1)[:, :k_eff]
        found = np.isfinite(top_sims)
        index[start : start + len(block), :k_eff] = np.where(found, columns[top], -1)
        similarity[start : start + len(block), :k_eff] = top_sims
    return Neighbours(index, similarity)


def neighbour_share(neighbours: Neighbours, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(share, count): per chip and tag, the share of its neighbours that carry the tag (n, 17),
    and how many neighbours it has (n,). A chip without neighbours has share NaN."""
    labels = np.asarray(labels, dtype=np.float32)
    valid = neighbours.index >= 0
    count = valid.sum(axis=1)
    carried = labels[np.where(valid, neighbours.index, 0)] * valid[:, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = carried.sum(axis=1) / count[:, None]
    return share.astype(np.float32), count


def disagreeing_duplicates(
    neighbours: Neighbours, labels: np.ndarray, labelled: np.ndarray, cutoff: float = NEAR_DUPLICATE
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, similarity), i < j, both labelled, at least `cutoff` alike, whose tags
    differ; most alike first. Found among each chip's neighbours (so k bounds how many twins a
    chip can have)."""
    labels = np.asarray(labels) > 0.5
    labelled = np.asarray(labelled, bool)
    pairs: dict[tuple[int, int], float] = {}
    rows, cols = np.nonzero((neighbours.similarity >= cutoff) & (neighbours.index >= 0))
    for i, c in zip(rows, cols):
        j = int(neighbours.index[i, c])
        a, b = (int(i), j) if i < j else (j, int(i))
        if labelled[a] and labelled[b] and (labels[a] != labels[b]).any():
            pairs[(a, b)] = float(neighbours.similarity[i, c])
    return sorted(((a, b, s) for (a, b), s in pairs.items()), key=lambda p: (-p[2], p[0], p[1]))
