"""Training throughput of `model.training.train` (the one function behind `train` and the app's
retrain), so that a machine's training speed can be read before starting an hour-long run.

Trains from scratch on the labelled full-size chips, decoded at --input-size, for --epochs
epochs, and prints each epoch's seconds and training chips/s (the first epoch includes building
the graph; later ones are the steady rate). Nothing is kept. Usage:

    python bench/train_throughput.py [--folder DIR] [--labels CSV] [--epochs N] [--input-size S]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import common


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=common.PLANET / "chips")
    parser.add_argument("--labels", type=Path, default=common.PLANET / "chips_labels.csv")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, work: Path) -> int:
    from model.training import TrainConfig, TrainEvent, train

    stages: dict[str, float] = {}

    def note(event: TrainEvent) -> None:
        stages.setdefault(event.stage, time.monotonic())

    config = TrainConfig(
        folder=args.folder,
        labels=args.labels,
        out=work / "bench.keras",
        epochs=args.epochs,
        input_size=args.input_size,
        batch_size=args.batch_size,
        patience=args.epochs,  # never stop early: every epoch is a measurement
    )
    started = time.monotonic()
    result = train(config, note)
    total = time.monotonic() - started
    n_train = result.card.data["n_train"]
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    print(
        f"cpu cores {os.cpu_count()}, input {args.input_size} px, batch {args.batch_size}, "
        f"TF_ENABLE_ONEDNN_OPTS={onednn}"
    )
    print(f"{n_train} training chips, {result.card.data['n_val']} validation chips")
    if "decode" in stages and "train" in stages:
        print(f"decoding           {stages['train'] - stages['decode']:7.1f} s")
    for entry in result.card.history:
        # An epoch's seconds include predicting the validation chips for its F2.
        rate = n_train / entry["seconds"]
        print(f"epoch {entry['epoch']:<3}          {entry['seconds']:7.1f} s  {rate:7.1f} chips/s")
    print(f"whole run          {total:7.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for path in (args.folder, args.labels):
        if not path.exists():
            print(f"{path}: not found (the Planet data lives in ../shared)", file=sys.stderr)
            return 2
    return common.in_work_folder("chip-audit-train-bench-", lambda work: measure(args, work))


if __name__ == "__main__":
    sys.exit(main())
