"""Fit the TIFF-to-visual colour curves on the TIFF/JPEG pairs, check them, and write the JSON
the app ships (resources/model/tiff_to_visual.json): the curves, where they came from, and the
figures below, which the app's note about TIFFs quotes.

The check, on the same chips with the same model and labels:
  - pixels: mean absolute difference per channel (0..255) between what the app makes of the TIFF
    and the chip's JPEG, over aligned pixels: today's per-chip stretch, the curves fitted on all
    pairs (in sample), and leave-one-out (each chip mapped by curves fitted on the others);
  - the model: samples F2 / F1 on the JPEGs, on the stretched TIFFs, mapped in sample, mapped
    leave-one-out; with 95% bootstrap intervals over chips, since 16 chips say little.

Usage (about a minute; needs SciPy, in the test extra):

    python bench/tiff_mapping.py [--data DIR] [--model M.keras] [--out JSON | --dry-run]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import common
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONDITIONS = ("jpeg", "stretch", "mapped_in_sample", "mapped_leave_one_out")
RESAMPLES = 10_000
SEED = 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from model.paths import BUNDLED_MODEL
    from model.tiff_colour import MAPPING_PATH

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=common.PLANET, help="tif/, chips/, labels")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="the model to check")
    parser.add_argument("--out", type=Path, default=MAPPING_PATH, help="the JSON to write")
    parser.add_argument("--dry-run", action="store_true", help="print, write nothing")
    return parser.parse_args(argv)


def bootstrap_interval(values: np.ndarray, rng: np.random.Generator) -> list[float]:
    """95% interval of the mean of per-chip values, chips drawn with replacement."""
    draws = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    means = values[draws].mean(axis=1)
    return [round(float(v), 4) for v in np.percentile(means, [2.5, 97.5])]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2
    from model.chips import decode_rgb, resize_rgb, stretch
    from model.errors import ChipAuditError
    from model.labels import label_matrix, read_labels
    from model.metrics import fbeta_per_sample
    from model.predicting import load_model
    from model.tiff_colour_fit import find_offset, fit_mapping, load_pairs, mean_abs_difference

    started = time.monotonic()
    try:
        pairs = load_pairs(args.data / "tif", args.data / "chips")
        labels = read_labels(args.data / "chips_labels.csv")
        classifier = load_model(args.model)
    except ChipAuditError as exc:
        print(exc, file=sys.stderr)
        return 2
    names = [p.name for p in pairs]
    offsets = {p.name: find_offset(p) for p in pairs}
    for name, offset in offsets.items():
        if (offset.dy, offset.dx) != (0, 0) or offset.correlation < 0.9:
            print(
                f"{name}: offset {offset.dy},{offset.dx} (correlation {offset.correlation:.3f}, "
                f"{offset.correlation_at_zero:.3f} unshifted)"
            )

    mapping = fit_mapping(pairs, offsets)
    size = classifier.input_size
    images: dict[str, list[np.ndarray]] = {c: [] for c in CONDITIONS}
    mad: dict[str, list[np.ndarray]] = {c: [] for c in CONDITIONS[1:]}
    for pair in pairs:
        left_out = fit_mapping([p for p in pairs if p is not pair], offsets)
        made = {
            "stretch": stretch(pair.bands[..., [2, 1, 0]]),  # what the app showed before
            "mapped_in_sample": mapping.apply(pair.bands),
            "mapped_leave_one_out": left_out.apply(pair.bands),
        }
        images["jpeg"].append(decode_rgb(args.data / "chips" / f"{pair.name}.jpg", size))
        for condition, rgb in made.items():
            images[condition].append(resize_rgb(rgb, size))
            mad[condition].append(mean_abs_difference(pair, offsets[pair.name], rgb))

    truth = label_matrix(names, labels)
    rng = np.random.default_rng(SEED)
    per_chip: dict[str, dict[str, np.ndarray]] = {}
    for condition in CONDITIONS:
        calls = classifier.decide(classifier.predict(np.stack(images[condition])))
        per_chip[condition] = {
            "f2": fbeta_per_sample(truth, calls, 2.0),
            "f1": fbeta_per_sample(truth, calls, 1.0),
        }
    f2 = {c: round(float(per_chip[c]["f2"].mean()), 4) for c in CONDITIONS}
    f1 = {c: round(float(per_chip[c]["f1"].mean()), 4) for c in CONDITIONS}
    intervals = {c: bootstrap_interval(per_chip[c]["f2"], rng) for c in CONDITIONS}
    gap = per_chip["mapped_leave_one_out"]["f2"] - per_chip["jpeg"]["f2"]
    gap_interval = bootstrap_interval(gap, rng)
    mean_mad = {c: [round(float(v), 2) for v in np.mean(mad[c], axis=0)] for c in mad}
    worst_mad = {c: round(float(np.max(np.mean(mad[c], axis=1))), 2) for c in mad}

    print(f"\n{len(pairs)} chips, model {classifier.version}, {mapping.parameter_count} parameters")
    print(f"{'':<24}{'samples F2':>11}{'95% interval':>18}{'samples F1':>12}{'MAD R, G, B':>22}")
    for c in CONDITIONS:
        lo, hi = intervals[c]
        pixels = ", ".join(f"{v:.2f}" for v in mean_mad[c]) if c in mean_mad else ""
        print(f"{c:<24}{f2[c]:>11.4f}{f'{lo:.3f} to {hi:.3f}':>18}{f1[c]:>12.4f}{pixels:>22}")
    print(
        f"F2 leave-one-out minus JPEG: {gap.mean():+.4f} "
        f"(95% interval {gap_interval[0]:+.3f} to {gap_interval[1]:+.3f})"
    )
    for channel, curve in mapping.curves.items():
        print(f"{channel:<6} {curve.gain:.4f} * ln(counts - {curve.dark:.2f}) + {curve.bias:.4f}")

    fit = {
        **mapping.fit,
        "data": "../shared/data/planet: tif/ (analytic) and chips/ (visual JPEGs), same chips",
        "fitted": datetime.date.today().isoformat(),
        "command": "python bench/tiff_mapping.py",
        "parameters": mapping.parameter_count,
    }
    check = {
        "n_chips": len(pairs),
        "model_version": classifier.version,
        "labels": "chips_labels.csv",
        "samples_f2": f2,
        "samples_f1": f1,
        "samples_f2_bootstrap_95": intervals,
        "f2_leave_one_out_minus_jpeg": round(float(gap.mean()), 4),
        "f2_leave_one_out_minus_jpeg_bootstrap_95": gap_interval,
        "bootstrap": f"{RESAMPLES} resamples of the chips with replacement, seed {SEED}",
        "mean_abs_difference_rgb": mean_mad,
        "mean_abs_difference_worst_chip": worst_mad,
        "mean_abs_difference_note": "0..255 units, per channel, mean over chips, aligned pixels",
        "per_chip_f2": {
            name: {c: round(float(per_chip[c]["f2"][i]), 4) for c in CONDITIONS}
            for i, name in enumerate(names)
        },
    }
    shipped = type(mapping)(mapping.curves, fit, check)
    if args.dry_run:
        print("(dry run: nothing written)")
    else:
        from model.files import atomic_write_text

        atomic_write_text(args.out, shipped.to_json())
        print(f"wrote {args.out}")
    print(f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
