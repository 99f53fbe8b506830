"""`python main.py stats LABELS.csv [--out DIR] [--chips FOLDER]`: the study's first charts (tag
counts, co-occurrence, colour per tag) as PNG and CSV, without a window. The numbers are
model/overview.py's, the charts the Overview's (gui/overview_charts.py), drawn offscreen."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from model.chip_colours import small_images
from model.chips import list_chips
from model.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from model.errors import ChipAuditError
from model.labels import read_labels
from model.overview import labels_overview, write_csv
from model.wording import count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py stats", description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", type=Path, help="a labels CSV (image_name,tags)")
    parser.add_argument("--out", type=Path, help="folder for the PNG and CSV files")
    parser.add_argument(
        "--chips", type=Path, help="the chips' folder: adds colour per tag (reads every chip)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        written = run(args.labels, args.out, args.chips)
    except ChipAuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    for path in written:
        print(path)
    return EXIT_OK


def run(labels_path: Path, out: Path | None, chips: Path | None) -> list[Path]:
    """Write the charts and their numbers; returns the files written."""
    labels = read_labels(labels_path)
    if not labels:
        raise ChipAuditError(f"{labels_path}: no labelled chip: nothing to count")
    out = out or labels_path.parent / f"{labels_path.stem}_stats"
    mean_rgb = None
    if chips is not None:
        listing = list_chips(chips)  # refuses a missing folder with a one-line error
        by_name = {p.stem: p for p in listing.paths}
        present = [n for n in labels if n in by_name]
        colours = small_images([by_name[n] for n in present])
        mean_rgb = np.full((len(labels), 3), np.nan)
        position = {n: k for k, n in enumerate(labels)}
        mean_rgb[[position[n] for n in present]] = colours.means
        unread = len(labels) - len(present) + len(colours.broken)
        if unread:
            print(
                f"colour per tag: {count(unread, 'labelled chip')} missing or unreadable, left out",
                file=sys.stderr,
            )
    frames = labels_overview(labels, mean_rgb)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChipAuditError(f"{out}: cannot create the folder ({exc.strerror})") from None
    written = []
    for name, frame in frames.items():
        write_csv(frame, out / f"{name}.csv")
        written.append(out / f"{name}.csv")
    written += _draw(frames, out)
    return written


def _draw(frames: dict, out: Path) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no window is ever shown
    from PySide6.QtWidgets import QApplication

    from gui.overview_charts import RGB_COLOURS, SOURCE_COLOURS, BarsChart, HeatmapChart

    _app = QApplication.instance() or QApplication([])
    charts = {
        "tag_counts": BarsChart("Chips per tag (crowd)", SOURCE_COLOURS),
        "cooccurrence": HeatmapChart("Chips with both tags", "tag", "with"),
        "cooccurrence_share": HeatmapChart(
            "Share of the row's tag with the column's", "tag", "with"
        ),
        "colour_per_tag": BarsChart("Mean colour of the chips with each tag", RGB_COLOURS),
    }
    written = []
    for name, chart in charts.items():
        if name not in frames:
            continue
        chart.resize(1400, 1000)
        if isinstance(chart, HeatmapChart):
            chart.set_frame(frames[name], as_share=name.endswith("share"))
        else:
            chart.set_frame(frames[name])
        chart.show()  # offscreen: lays the chart out at its size, shows nothing
        _app.processEvents()
        path = out / f"{name}.png"
        chart.export_png(path)
        chart.close()
        written.append(path)
    return written
