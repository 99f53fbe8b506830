"""Does the Overview keep up on a big folder? Opening it, and dragging a threshold.

Unpacks the 32 px training chips (all 36,329, or --limit N) to a temporary folder with their
labels from train_v2.csv, seeds the review session with one probability vector per chip (made
from the crowd's labels plus noise: the Overview's cost does not depend on the values, and
predicting 36,000 chips first would take minutes; --predict lets the model predict them instead),
opens the folder in the real MainWindow and, with a 10 ms probe timer measuring main-thread
stalls, prints:

  overview opens        View > Overview to the first chart drawn (predictions in)
  threshold updates     a drag of the line, as the mouse delivers it: each move sets the tag's
                        threshold (calls for all chips), the suspicion order of all chips is
                        computed, and the grid's marks, the chip panel and the chart redraw;
                        updates per second over the drag, and the slowest update. The grid
                        takes the new order when the drag pauses (150 ms): timed apart
  stalls                longest main-thread stall while opening and while dragging
  colour per tag        the Colour tab: each chip read small in a thread, and the stalls then

Usage:

    python bench/overview_responsiveness.py [--limit N] [--moves M] [--predict] [--model M]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import common
import numpy as np
from common import PLANET
from gui_responsiveness import unpack


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="a .keras model")
    parser.add_argument("--limit", type=int, help="unpack only the first N chips of the tar")
    parser.add_argument("--moves", type=int, default=120, help="mouse moves in the drag")
    parser.add_argument("--tag", default="agriculture", help="the tag whose threshold moves")
    parser.add_argument("--predict", action="store_true", help="predict instead of seeding")
    parser.add_argument("--tar", type=Path, default=PLANET / "train-jpg-32px.tar")
    parser.add_argument("--labels", type=Path, default=PLANET / "train_v2.csv")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2
    for path, what in ((args.tar, "chips tar"), (args.labels, "labels CSV")):
        if not path.is_file():
            print(f"{path}: no such {what}", file=sys.stderr)
            return 2
    return common.in_work_folder("chip-audit-overview-bench-", lambda w: run(args, w), "offscreen")


def seed_predictions(folder: Path, names: list[str], labels: dict, version: str) -> None:
    """Probabilities near the crowd's tags with noise, stored as the model's cached predictions."""
    from model.labels import label_matrix
    from model.session import ReviewSession

    rng = np.random.default_rng(0)
    truth = label_matrix(names, labels)
    probs = np.clip(0.7 * truth + 0.3 * rng.random(truth.shape), 0, 1).astype(np.float32)
    session = ReviewSession.for_folder(folder)
    session.store_predictions(version, names, probs)
    session.close()


def run(args: argparse.Namespace, work: Path) -> int:
    folder = work / "train-jpg-32px"
    names = unpack(args.tar, folder, args.limit)
    import model.classifier  # noqa: F401, I001  (Keras before Qt)
    from model.card import read_card
    from model.labels import read_labels, write_labels

    all_labels = read_labels(args.labels)
    labels = {n: all_labels[n] for n in names if n in all_labels}
    labels_path = work / "labels.csv"
    write_labels(labels_path, labels)
    if not args.predict:
        seed_predictions(
            folder, [n for n in names if n in labels], labels, read_card(args.model).version
        )

    app, window, errors = common.open_window(work, args.model)
    window.resize(1600, 1000)
    if not common.open_folder(window, folder, labels_path):
        print("open failed: " + "; ".join(errors), file=sys.stderr)
        return 1
    review = window.review
    common.wait_until(
        lambda: not window.predictions.running and review.predicted.sum() >= len(labels), 3600
    )
    common.wait_until(lambda: not window.page.requery_pending(), 10)
    n = len(review.names)
    print(
        f"chips                  {n:,} ({int(review.predicted.sum()):,} predicted"
        f"{'' if args.predict else ', seeded'})"
    )

    dock = window.overview
    probe = common.StallProbe()
    probe.start()
    app.processEvents()
    t0 = time.perf_counter()
    probe.record(since=t0)
    window.actions_by_id["overview"].trigger()
    common.wait_until(lambda: "tag_counts" in dock.frames, 30)
    opened = time.perf_counter() - t0
    common.wait_until(lambda: False, 0.3)  # let the probe see anything queued after
    open_stall = max(probe.stalls, default=0.0)
    print(f"overview opens         {opened * 1000:.0f} ms (View > Overview to tag counts drawn)")
    print(f"longest stall opening  {open_stall:.0f} ms")

    dock.tabs.setCurrentIndex(3)
    dock.threshold_tag.setCurrentText(args.tag)
    common.wait_until(lambda: args.tag in dock.threshold_note.text(), 10)
    i = review.card.tags.index(args.tag)
    start = float(review.thresholds[i])
    probe.stalls.clear()
    probe.times.clear()
    line = dock.thresholds.line
    steps = np.linspace(start, 0.9, args.moves)
    order_before = list(window.page.model.order)
    update_ms = []
    t_drag = time.perf_counter()
    for value in steps:
        t = time.perf_counter()
        line.setValue(float(value))  # what a mouse move on the line does
        review.query(window.page.filters.query())  # the suspicion order, for every chip
        app.processEvents()  # the views' redraws: grid marks, chip panel, chart
        update_ms.append((time.perf_counter() - t) * 1000)
    drag_s = time.perf_counter() - t_drag
    drag_stall = max(probe.stalls, default=0.0)
    # The drag pauses: 150 ms later the grid takes the new order (a relayout of every chip).
    t = time.perf_counter()
    common.wait_until(lambda: not window.page.requery_pending(), 10)
    resorted = time.perf_counter() - t
    common.wait_until(lambda: False, 0.3)
    probe.stop()
    moved = float(review.thresholds[i])
    changed = list(window.page.model.order) != order_before
    print(
        f"threshold drag         {args.tag} {start:.2f} -> {moved:.2f} in {args.moves} moves"
        f" (grid order changed: {changed})"
    )
    print(
        f"updates per second     {args.moves / drag_s:.0f} (calls, marks, suspicion order and"
        " redraw for every chip)"
    )
    print(f"update median / worst  {np.median(update_ms):.1f} / {max(update_ms):.1f} ms")
    print(f"longest stall dragging {drag_stall:.0f} ms")
    print(
        f"grid re-sorted         {resorted * 1000:.0f} ms after the drag paused (150 ms wait incl.)"
    )
    print(f"longest stall overall  {max(probe.stalls, default=0.0):.0f} ms (the re-sort included)")

    # Colour per tag: every chip read small off the window's thread.
    probe = common.StallProbe()
    probe.start()
    t = time.perf_counter()
    probe.record(since=t)
    dock.tabs.setCurrentIndex(2)
    common.wait_until(lambda: "colour_per_tag" in dock.frames, 600)
    print(
        f"colour per tag         {time.perf_counter() - t:.1f} s to read {n:,} chips (off the"
        f" window's thread); longest stall meanwhile {max(probe.stalls, default=0.0):.0f} ms"
    )
    probe.stop()

    # The model side alone: a threshold, the calls and the suspicion order, all chips.
    from model.review import ChipQuery

    times = []
    for value in np.linspace(0.2, 0.8, 60):
        t = time.perf_counter()
        review.set_threshold(args.tag, float(value))
        review.query(ChipQuery())
        times.append((time.perf_counter() - t) * 1000)
    print(f"model side per update  {np.median(times):.1f} ms median (set_threshold + query)")
    if errors:
        print("errors shown: " + "; ".join(errors), file=sys.stderr)
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    common.exit_now(main())
