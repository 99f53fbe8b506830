"""What the pooled features add to prediction time: the same chips predicted with and without
them (model.predicting.predict_paths, features=True is what the app's runs use), alternately,
--repeats times each; the best time of each is compared.

    python bench/features_cost.py [--folder DIR] [--model M.keras] [--repeats 2] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import common
from common import PLANET


def main(argv: list[str] | None = None) -> int:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=PLANET / "chips")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2
    if not args.folder.is_dir():
        print(f"{args.folder}: no such folder", file=sys.stderr)
        return 2

    import model.classifier  # noqa: F401, I001
    from model.chips import list_chips
    from model.predicting import load_model, predict_paths

    classifier = load_model(args.model)
    paths = list_chips(args.folder).paths[: args.limit]
    predict_paths(classifier, paths[:64], features=True)  # build both graphs before timing
    predict_paths(classifier, paths[:64])
    best = {False: float("inf"), True: float("inf")}
    for _ in range(args.repeats):
        for features in (False, True):
            started = time.perf_counter()
            predict_paths(classifier, paths, features=features, on_batch=lambda *_: None)
            best[features] = min(best[features], time.perf_counter() - started)
    plain, with_features = best[False], best[True]
    print(f"{len(paths)} chips from {args.folder}, best of {args.repeats}")
    print(f"probabilities only      {plain:.2f} s ({len(paths) / plain:.0f} chips/s)")
    print(
        f"with pooled features    {with_features:.2f} s ({len(paths) / with_features:.0f} chips/s)"
    )
    print(f"features add            {100 * (with_features / plain - 1):+.1f}%")
    return 0


if __name__ == "__main__":
    common.exit_now(main())
