"""Start the app: `python main.py` or `python main.py review FOLDER [--labels CSV]`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="main.py review", description="Open the review window.")
    parser.add_argument("folder", type=Path, nargs="?", help="a folder of chips")
    parser.add_argument("--labels", type=Path, help="the crowd's labels CSV for that folder")
    args = parser.parse_args(sys.argv[2:] if argv is None else argv)
    if args.folder is not None and not args.folder.is_dir():
        print(f"error: {args.folder}: no such folder", file=sys.stderr)
        return 2
    if args.labels is not None and not args.labels.is_file():
        print(f"error: {args.labels}: no such labels file", file=sys.stderr)
        return 2

    # Keras first: once PySide6 is imported, its import hook reads the source of every module
    # imported after it, which turns TensorFlow's import from seconds into minutes.
    import model.classifier  # noqa: F401, I001
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    # Python's garbage collector runs in whichever thread allocates: in the inference thread it
    # could free a closed dialog there, and Qt widgets must only die on the window's thread
    # (seen in a test: a window's menu freed in the inference thread deadlocked). pyqtgraph's
    # collector turns automatic collection off and collects on a timer, on this thread.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    collector = GarbageCollector(interval=1.0)  # noqa: F841 (kept alive for the app's life)
    app.setApplicationName("Chip Audit")
    app.setOrganizationName("ChipAudit")
    window = MainWindow()
    window.show()
    if args.folder is not None:
        window.open_folder(args.folder, args.labels)
    code = app.exec()
    # Everything is on disk by now (each decision is committed as it is made). Skip Python's
    # teardown: Qt and TensorFlow objects freed in arbitrary order at exit can crash the process
    # (seen here: "Fatal Python error: bool_dealloc"), which would turn a clean quit into an error.
    window.settings.sync()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
