"""What the benches share: the checkout on sys.path, the Planet data, the --model check, a
percentile, a temporary app data folder, and, for the benches that drive the window, a shown
MainWindow, waiting on Qt's event loop and a probe of main-thread stalls.

The benches run as `python bench/NAME.py`, which puts this folder on sys.path: they
`import common`. Importing it imports neither Keras nor Qt; the Qt helpers import PySide6 when
called, so a bench can import Keras (model.classifier) first, as it must: PySide6's import hook
makes TensorFlow's import crawl otherwise.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `model` and `gui` import from the checkout, uninstalled
    sys.path.insert(0, str(REPO_ROOT))
PLANET = REPO_ROOT.parent / "shared" / "data" / "planet"
TICK_MS = 10  # the stall probe's timer interval


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values, nearest rank; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def check_model_arg(path: Path) -> bool:
    """Whether the --model file exists; if not, says so in one line on stderr."""
    from model.paths import BUNDLED_MODEL

    if path.is_file():
        return True
    what = "no bundled model yet; pass --model PATH" if path == BUNDLED_MODEL else ""
    print(f"{path}: {what or 'no such model file'}", file=sys.stderr)
    return False


def in_work_folder(prefix: str, run: Callable[[Path], int], qt_platform: str | None = None) -> int:
    """run(work) in a new temporary folder, removed afterwards, which also holds the app's data
    (CHIP_AUDIT_DATA: sessions, trained models). QT_QPA_PLATFORM defaults to qt_platform where
    given, TensorFlow's C++ log to warnings and up."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    if qt_platform is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", qt_platform)
    os.environ["CHIP_AUDIT_DATA"] = str(work / "data")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- Qt: import Keras (model.classifier) before calling these -------------------------------
def open_window(work: Path, model: Path):
    """(app, window, errors): the QApplication and a shown MainWindow using `model` as the active
    model (in the work folder's app data); what the window would show in an error box goes to
    `errors` instead."""
    from PySide6.QtWidgets import QApplication

    import gui.dialogs
    from gui.main_window import MainWindow
    from model.versions import set_active_model

    errors: list[str] = []
    gui.dialogs.show_error = lambda parent, title, message, hint="": errors.append(
        f"{title}: {message}"
    )
    app = QApplication.instance() or QApplication([sys.argv[0]])
    # As the app does (gui/app.py): garbage collected on the window's thread, on a timer.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    app.garbage_collector = GarbageCollector(interval=1.0)
    set_active_model(model)
    window = MainWindow()
    window.show()
    return app, window, errors


def open_folder(window, folder: Path, labels: Path | None, seconds: float = 600) -> bool:
    """Open a folder as the user does (off the window's thread); wait until it is shown."""
    outcome: list[bool] = []
    window.review_opened.connect(lambda _review: outcome.append(True))
    window.open_failed.connect(lambda _message: outcome.append(False))
    window.open_folder(folder, labels)
    wait_until(lambda: bool(outcome), seconds)
    return bool(outcome and outcome[0])


