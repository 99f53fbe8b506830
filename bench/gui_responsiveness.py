"""Does the review window stay responsive while it predicts a big folder?

Unpacks the 32 px training chips (all 36,329, or --limit N) to a temporary folder, writes their
labels from train_v2.csv beside them, opens the folder in the real MainWindow and lets it predict
everything with --model, while a 10 ms timer on the main thread measures how late each tick comes
(a stall: the gap between ticks less 10 ms). Prints:

  open_folder           how long the call itself holds the main thread
  first thumbnail       from the open_folder call to the first decoded thumbnail delivered
  stalls                longest and 99th percentile while predicting
  prediction            chips/s (after the model loaded) and the wall time to the last batch
  peak memory           ru_maxrss of the process

The temporary folder, and the review session written there, are removed at the end. Usage:

    python bench/gui_responsiveness.py [--model M.keras] [--limit N] [--tar T] [--labels CSV]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
PLANET = REPO_ROOT.parent / "shared" / "data" / "planet"
TICK_MS = 10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="a .keras model")
    parser.add_argument("--limit", type=int, help="unpack only the first N chips of the tar")
    parser.add_argument("--tar", type=Path, default=PLANET / "train-jpg-32px.tar")
    parser.add_argument("--labels", type=Path, default=PLANET / "train_v2.csv")
    parser.add_argument(
        "--platform", default="offscreen", help="QT_QPA_PLATFORM unless already set (offscreen)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="give up after S seconds")
    return parser.parse_args(argv)


def unpack(tar_path: Path, dest: Path, limit: int | None) -> list[str]:
    """The tar's .jpg files, flat into dest (by base name: no path from the archive is used)."""
    dest.mkdir(parents=True)
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
            (dest / base).write_bytes(source.read())
            names.append(base[: -len(".jpg")])
    return names


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from model.paths import BUNDLED_MODEL

    if not args.model.is_file():
        what = "no bundled model yet; pass --model PATH" if args.model == BUNDLED_MODEL else ""
        print(f"{args.model}: {what or 'no such model file'}", file=sys.stderr)
        return 2
    for path, what in ((args.tar, "chips tar"), (args.labels, "labels CSV")):
        if not path.is_file():
            print(f"{path}: no such {what}", file=sys.stderr)
            return 2
    if args.limit is not None and args.limit < 1:
        print("--limit must be at least 1", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="chip-audit-gui-bench-"))
    os.environ.setdefault("QT_QPA_PLATFORM", args.platform)
    os.environ["CHIP_AUDIT_DATA"] = str(work / "data")  # the session goes with the folder
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    started = time.perf_counter()
    folder = work / "train-jpg-32px"
    names = unpack(args.tar, folder, args.limit)
    if not names:
        print(f"{args.tar}: no .jpg chips in it", file=sys.stderr)
        return 2
    unpacked = time.perf_counter() - started

    # Keras before Qt: PySide6's import hook makes TensorFlow's import crawl otherwise.
    import model.classifier  # noqa: F401, I001
    from model.labels import read_labels, write_labels

    all_labels = read_labels(args.labels)
    labels_path = work / "labels.csv"
    write_labels(labels_path, {n: all_labels[n] for n in names if n in all_labels})

    from PySide6.QtCore import QEventLoop, QObject, QSettings, Qt, QTimer, Slot
    from PySide6.QtWidgets import QApplication

    import gui.main_window as main_window
    from gui.main_window import MainWindow

    errors: list[str] = []
    main_window.show_error = lambda parent, title, message, hint="": errors.append(
        f"{title}: {message}"
    )

    class Probe(QObject):
        """Slots on the main thread: tick gaps, the first thumbnail, prediction milestones."""

        def __init__(self) -> None:
            super().__init__()
            self.last = time.perf_counter()
            self.stalls: list[float] = []
            self.times: list[float] = []  # when each tick came
            self.recording = False
            self.first_thumbnail: float | None = None
            self.model_loaded: float | None = None

        @Slot()
        def tick(self) -> None:
            now = time.perf_counter()
            if self.recording:
                self.stalls.append(max(0.0, (now - self.last) * 1000 - TICK_MS))
                self.times.append(now)
            self.last = now

        @Slot(str)
        def thumbnail(self, _name: str) -> None:
            if self.first_thumbnail is None:
                self.first_thumbnail = time.perf_counter()

        @Slot(int)
        def prediction_started(self, _total: int) -> None:
            self.model_loaded = time.perf_counter()

    app = QApplication.instance() or QApplication([sys.argv[0]])
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("active_model", str(args.model.resolve()))
    window = MainWindow(settings)
    window.show()
    probe = Probe()
    window.page.thumbnails.ready.connect(probe.thumbnail)
    ticker = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=TICK_MS)
    ticker.timeout.connect(probe.tick)
    ticker.start()
    app.processEvents()

    t_open = time.perf_counter()
    if not window.open_folder(folder, labels_path):
        print(f"open_folder failed: {'; '.join(errors)}", file=sys.stderr)
        return 1
    t_opened = time.perf_counter()
    if window.inference is not None:
        window.inference.worker.started.connect(probe.prediction_started)
    probe.last = t_opened
    probe.recording = True

    def wait_until(condition, seconds: float) -> None:
        loop = QEventLoop()
        deadline = time.perf_counter() + seconds
        check = QTimer(interval=20)
        check.timeout.connect(
            lambda: loop.quit() if condition() or time.perf_counter() > deadline else None
        )
        check.start()
        loop.exec()
        check.stop()

    wait_until(lambda: not window.predicting, args.timeout)
    t_done = time.perf_counter()
    probe.recording = False
    wait_until(lambda: probe.first_thumbnail is not None, 10)
    ticker.stop()
    review = window.review
    n_chips = len(review.names)
    predicted = int(review.predicted.sum())
    window.close()
    app.processEvents()

    if window.predicting or predicted < n_chips - len(review.broken):
        print(f"prediction did not finish ({predicted:,}/{n_chips:,})", file=sys.stderr)
    if errors:
        print("errors shown: " + "; ".join(errors), file=sys.stderr)
    loaded = probe.model_loaded or t_opened
    rate = predicted / (t_done - loaded) if t_done > loaded else 0.0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    if sys.platform == "darwin":
        peak_mb /= 1024  # bytes there
    first = (probe.first_thumbnail - t_open) * 1000 if probe.first_thumbnail else float("nan")

    print(f"chips                  {n_chips:,} ({predicted:,} predicted) from {args.tar.name}")
    print(f"model                  {args.model}")
    print(f"unpack + labels        {unpacked:.1f} s")
    print(f"open_folder            {(t_opened - t_open) * 1000:.0f} ms")
    print(f"first thumbnail        {first:.0f} ms after the open_folder call")
    if probe.stalls:
        worst = max(range(len(probe.stalls)), key=probe.stalls.__getitem__)
        when = probe.times[worst] - t_opened
        print(
            f"longest stall          {probe.stalls[worst]:.0f} ms "
            f"(ended {when:.1f} s after open_folder returned)"
        )
    print(f"stalls over 50 ms      {sum(s > 50 for s in probe.stalls)}")
    print(f"99th-percentile stall  {percentile(probe.stalls, 99):.1f} ms")
    print(f"median stall           {percentile(probe.stalls, 50):.1f} ms")
    print(f"prediction             {rate:.0f} chips/s after the model loaded")
    print(f"open to last batch     {t_done - t_open:.1f} s (model load {loaded - t_opened:.1f} s)")
    print(f"peak memory            {peak_mb:.0f} MB (ru_maxrss)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
