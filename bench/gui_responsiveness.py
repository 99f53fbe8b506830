"""Does the review window stay responsive while it predicts a big folder?

Unpacks the 32 px training chips (all 36,329, or --limit N; --copies K unpacks them K times under
other names, for a folder of K x 36,329) to a temporary folder, writes their labels from
train_v2.csv beside them, opens the folder in the real MainWindow and lets it predict
everything with --model, while a 10 ms timer on the main thread measures how late each tick comes
(a stall: the gap between ticks less 10 ms). Prints:

  open_folder call      how long the call itself holds the main thread (the folder is listed,
                        its labels read and its session opened on another thread)
  folder shown          from the call to the review on screen
  first thumbnail       from the open_folder call to the first decoded thumbnail delivered
  stalls                longest and 99th percentile while predicting
  prediction            chips/s (after the model loaded) and the wall time to the last batch
  peak memory           ru_maxrss of the process
  map (with --map)      the map dock open from the start: when its PCA and its UMAP layout of
                        every chip were shown, counted from the last batch, and the stalls from
                        the last batch until UMAP was shown

The temporary folder, and the review session written there, are removed at the end. Usage:

    python bench/gui_responsiveness.py [--model M.keras] [--limit N] [--copies K] [--tar T]
                                       [--labels CSV] [--map] [--profile | --watch]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tarfile
import time
from pathlib import Path

import common
import numpy as np
from common import PLANET


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="a .keras model")
    parser.add_argument("--limit", type=int, help="unpack only the first N chips of the tar")
    parser.add_argument(
        "--copies", type=int, default=1, help="unpack the chips K times (copy2_train_1, ...)"
    )
    parser.add_argument("--tar", type=Path, default=PLANET / "train-jpg-32px.tar")
    parser.add_argument("--labels", type=Path, default=PLANET / "train_v2.csv")
    parser.add_argument(
        "--platform", default="offscreen", help="QT_QPA_PLATFORM unless already set (offscreen)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="give up after S seconds")
    parser.add_argument(
        "--map", action="store_true", help="open the map dock first; time its layouts"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the window's thread after the last batch (cProfile); implies --watch",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="sample what the window's thread does in each stall over 60 ms, without cProfile "
        "(which slows Python code several-fold and so lengthens the stalls it looks at)",
    )
    return parser.parse_args(argv)


def unpack(tar_path: Path, dest: Path, limit: int | None, copies: int = 1) -> list[str]:
    """The tar's .jpg files, flat into dest (by base name: no path from the archive is used),
    `copies` times: the first under their own names, the others prefixed copyK_."""
    dest.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    with tarfile.open(tar_path) as tar:
        for member in tar:
            if limit is not None and len(names) >= limit:
                break
            base = Path(member.name).name
            if not member.isfile() or not base.endswith(".jpg") or base.startswith("."):
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            data = source.read()
            for k in range(copies):
                prefix = f"copy{k + 1}_" if k else ""
                (dest / (prefix + base)).write_bytes(data)
                names.append(prefix + base[: -len(".jpg")])
    return names


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2
    for path, what in ((args.tar, "chips tar"), (args.labels, "labels CSV")):
        if not path.is_file():
            print(f"{path}: no such {what}", file=sys.stderr)
            return 2
    if args.limit is not None and args.limit < 1:
        print("--limit must be at least 1", file=sys.stderr)
        return 2
    if args.copies < 1:
        print("--copies must be at least 1", file=sys.stderr)
        return 2

    # The review session goes with the folder.
    return common.in_work_folder(
        "chip-audit-gui-bench-", lambda work: run(args, work), args.platform
    )


def run(args: argparse.Namespace, work: Path) -> int:
    started = time.perf_counter()
    folder = work / "train-jpg-32px"
    names = unpack(args.tar, folder, args.limit, args.copies)
    if not names:
        print(f"{args.tar}: no .jpg chips in it", file=sys.stderr)
        return 2
    unpacked = time.perf_counter() - started

    # Keras before Qt: PySide6's import hook makes TensorFlow's import crawl otherwise.
    import model.classifier  # noqa: F401, I001
    from model.labels import read_labels, write_labels

    all_labels = read_labels(args.labels)
    labels_path = work / "labels.csv"
    original = {n: n.split("_", 1)[1] if n.startswith("copy") else n for n in names}
    write_labels(
        labels_path,
        {n: all_labels[original[n]] for n in names if original[n] in all_labels},
    )

    from PySide6.QtCore import QObject, Slot

    class Milestones(QObject):
        """Slots on the main thread: the first thumbnail, prediction milestones."""

        def __init__(self) -> None:
            super().__init__()
            self.first_thumbnail: float | None = None
            self.model_loaded: float | None = None

        @Slot(str)
        def thumbnail(self, _name: str) -> None:
            if self.first_thumbnail is None:
                self.first_thumbnail = time.perf_counter()

        @Slot(int)
        def prediction_started(self, _total: int) -> None:
            self.model_loaded = time.perf_counter()

    app, window, errors = common.open_window(work, args.model)
    milestones = Milestones()
    window.page.thumbnails.ready.connect(milestones.thumbnail)
    window.predictions.started.connect(milestones.prediction_started)
    opened: list[float] = []
    window.review_opened.connect(lambda _review: opened.append(time.perf_counter()))
    window.open_failed.connect(lambda message: errors.append(message))
    layouts: dict[str, float] = {}  # "PCA"/"UMAP": when the map first showed it, all chips
    if args.map:
        window.actions_by_id["map"].trigger()
        view = window.map_dock.view

        def laid_out(_generation: int, kind: str, xy) -> None:
            review = window.review
            # Every chip placed: the last layout's.
            if review is not None and len(xy) == len(review) and not np.isnan(xy[:, 0]).any():
                layouts.setdefault(kind, time.perf_counter())

        view.signals.ready.connect(laid_out)
    probe = common.StallProbe()
    collections = common.CollectionLog()
    probe.start()
    if args.profile or args.watch:
        probe.watch()
    app.processEvents()

    # The open call itself counts as a stall: the probe records from before it.
    t_open = time.perf_counter()
    probe.record(since=t_open)
    window.open_folder(folder, labels_path)
    t_returned = time.perf_counter()
    common.wait_until(lambda: bool(opened) or bool(errors), args.timeout)
    if not opened:
        print(f"open_folder failed: {'; '.join(errors)}", file=sys.stderr)
        return 1
    t_opened = opened[0]

    common.wait_until(lambda: not window.predictions.running, args.timeout)
    t_done = time.perf_counter()
    profiler = None
    if args.profile:  # cProfile sees only this thread: the window's
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if args.map:
        common.wait_until(
            lambda: (
                "UMAP" in layouts
                or "failed" in view.note.text()
                or "umap-learn" in view.note.text()
            ),
            args.timeout,
        )
    probe.recording = False
    if profiler is not None:
        profiler.disable()
    common.wait_until(lambda: milestones.first_thumbnail is not None, 10)
    probe.stop()
    t_stopped = time.perf_counter()
    collections.stop()
    review = window.review
    n_chips = len(review.names)
    predicted = int(review.predicted.sum())
    window.close()
    app.processEvents()

    if window.predictions.running or predicted < n_chips - len(review.broken):
        print(f"prediction did not finish ({predicted:,}/{n_chips:,})", file=sys.stderr)
    if errors:
        print("errors shown: " + "; ".join(errors), file=sys.stderr)
    loaded = milestones.model_loaded or t_opened
    rate = predicted / (t_done - loaded) if t_done > loaded else 0.0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    if sys.platform == "darwin":
        peak_mb /= 1024  # bytes there
    first_thumbnail = milestones.first_thumbnail
    first = (first_thumbnail - t_open) * 1000 if first_thumbnail else float("nan")

    print(f"chips                  {n_chips:,} ({predicted:,} predicted) from {args.tar.name}")
    print(f"model                  {args.model}")
    print(f"unpack + labels        {unpacked:.1f} s")
    print(f"open_folder call       {(t_returned - t_open) * 1000:.0f} ms (holds the window)")
    print(f"folder shown           {(t_opened - t_open) * 1000:.0f} ms after the call")
    print(f"first thumbnail        {first:.0f} ms after the open_folder call")
    probe.print_longest(since=t_open, after="the open_folder call")
    print(f"stalls over 50 ms      {sum(s > 50 for s in probe.stalls)}")
    print(f"99th-percentile stall  {common.percentile(probe.stalls, 99):.1f} ms")
    print(f"median stall           {common.percentile(probe.stalls, 50):.1f} ms")
    print(f"garbage collections    {collections.summary(t_open, t_done)} (open to last batch)")
    print(f"prediction             {rate:.0f} chips/s after the model loaded")
    print(f"open to last batch     {t_done - t_open:.1f} s (model load {loaded - t_opened:.1f} s)")
    print(f"peak memory            {peak_mb:.0f} MB (ru_maxrss)")
    if args.map:
        after = [s for s, t in zip(probe.stalls, probe.times) if t >= t_done]
        for kind in ("PCA", "UMAP"):
            shown = layouts.get(kind)
            when = f"{shown - t_done:.1f} s after the last batch" if shown else "never"
            print(f"map: {kind:<4} of all chips {when}")
        worst = sorted(
            ((s, t) for s, t in zip(probe.stalls, probe.times) if t >= t_done), reverse=True
        )[:3]
        ends = ", ".join(f"{s:.0f} ms ending {t - t_done:.1f} s" for s, t in worst)
        print(f"map: longest stalls    {ends} after the last batch")
        print(
            f"map: stalls meanwhile  longest {max(after, default=0):.0f} ms, "
            f"{sum(s > 100 for s in after)} over 100 ms, {sum(s > 50 for s in after)} over 50 ms"
        )
        print(f"map: collections       {collections.summary(t_done, t_stopped)}")
    if args.profile or args.watch:
        probe.print_culprits(t_done, "the last batch")
    if profiler is not None:
        import pstats

        print("\nthe window's thread from the last batch on, by cumulative time:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    common.exit_now(main())
