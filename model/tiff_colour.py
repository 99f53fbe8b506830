"""Planet's analytic TIFFs in the colours of Planet's visual JPEGs, and what to tell the user.

The bundled model learnt from the visual JPEGs. An analytic TIFF holds sensor counts (16-bit,
bands B, G, R, NIR); a per-chip percentile stretch of them loses what the JPEG keeps (absolute
brightness: haze and cloud look alike once stretched; the visual product's colour balance). So
true colour goes through one fixed curve per band, fitted once on TIFF/JPEG pairs of the same
chips (`model.tiff_colour_fit`, `bench/tiff_mapping.py`) and shipped as data beside the model:

    visual = gain * ln(counts - dark) + bias, rounded and clipped to 0..255

Three numbers per band, nine in all; increasing in the counts wherever gain > 0, which loading
checks.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from model.errors import ModelError
from model.paths import BUNDLED_MODEL

MAPPING_PATH = BUNDLED_MODEL.parent / "tiff_to_visual.json"
MAPPING_FORMAT = 1
# Output channels (R, G, B) and the analytic band each is read from (B, G, R, NIR order).
CHANNELS = ("red", "green", "blue")
SOURCE_BAND = {"red": 2, "green": 1, "blue": 0}
PARAMETERS = ("gain", "dark", "bias")


@dataclass(frozen=True)
class BandCurve:
    """One output channel: gain * ln(counts - dark) + bias, in 0..255 units."""

    gain: float
    dark: float
    bias: float

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """Float values (unclipped) for counts; counts at or below `dark` map far below 0."""
        above = np.maximum(np.asarray(counts, dtype=np.float64) - self.dark, 1e-3)
        return self.gain * np.log(above) + self.bias

    def table(self) -> np.ndarray:
        """The curve for every 16-bit count as uint8: applying it is then one lookup."""
        values = self(np.arange(65536, dtype=np.float64))
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class VisualMapping:
    """The three curves, where they came from (`fit`) and how well they did (`check`)."""

    curves: dict[str, BandCurve]
    fit: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)

    @property
    def parameter_count(self) -> int:
        return len(self.curves) * len(PARAMETERS)

    def apply(self, bands: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB from (H, W, 4) uint16 analytic bands."""
        tables = self._tables
        out = np.empty((*bands.shape[:2], 3), dtype=np.uint8)
        for i, channel in enumerate(CHANNELS):
            out[..., i] = tables[i][bands[..., SOURCE_BAND[channel]]]
        return out

    @cached_property
    def _tables(self) -> list[np.ndarray]:
        # Built on first use (a few ms); decoding threads then share them read-only.
        return [self.curves[c].table() for c in CHANNELS]

    def to_json(self) -> str:
        data = {
            "format": MAPPING_FORMAT,
            "what": (
                "Planet analytic TIFF (bands B, G, R, NIR; 16-bit counts) to the visual JPEG's "
                "RGB: per channel, value = gain * ln(counts - dark) + bias, rounded and clipped "
                "to 0..255; red from band 3, green from band 2, blue from band 1"
            ),
            "curves": {c: {p: getattr(self.curves[c], p) for p in PARAMETERS} for c in CHANNELS},
            "fit": self.fit,
            "check": self.check,
        }
        return json.dumps(data, indent=2) + "\n"


def read_mapping(path: str | os.PathLike[str]) -> VisualMapping:
    """The mapping in a JSON file; a clear ModelError naming the file if it is unusable."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: TIFF colour mapping missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable TIFF colour mapping ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("curves"), dict):
        raise ModelError(f"{path}: not a TIFF colour mapping (no curves)")
    if raw.get("format", MAPPING_FORMAT) > MAPPING_FORMAT:
        raise ModelError(f"{path}: mapping format {raw['format']} is newer than this app knows")
    curves = {}
    for channel in CHANNELS:
        values = raw["curves"].get(channel)
        try:
            curve = BandCurve(*(float(values[p]) for p in PARAMETERS))
        except (TypeError, KeyError, ValueError):
            raise ModelError(f"{path}: the {channel} curve lacks {', '.join(PARAMETERS)}") from None
        if not (curve.gain > 0 and all(np.isfinite([curve.gain, curve.dark, curve.bias]))):
            # A falling curve would turn bright land dark: never show that as true colour.
            raise ModelError(f"{path}: the {channel} curve is not increasing (gain {curve.gain})")
        curves[channel] = curve
    return VisualMapping(curves, raw.get("fit", {}), raw.get("check", {}))


@lru_cache(maxsize=1)
def shipped_mapping() -> VisualMapping:
    """The mapping beside the bundled model, read once (a failed read is tried again)."""
    return read_mapping(MAPPING_PATH)


def tiff_notice(model_path: str | os.PathLike[str] | None = None) -> str:
    """The sentence to show for a folder with TIFFs: how they are coloured, and how far the
    bundled model's calls on them can be trusted, with the figures measured when the mapping
    was fitted. `model_path` is the active model; the figures are the bundled model's."""
    try:
        mapping = shipped_mapping()
    except ModelError as exc:
        return f"4-band TIFFs here cannot be shown in true colour: {exc}"
    check = mapping.check
    try:
        n = int(check["n_chips"])
        loo = float(check["samples_f2"]["mapped_leave_one_out"])
        jpeg = float(check["samples_f2"]["jpeg"])
    except (KeyError, TypeError, ValueError):
        return (
            "4-band TIFFs here are shown and classified through a fixed colour mapping fitted to "
            "Planet's JPEG chips; how well the model reads them has not been measured."
        )
    whose = "the model's"
    if model_path is not None and Path(model_path).resolve() != BUNDLED_MODEL.resolve():
        whose = "the bundled model's (not the one in use)"
    return (
        "4-band TIFFs here are shown and classified through a fixed colour mapping fitted to "
        f"Planet's JPEG chips: on {n} sample TIFFs, mapped without seeing them, {whose} samples F2 "
        f"was {loo:.2f} against {jpeg:.2f} on the same chips' JPEGs ({n} chips: a rough check)."
    )
