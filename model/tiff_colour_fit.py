"""Fit the TIFF-to-visual curves (`model.tiff_colour`) on TIFF/JPEG pairs of the same chips.

Pixel pairs are only meaningful if the two files are aligned, so each pair's offset is found
first (the correlation of the TIFF's green band with the JPEG's green channel, over whole-pixel
shifts); a pair whose best offset is no clear match (a featureless cloud) is taken as it is.
Each channel's three numbers are then a robust least-squares fit (SciPy) over the pooled pixels.
Deterministic: the same pairs give the same numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.chips import decode_rgb, natural_key, read_bands
from model.errors import ChipAuditError
from model.tiff_colour import CHANNELS, SOURCE_BAND, BandCurve, VisualMapping

MAX_SHIFT = 3  # pixels each way: the pairs here are off by at most 2
MARGIN = MAX_SHIFT  # border left out of every comparison, so that any shift stays inside
CLEAR_MATCH = 0.9  # correlation an offset must reach to be believed
STRIDE = 2  # every other pixel each way: a quarter of them is plenty for nine numbers
ROBUST_SCALE = 5.0  # 0..255 units: residuals beyond it (JPEG artefacts) count less


@dataclass(frozen=True)
class Pair:
    """One chip as an analytic TIFF (H, W, 4 uint16) and as Planet's visual JPEG (H, W, 3)."""

    name: str
    bands: np.ndarray
    visual: np.ndarray


@dataclass(frozen=True)
class Offset:
    """The TIFF's pixel (y, x) shows what the JPEG's (y + dy, x + dx) does."""

    dy: int
    dx: int
    correlation_at_zero: float
    correlation: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "dy": self.dy,
            "dx": self.dx,
            "correlation_at_zero": round(self.correlation_at_zero, 4),
            "correlation": round(self.correlation, 4),
        }


def load_pairs(tif_dir: str | os.PathLike[str], jpeg_dir: str | os.PathLike[str]) -> list[Pair]:
    """Every TIFF in tif_dir with a JPEG of the same name in jpeg_dir, in natural order."""
    tiffs = sorted(Path(tif_dir).glob("*.tif"), key=lambda p: natural_key(p.name))
    pairs = []
    for tif in tiffs:
        jpeg = Path(jpeg_dir) / f"{tif.stem}.jpg"
        if jpeg.is_file():
            pairs.append(Pair(tif.stem, read_bands(tif), decode_rgb(jpeg)))
    if not pairs:
        raise ChipAuditError(f"{tif_dir}: no TIFF with a JPEG of the same name in {jpeg_dir}")
    return pairs


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The interior of `image` moved by (dy, dx): compare with `_interior` of the other file."""
    h, w = image.shape[:2]
    return image[MARGIN - dy : h - MARGIN - dy, MARGIN - dx : w - MARGIN - dx]


def _interior(image: np.ndarray) -> np.ndarray:
    return _shifted(image, 0, 0)


def find_offset(pair: Pair) -> Offset:
    """The whole-pixel shift that best lines the TIFF up with its JPEG (green on green)."""
    target = _interior(pair.visual[..., 1]).astype(np.float64).ravel()
    green = pair.bands[..., SOURCE_BAND["green"]].astype(np.float64)

    def correlation(dy: int, dx: int) -> float:
        return float(np.corrcoef(_shifted(green, dy, dx).ravel(), target)[0, 1])

    shifts = range(-MAX_SHIFT, MAX_SHIFT + 1)
    scores = {(dy, dx): correlation(dy, dx) for dy in shifts for dx in shifts}
    (dy, dx), best = max(scores.items(), key=lambda item: item[1])
    at_zero = scores[(0, 0)]
    if best < CLEAR_MATCH:  # no texture to line up: any "best" shift is noise
        dy, dx, best = 0, 0, at_zero
    return Offset(dy, dx, at_zero, best)


def aligned(
    pair: Pair, offset: Offset, image: np.ndarray | None = None, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(TIFF-side pixels, JPEG pixels) over the shared interior, each (N, channels), taking
    every `stride`-th row and column. `image` is something made from the TIFF (a mapped or
    stretched RGB); the bands by default."""
    source = pair.bands if image is None else image
    moved = _shifted(source, offset.dy, offset.dx)[::stride, ::stride]
    visual = _interior(pair.visual)[::stride, ::stride]
    return moved.reshape(-1, source.shape[2]), visual.reshape(-1, 3)


def mean_abs_difference(pair: Pair, offset: Offset, rgb: np.ndarray) -> np.ndarray:
    """Per channel (R, G, B), the mean |rgb - JPEG| in 0..255 units over the aligned pixels."""
    ours, theirs = aligned(pair, offset, rgb)
    return np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).mean(axis=0)


def _fit_curve(counts: np.ndarray, visual: np.ndarray) -> BandCurve:
    from scipy.optimize import least_squares  # only fitting needs SciPy

    x, y = counts.astype(np.float64), visual.astype(np.float64)
    floor = float(x.min())

    def residuals(p: np.ndarray) -> np.ndarray:
        gain, dark, bias = p
        return np.clip(gain * np.log(x - dark) + bias, 0, 255) - y

    start_dark = 0.5 * floor
    gain, bias = np.polyfit(np.log(x - start_dark), y, 1)
    result = least_squares(
        residuals,
        x0=[max(gain, 1.0), start_dark, bias],
        bounds=([0.0, -65535.0, -np.inf], [np.inf, floor - 1.0, np.inf]),
        loss="soft_l1",
        f_scale=ROBUST_SCALE,
        x_scale="jac",
    )
    gain, dark, bias = (float(v) for v in result.x)
    return BandCurve(round(gain, 4), round(dark, 2), round(bias, 4))


def fit_mapping(pairs: list[Pair], offsets: dict[str, Offset] | None = None) -> VisualMapping:
    """Three curves fitted on the pooled, aligned pixels of `pairs`; offsets found if not given."""
    if offsets is None:
        offsets = {p.name: find_offset(p) for p in pairs}
    counts, visual = [], []
    for pair in pairs:
        ours, theirs = aligned(pair, offsets[pair.name], stride=STRIDE)
        counts.append(ours)
        visual.append(theirs)
    x, y = np.concatenate(counts), np.concatenate(visual)
    curves = {
        channel: _fit_curve(x[:, SOURCE_BAND[channel]], y[:, i])
        for i, channel in enumerate(CHANNELS)
    }
    fit = {
        "pairs": [p.name for p in pairs],
        "offsets": {p.name: offsets[p.name].as_dict() for p in pairs},
        "pixels_per_channel": int(len(x)),
        "method": (
            f"whole-pixel offsets (|shift| <= {MAX_SHIFT}, kept where correlation >= "
            f"{CLEAR_MATCH}); a {MARGIN}-pixel border left out; every {STRIDE}nd pixel each way; "
            f"scipy.optimize.least_squares, soft_l1 loss with scale {ROBUST_SCALE}"
        ),
    }
    return VisualMapping(curves, fit)
