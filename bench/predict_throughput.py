"""Prediction throughput on a folder of full-size chips, five ways, in one run.

  (a) end to end, float32: model.predicting.predict_paths (decode + resize a batch ahead, then
      the model) with the Keras network
  (a8) the same end to end with the int8 twin (model/int8_twin.py), where one is cached
  (b) the network alone, float32: predict_batch on uint8 arrays already decoded into memory
  (b8) the int8 twin's network alone, on the same arrays
  (c) the plain Keras way: keras.utils.load_img(target_size) per file, np.stack, model.predict

(a8)/(b8) near 1 means decoding is off the critical path; (a8)/(c) is what the pipeline buys
over the obvious code. The CPU's flags that int8 and oneDNN use are printed first. Usage:

    python bench/predict_throughput.py [--folder DIR] [--model M.keras] [--repeat N]
                                       [--total N]

--total N (40,479: the size of the whole training set) also times one end-to-end run of N chips
with the twin (float32 where there is none): the folder's chips linked over and over under new
names in a temporary folder, listed and decoded from disk as any folder is.
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
    parser.add_argument("--total", type=int, help="also time N chips end to end (see above)")
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
    from model.predictor import open_predictor

    try:
        classifier = Classifier.load(args.model)
        twin = open_predictor(args.model, "int8", lambda line: print(line, file=sys.stderr))
    except ChipAuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if twin.precision != "int8":
        twin = None  # said why above: (a8) and (b8) are left out
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
    print(f"CPU: {cpu_summary()}")

    # Warm up: graph tracing and first-call allocations are not throughput.
    classifier.predict(images[:batch], batch_size=batch)
    classifier.network.predict(images[:batch].astype(np.float32), batch_size=batch, verbose=0)
    predict_paths(classifier, paths[:batch], batch_size=batch)
    if twin is not None:
        predict_paths(twin, paths[:batch], batch_size=batch)

    def end_to_end(predictor) -> Callable[[], None]:
        def run() -> None:
            result = predict_paths(predictor, paths, batch_size=batch)
            assert len(result.names) == n

        return run

    def network_alone(predictor) -> Callable[[], None]:
        def run() -> None:
            for start in range(0, n, batch):
                predictor.predict_batch(images[start : start + batch])

        return run

    def plain_keras() -> None:
        arrays = [
            keras.utils.img_to_array(keras.utils.load_img(p, target_size=(size, size)))
            for p in paths
        ]
        classifier.network.predict(np.stack(arrays), batch_size=batch, verbose=0)

    a = timed("(a) end to end, float32: predict_paths", n, args.repeat, end_to_end(classifier))
    if twin is not None:
        a8 = timed("(a8) end to end, int8 twin: predict_paths", n, args.repeat, end_to_end(twin))
    b = timed("(b) network alone, float32, on arrays", n, args.repeat, network_alone(classifier))
    if twin is not None:
        b8 = timed("(b8) network alone, int8 twin, on arrays", n, args.repeat, network_alone(twin))
    c = timed("(c) plain Keras: load_img + np.stack + predict", n, args.repeat, plain_keras)
    print(f"a/b   {a / b:.2f}   (1.0: decoding costs the float32 pipeline nothing)")
    print(f"a/c   {a / c:.2f}   (float32 pipeline over the plain Keras way)")
    if twin is not None:
        print(f"a8/b8 {a8 / b8:.2f}   (goal >= 0.8: decoding keeps up with int8)")
        print(f"a8/c  {a8 / c:.2f}   (goal >= 3: int8 pipeline over the plain Keras way)")
        print(f"b8/b  {b8 / b:.2f}   (the twin's network over float32's)")
    if args.total:
        time_total(args.total, paths, batch, [twin if twin is not None else classifier])
    return 0


def time_total(total: int, paths: list[Path], batch: int, predictors: list) -> None:
    """One end-to-end run of `total` chips per predictor: `paths` linked over and over."""
    import tempfile

    from model.chips import list_chips
    from model.predicting import predict_paths

    with tempfile.TemporaryDirectory(prefix="chip-audit-total-") as work:
        folder = Path(work)
        for i in range(total):
            source = paths[i % len(paths)]
            (folder / f"r{i // len(paths)}_{source.name}").symlink_to(source.resolve())
        for predictor in predictors:
            started = time.perf_counter()
            listed = list_chips(folder).paths
            result = predict_paths(predictor, listed, batch_size=batch)
            seconds = time.perf_counter() - started
            assert len(result.names) == total
            print(
                f"{total:,} chips end to end, {predictor.precision}: {seconds:.1f} s "
                f"({total / seconds:.0f} chips/s), listing included",
                flush=True,
            )


def cpu_summary() -> str:
    """The model name and the SIMD flags that decide int8 and oneDNN speed (Linux)."""
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8", "amx_bf16")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{os.cpu_count()} cores (flags unknown on this system)"
    name = next(
        (ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln), "?"
    )
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    have = [f for f in wanted if f in flags]
    return f"{name}, {os.cpu_count()} cores; {' '.join(have) or 'none of ' + ' '.join(wanted)}"


if __name__ == "__main__":
    sys.exit(main())
