"""Does the window stay responsive while it retrains?

Opens a real folder of chips with its labels in the real MainWindow (offscreen), lets the model in
use (--model) predict it, then starts a retrain from the window's defaults (only --epochs
changed), as the Retrain button does. Training runs in its own process; while it runs a 10 ms
timer on the main thread measures how late each tick comes (a stall: the gap between ticks less
10 ms). Prints:

  start_retrain         how long the call holds the main thread (exporting labels, starting)
  stalls                longest and 99th percentile from start_retrain to the comparison
  retrain wall time     from the start_retrain call to the comparison arriving
  samples F2 / F1       of the model in use and of the new one, on the new model's validation
                        chips (the comparison the retrain window shows)

The app data (session, trained model) goes to a temporary folder, removed at the end. Usage:

    python bench/retrain_responsiveness.py [--model M.keras] [--epochs N] [--limit N]
                                           [--folder DIR] [--labels CSV]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import common
from common import PLANET


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=PLANET / "chips", help="chips to review")
    parser.add_argument("--labels", type=Path, default=PLANET / "chips_labels.csv")
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="the model in use")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, help="only the first N labelled chips (linked)")
    parser.add_argument("--timeout", type=float, default=3600, help="give up after S seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2
    if not args.folder.is_dir():
        print(f"{args.folder}: no such folder of chips", file=sys.stderr)
        return 2
    if not args.labels.is_file():
        print(f"{args.labels}: no such labels CSV", file=sys.stderr)
        return 2
    if args.epochs < 1 or (args.limit is not None and args.limit < 1):
        print("--epochs and --limit must be at least 1", file=sys.stderr)
        return 2

    # The session and the trained model go to the work folder.
    return common.in_work_folder(
        "chip-audit-retrain-bench-", lambda work: run(args, work), "offscreen"
    )


def run(args: argparse.Namespace, work: Path) -> int:
    # Keras before Qt: PySide6's import hook makes TensorFlow's import crawl otherwise.
    import model.classifier  # noqa: F401, I001
    from model.chips import list_chips
    from model.labels import read_labels, write_labels

    folder, labels_path = args.folder, args.labels
    if args.limit is not None:
        labels = read_labels(args.labels)
        paths = [p for p in list_chips(args.folder).paths if p.stem in labels][: args.limit]
        folder = work / "chips"
        folder.mkdir()
        for path in paths:
            (folder / path.name).symlink_to(path.resolve())
        labels_path = work / "labels.csv"
        write_labels(labels_path, {p.stem: labels[p.stem] for p in paths})

    from PySide6.QtCore import QObject, Slot

    class Endings(QObject):
        """Slots on the main thread: the trainer's progress events and endings."""

        def __init__(self) -> None:
            super().__init__()
            self.events = 0
            self.ended: str | None = None
            self.ended_at = 0.0
            self.comparison: dict | None = None

        @Slot(dict)
        def event(self, _event: dict) -> None:
            self.events += 1

        @Slot(dict)
        def done(self, comparison: dict) -> None:
            self.comparison = comparison
            self._end("done")

        @Slot()
        def cancelled(self) -> None:
            self._end("cancelled")

        @Slot(str)
        def failed(self, message: str) -> None:
            self._end(f"failed: {message}")

        def _end(self, how: str) -> None:
            self.ended, self.ended_at = how, time.perf_counter()

    app, window, errors = common.open_window(work, args.model)
    app.processEvents()
    if not common.open_folder(window, folder, labels_path):
        print(f"open_folder failed: {'; '.join(errors)}", file=sys.stderr)
        return 1
    t_predict = time.perf_counter()
    common.wait_until(lambda: not window.predictions.running, args.timeout)
    predicted = time.perf_counter() - t_predict
    review = window.review

    endings = Endings()
    probe = common.StallProbe()
    probe.start()
    app.processEvents()

    from model.retrain import default_retrain_config

    config = default_retrain_config(review, args.model)
    config.epochs = args.epochs
    t_start = time.perf_counter()
    probe.record(since=t_start)
    window.retraining.start(config)
    t_started = time.perf_counter()
    trainer = window.retraining.trainer
    trainer.event.connect(endings.event)
    trainer.done.connect(endings.done)
    trainer.cancelled.connect(endings.cancelled)
    trainer.failed.connect(endings.failed)
    common.wait_until(lambda: endings.ended is not None, args.timeout)
    probe.recording = False
    probe.stop()
    if endings.ended is None:
        trainer.kill()
        endings.ended = f"timed out after {args.timeout:.0f} s"
        endings.ended_at = time.perf_counter()
    # The trainer exits just after its last line: let it, rather than kill it with the window.
    common.wait_until(
        lambda: trainer.process.state() == trainer.process.ProcessState.NotRunning, 30
    )
    window.close()
    app.processEvents()

    print(f"chips                  {len(review.names):,} in {folder} ({args.labels.name})")
    print(f"model in use           {args.model}")
    print(f"prediction first       {predicted:.1f} s (before the retrain, not measured)")
    print(
        f"retrain                {config.epochs} epoch(s), input {config.input_size} px, "
        f"learning rate {config.learning_rate:g}, from {Path(config.init).name}"
    )
    print(f"start_retrain          {(t_started - t_start) * 1000:.0f} ms on the main thread")
    probe.print_longest(since=t_start, after="start_retrain", worst_five=True)
    print(f"99th-percentile stall  {common.percentile(probe.stalls, 99):.1f} ms")
    print(
        f"stalls over 50 ms      {sum(s > 50 for s in probe.stalls)} of {len(probe.stalls)} ticks"
    )
    print(f"progress events        {endings.events}")
    print(f"retrain wall time      {endings.ended_at - t_start:.1f} s ({endings.ended})")
    if errors:
        print("errors shown: " + "; ".join(errors), file=sys.stderr)
    comparison = endings.comparison
    if comparison is None:
        return 1
    old, new = comparison.get("old"), comparison["new"]
    print(f"validation chips       {comparison['n_val']} (the new model's validation chips)")
    for key, label in (("f2_samples", "samples F2"), ("f1_samples", "samples F1")):
        before = f"{old[key]:.4f}" if old else "  –   "
        print(f"{label:<23}{before} in use -> {new[key]:.4f} new")
    return 0


if __name__ == "__main__":
    common.exit_now(main())
