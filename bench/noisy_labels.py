"""Does retraining on noisy crowd labels cost accuracy, and how much? The product's measured loop.

On the labelled full-size chips (../shared/data/planet/chips with chips_labels.csv; --limit N
keeps the first N labelled chips in natural order):

1. Noise. A seeded copy of the labels CSV in which --noise (default 5%) of the crowd's (chip, tag)
   decisions are flipped. Definition used here: the share is of ALL chip x tag cells (852 x 17 =
   14,484 cells, so 5% = 724 flips), drawn uniformly without replacement; a flip toggles the
   tag's presence. Most cells are absent tags, so most flips ADD a wrong tag (often a rare one)
   and the rest remove a true tag; both counts are printed. Flips fall on training and
   validation chips alike, as the crowd's mistakes would.
2. One validation set. A stratified split (model.training.stratified_split) of the TRUE labels,
   computed once with the starting model's validation fraction, is passed as validation_names to
   both runs: both models are validated, tuned and scored on the same chips.
3. Two fine-tunings from --model (default: the bundled model), with the TrainConfig the app's
   retrain starts from (model.retrain.default_retrain_config, called on this folder;
   only --epochs, default 5, is changed): one on the flipped labels, one on the true labels.
4. Scores. The starting model and both new ones are scored on the validation chips against the
   TRUE labels (model.predicting.score_paths): samples F2 and F1, each model with its own
   thresholds. Caveat: the new models' thresholds were tuned on these same chips (the flipped
   run against its flipped labels), which flatters the true-labels run most; so the same figures
   are also printed with one fixed threshold of 0.2 for every tag and model.

The starting model may have trained on some of the validation chips; where its card's labels
file is readable the overlap is printed. Trained models go to a temporary folder, deleted at the
end. Usage:

    python bench/noisy_labels.py [--model M.keras] [--epochs N] [--limit N] [--noise F] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import common
from common import PLANET

FIXED_THRESHOLD = 0.2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=PLANET / "chips", help="full-size chips")
    parser.add_argument("--labels", type=Path, default=PLANET / "chips_labels.csv")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="model to start from")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--limit", type=int, help="only the first N labelled chips")
    parser.add_argument("--noise", type=float, default=0.05, help="share of cells flipped")
    parser.add_argument("--seed", type=int, default=0, help="seed of the flips")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2
    for path, what in ((args.folder, "folder of chips"), (args.labels, "labels CSV")):
        if not path.exists():
            print(f"{path}: no such {what}", file=sys.stderr)
            return 2
    if args.epochs < 1 or (args.limit is not None and args.limit < 1):
        print("--epochs and --limit must be at least 1", file=sys.stderr)
        return 2
    if not 0.0 < args.noise < 1.0:
        print("--noise must be a share between 0 and 1", file=sys.stderr)
        return 2

    # default_retrain_config writes to the app data, in the work folder.
    return common.in_work_folder("chip-audit-noisy-bench-", lambda work: run(args, work))


def flip_cells(y, share: float, seed: int):
    """A copy of the 0/1 matrix y with round(share * y.size) cells toggled, chosen uniformly
    without replacement by a seeded generator; returns (flipped, flat indices flipped)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_flip = int(round(share * y.size))
    cells = rng.choice(y.size, size=n_flip, replace=False)
    flipped = y.copy()
    flipped.flat[cells] = 1.0 - flipped.flat[cells]
    return flipped, cells


def app_retrain_config(folder: Path, labels: Path, model_path: Path):
    """The config the app's retrain would start from for this folder and model: the same
    model.retrain.default_retrain_config, on a review of the folder with these labels."""
    from model.retrain import default_retrain_config
    from model.review import Review

    review = Review(folder, labels)
    try:
        return default_retrain_config(review, model_path)
    finally:
        review.close()