def wait_until(condition: Callable[[], object], seconds: float) -> None:
    """Run Qt's event loop until condition() is true (checked every 20 ms) or `seconds` pass."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.perf_counter() + seconds
    check = QTimer(interval=20)
    check.timeout.connect(
        lambda: loop.quit() if condition() or time.perf_counter() > deadline else None
    )
    check.start()
    loop.exec()
    check.stop()


class CollectionLog:
    """Python's garbage collections while recording: when each ended, its generation and how
    long it held the process (gc.callbacks; a collection holds the GIL, so every thread waits).
    A full (generation 2) collection scans every tracked object that is not frozen."""

    def __init__(self) -> None:
        import gc

        self.pauses: list[tuple[float, int, float]] = []  # (ended, generation, ms)
        self._started = 0.0
        self._gc = gc
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        else:
            self.pauses.append((now, int(info["generation"]), (now - self._started) * 1000))

    def stop(self) -> None:
        if self._note in self._gc.callbacks:
            self._gc.callbacks.remove(self._note)

    def summary(self, since: float, until: float | None = None) -> str:
        """Full collections and the longest of the others between two perf_counter times."""
        until = time.perf_counter() if until is None else until
        seen = [(t, g, ms) for t, g, ms in self.pauses if since <= t <= until]
        full = sorted((ms, t) for t, g, ms in seen if g == 2)
        young = max((ms for _, g, ms in seen if g < 2), default=0.0)
        longest = ", ".join(f"{ms:.0f} ms at {t - since:.1f} s" for ms, t in full[::-1][:3])
        return (
            f"{len(full)} full ({longest or 'none'}); {len(seen) - len(full)} young, "
            f"longest {young:.0f} ms"
        )


class StallProbe:
    """Main-thread stalls: a precise 10 ms timer on the main thread; while recording, each tick
    notes how late it came (the gap since the previous tick less 10 ms) and when."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.last = time.perf_counter()
        self.stalls: list[float] = []  # ms
        self.times: list[float] = []  # when each tick came (perf_counter)
        self.recording = False
        self.timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=TICK_MS)
        self.timer.timeout.connect(self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        if self.recording:
            self.stalls.append(max(0.0, (now - self.last) * 1000 - TICK_MS))
            self.times.append(now)
        self.last = now

    def start(self) -> None:
        self.timer.start()

    def record(self, since: float) -> None:
        """Record from now on, the first gap counted from `since` (a perf_counter time)."""
        self.last = since
        self.recording = True

    def stop(self) -> None:
        self.timer.stop()
        self._watching = False

    def watch(self, over_ms: float = 60.0) -> None:
        """Sample what the window's thread is doing during its stalls: a thread looks every 5 ms,
        and once a tick is `over_ms` late it notes the window thread's innermost frames of this
        project (a stall's cause, not only its length); `print_culprits` prints them."""
        import threading
        import traceback

        main = threading.main_thread().ident
        self.culprits: list[tuple[float, str]] = []  # (when, where)
        self._watching = True

        def look() -> None:
            noted_for = None
            while self._watching:
                time.sleep(0.005)
                late = (time.perf_counter() - self.last) * 1000 - TICK_MS
                if not self.recording or late < over_ms or noted_for == self.last:
                    continue
                frame = sys._current_frames().get(main)
                if frame is None:
                    continue
                ours = [
                    f"{Path(f.filename).name}:{f.lineno} {f.name}"
                    for f in traceback.extract_stack(frame)
                    if "/site-packages/" not in f.filename and "/lib/python" not in f.filename
                ]
                self.culprits.append((time.perf_counter(), " < ".join(ours[::-1][:4])))
                noted_for = self.last  # one sample per stall

        threading.Thread(target=look, name="stall-watch", daemon=True).start()

    def print_culprits(self, since: float, after: str) -> None:
        for when, where in getattr(self, "culprits", []):
            print(f"stall culprit          at {when - since:.1f} s after {after}: {where}")

    def print_longest(self, since: float, after: str, worst_five: bool = False) -> None:
        """Print the longest stall and when it ended (s after `since`, "after <after>"), with
        worst_five the five longest too; nothing where no stall was recorded."""
        if not self.stalls:
            return
        worst = max(range(len(self.stalls)), key=self.stalls.__getitem__)
        print(
            f"longest stall          {self.stalls[worst]:.0f} ms "
            f"(ended {self.times[worst] - since:.1f} s after {after})"
        )
        if worst_five:
            top = sorted(range(len(self.stalls)), key=self.stalls.__getitem__)[-5:][::-1]
            print(
                "worst five             "
                + ", ".join(f"{self.stalls[i]:.0f} ms @ {self.times[i] - since:.1f} s" for i in top)
            )


def exit_now(code: int) -> None:
    """Exit without Python's teardown, after flushing: Qt and TensorFlow objects freed in
    arbitrary order at exit can crash the process after the figures are printed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
