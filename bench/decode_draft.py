"""Decoding for the int8 path: Pillow's draft mode against a full decode and a bilinear resize.

`model.chips.decode_rgb` asks the JPEG decoder for a reduced-size decode (draft mode: DCT scaling,
1/8 of 256 px is the model's 32 px), which skips most of the work of a full decode. This prints,
for the labelled full-size chips, decoding speed (one thread) and the model's samples F2 and macro
F1 with each way of decoding, at float32 and, where the twin is cached, at int8. Usage:

    python bench/decode_draft.py [--folder DIR] [--labels CSV] [--model M.keras]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import common
import numpy as np
from PIL import Image


def full_decode(path: Path, size: int) -> np.ndarray:
    """Today's decode without draft mode: every pixel decoded, then a bilinear resize."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        return np.asarray(rgb.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def main(argv: list[str] | None = None) -> int:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=common.PLANET / "chips")
    parser.add_argument("--labels", type=Path, default=common.PLANET / "chips_labels.csv")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL)
    args = parser.parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2

    from model.chips import decode_rgb, list_chips
    from model.labels import label_matrix, read_labels
    from model.metrics import summary
    from model.predictor import open_predictor

    labels = read_labels(args.labels)
    paths = [p for p in list_chips(args.folder).paths if p.stem in labels]
    predictors = [open_predictor(args.model, "fp32")]
    twin = open_predictor(args.model, "int8", lambda line: print(line, file=sys.stderr))
    if twin.precision == "int8":
        predictors.append(twin)
    size = predictors[0].input_size
    truth = label_matrix([p.stem for p in paths], labels)
    print(f"{len(paths)} labelled chips from {args.folder} at {size} px")
    for name, decode in (
        ("draft mode (today)", decode_rgb),
        ("full decode + bilinear", full_decode),
    ):
        best = 0.0
        for _ in range(2):
            started = time.perf_counter()
            images = np.stack([decode(p, size) for p in paths])
            best = max(best, len(paths) / (time.perf_counter() - started))
        scores = []
        for predictor in predictors:
            probs = np.concatenate(
                [predictor.predict_batch(images[i : i + 64]) for i in range(0, len(images), 64)]
            )
            s = summary(truth, predictor.decide(probs))
            scores.append(
                f"{predictor.precision}: F2 {s['f2_samples']:.4f} macro F1 {s['macro_f1']:.4f}"
            )
        print(f"{name:<24}{best:>7.0f} chips/s decoded (1 thread)   " + "   ".join(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