def run(args: argparse.Namespace, work: Path) -> int:
    # Keras before Qt (gui.main_window imports PySide6): TensorFlow's import crawls otherwise.
    import model.classifier  # noqa: F401, I001
    import numpy as np
    from dataclasses import replace

    from model.card import read_card
    from model.chips import list_chips
    from model.errors import ChipAuditError
    from model.labels import label_matrix, read_labels, write_labels
    from model.metrics import fbeta_samples
    from model.predicting import load_model, score_paths
    from model.tags import TAGS, from_vector, sort_tags
    from model.training import stratified_split, train

    true_all = read_labels(args.labels)
    by_name = {p.stem: p for p in list_chips(args.folder).paths}
    names = [n for n in by_name if n in true_all][: args.limit]
    truth = {n: true_all[n] for n in names}
    true_csv = work / "true_labels.csv"
    write_labels(true_csv, truth)

    # 1. The noise.
    y = label_matrix(names, truth)
    y_flipped, cells = flip_cells(y, args.noise, args.seed)
    added = int(((y_flipped > 0.5) & (y < 0.5)).sum())
    removed = len(cells) - added
    flipped_csv = work / "flipped_labels.csv"
    write_labels(
        flipped_csv, {n: sort_tags(from_vector(row > 0.5)) for n, row in zip(names, y_flipped)}
    )
    assert int((label_matrix(names, read_labels(flipped_csv)) != y).sum()) == len(cells)

    # 2. The app's retrain config, and one validation split of the true labels.
    base = app_retrain_config(args.folder, true_csv, args.model.resolve())
    val_names = stratified_split(names, truth, base.val_frac, base.seed)[1]
    starting_card = read_card(args.model)
    start_trained_on = None
    start_labels = Path(str(starting_card.data.get("labels", "")))
    if start_labels.is_file():
        seen = set(read_labels(start_labels)) - set(starting_card.data.get("validation_names", []))
        start_trained_on = sum(n in seen for n in val_names)

    print(f"chips                  {len(names)} labelled, from {args.folder}")
    print(f"starting model         {args.model} ({starting_card.version})")
    print(
        f"noise                  {len(cells)} of {y.size} chip x tag cells flipped "
        f"({args.noise:.1%} of all cells, seed {args.seed}): {added} tags added, "
        f"{removed} removed; {len(np.unique(cells // len(TAGS)))} chips touched"
    )
    print(
        f"recipe                 {args.epochs} epoch(s), input {base.input_size} px, "
        f"learning rate {base.learning_rate:g}, batch {base.batch_size}, val_frac {base.val_frac}"
    )
    overlap = (
        f"{start_trained_on} of them in the starting model's training labels"
        if start_trained_on is not None
        else "the starting model's training chips are unknown"
    )
    print(f"validation chips       {len(val_names)} (same for both runs; {overlap})")
    sys.stdout.flush()

    # 3. Two fine-tunings.
    trained: dict[str, Path] = {}
    for key, labels_csv in (("flipped", flipped_csv), ("true", true_csv)):
        config = replace(
            base,
            labels=labels_csv,
            out=work / key / "model.keras",
            epochs=args.epochs,
            validation_names=list(val_names),
        )
        started = time.monotonic()
        try:
            result = train(config)
        except ChipAuditError as exc:
            print(f"training on the {key} labels failed: {exc}", file=sys.stderr)
            return 1
        assert set(result.card.data["validation_names"]) == set(val_names)
        trained[key] = result.path
        print(
            f"trained on {key + ' labels':<16}{time.monotonic() - started:.0f} s, "
            f"best epoch {result.card.recipe['best_epoch']}"
        )
        sys.stdout.flush()

    # 4. Scores on the validation chips against the true labels.
    val_paths = [by_name[n] for n in val_names]
    y_val = label_matrix(val_names, truth)
    rows = []
    for title, path in (
        ("starting model", args.model),
        ("trained on flipped", trained["flipped"]),
        ("trained on true", trained["true"]),
    ):
        report, result = score_paths(load_model(path), val_paths, truth)
        assert result.names == val_names, "a validation chip failed to decode"
        fixed = result.probs >= FIXED_THRESHOLD
        rows.append(
            (
                title,
                report["f2_samples"],
                report["f1_samples"],
                fbeta_samples(y_val, fixed, 2.0),
                fbeta_samples(y_val, fixed, 1.0),
            )
        )
    print()
    print(f"on {len(val_names)} validation chips, against the TRUE labels")
    print(f"{'':<20}{'own thresholds':>20}{'fixed 0.2':>20}")
    print(f"{'model':<20}{'F2':>10}{'F1':>10}{'F2':>10}{'F1':>10}")
    for title, f2, f1, f2_fixed, f1_fixed in rows:
        print(f"{title:<20}{f2:>10.4f}{f1:>10.4f}{f2_fixed:>10.4f}{f1_fixed:>10.4f}")
    print(f"flipped cells          {len(cells)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
