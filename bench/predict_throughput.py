"""Prediction throughput on a folder of full-size chips, three ways, in one run.

  (a) end to end: model.predicting.predict_paths (decode + resize a batch ahead, then the model)
  (b) the model alone: Classifier.predict on uint8 arrays already decoded into memory
  (c) the plain Keras way: keras.utils.load_img(target_size) per file, np.stack, model.predict

(a)/(b) near 1 means decoding is off the critical path; (a)/(c) is what the pipeline buys over
the obvious code. Usage:

    python bench/predict_throughput.py [--folder DIR] [--model M.keras] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import common

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_FOLDER = common.PLANET / "chips"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER, help="full-size chips")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="a .keras model")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per way (best kept)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, help="use only the first N chips")
    return parser.parse_args(argv)


def timed(label: str, n: int, repeat: int, work: Callable[[], object]) -> float:
    """Best chips/s over `repeat` runs of `work`, which handles `n` chips."""
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        rates.append(n / (time.perf_counter() - started))
    spread = f"  (median {statistics.median(rates):.0f})" if repeat > 1 else ""
    print(f"{label:<52}{max(rates):>8.0f} chips/s{spread}", flush=True)
    return max(rates)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2
    if not args.folder.is_dir():
        print(f"{args.folder}: no such folder", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2

    import keras
    import numpy as np

    from model.chips import list_chips
    from model.classifier import Classifier
    from model.decoding import decode_all
    from model.errors import ChipAuditError
    from model.predicting import predict_paths

    try:
        classifier = Classifier.load(args.model)
    except ChipAuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size, batch = classifier.input_size, args.batch_size
    # Decoded once up front: the arrays for (b), and the chips that decode for all three ways.
    decoded = decode_all(list_chips(args.folder).paths[: args.limit], size)
    paths, images, n = decoded.paths, decoded.images, len(decoded.paths)
    if n == 0:
        print(f"{args.folder}: no chips that decode", file=sys.stderr)
        return 2
    if decoded.errors:
        print(f"left out {len(decoded.errors)} chips that do not decode", file=sys.stderr)
    print(
        f"model {args.model} ({classifier.card.architecture}, {size} px), {n} chips "
        f"from {args.folder}, batch {batch}, best of {args.repeat}"
    )

    # Warm up: graph tracing and first-call allocations are not throughput.
    classifier.predict(images[:batch], batch_size=batch)
    classifier.network.predict(images[:batch].astype(np.float32), batch_size=batch, verbose=0)
    predict_paths(classifier, paths[:batch], batch_size=batch)

    def end_to_end() -> None:
        result = predict_paths(classifier, paths, batch_size=batch)
        assert len(result.names) == n

    def model_only() -> None:
        classifier.predict(images, batch_size=batch)

    def plain_keras() -> None:
        arrays = [
            keras.utils.img_to_array(keras.utils.load_img(p, target_size=(size, size)))
            for p in paths
        ]
        classifier.network.predict(np.stack(arrays), batch_size=batch, verbose=0)

    a = timed("(a) end to end: predict_paths (decode+resize+model)", n, args.repeat, end_to_end)
    b = timed("(b) model alone: Classifier.predict on arrays", n, args.repeat, model_only)
    c = timed("(c) plain Keras: load_img + np.stack + predict", n, args.repeat, plain_keras)
    print(f"a/b {a / b:.2f}   (1.0: decoding costs the pipeline nothing)")
    print(f"a/c {a / c:.2f}   (speed-up over the plain Keras way)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
