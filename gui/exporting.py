"""File > Export: ask where, write through the review (model/), say what was written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QStatusBar, QWidget

from gui import dialogs
from model.errors import ChipAuditError
from model.review import Review

# id: (dialog title, file name suffix, what a row is, the write; `shown` is the grid's rows,
# or None for every chip)
Write = Callable[[Review, Path, "list[int] | None"], int]
EXPORTS: dict[str, tuple[str, str, str, Write]] = {
    "labels": (
        "Export corrected labels",
        "_corrected.csv",
        "rows",
        lambda review, path, shown: review.export_labels(path),
    ),
    "labels_shown": (
        "Export corrected labels of the chips shown",
        "_corrected_shown.csv",
        "rows",
        lambda review, path, shown: review.export_labels(path, only=shown),
    ),
    "labels_with_model": (
        "Export corrected labels, with the model's tags for unlabelled chips",
        "_corrected.csv",
        "rows",
        lambda review, path, shown: review.export_labels(path, include_model_for_unlabelled=True),
    ),
    "change_log": (
        "Export the change log",
        "_changes.csv",
        "decisions",
        lambda review, path, shown: review.export_change_log(path),
    ),
    "predictions": (
        "Export the model's predictions",
        "_predictions.csv",
        "chips",
        lambda review, path, shown: review.export_predictions(path),
    ),
    "predictions_shown": (
        "Export the model's predictions for the chips shown",
        "_predictions_shown.csv",
        "chips",
        lambda review, path, shown: review.export_predictions(path, only=shown),
    ),
}


def export(
    parent: QWidget, status: QStatusBar, review: Review, kind: str, shown: list[int]
) -> None:
    title, suffix, what, write = EXPORTS[kind]
    start = str(review.folder.parent / f"{review.folder.name}{suffix}")
    chosen, _ = QFileDialog.getSaveFileName(parent, title, start, "CSV files (*.csv)")
    if not chosen:
        return
    path = Path(chosen)
    try:
        count = write(review, path, shown)
    except ChipAuditError as exc:
        dialogs.show_error(parent, "Nothing exported", str(exc), "Nothing was written or lost.")
        return
    status.showMessage(f"Wrote {count:,} {what} to {path}", 8000)


def export_charts(parent: QWidget, status: QStatusBar, review: Review, write) -> None:
    """Every Overview chart as PNG and CSV into a folder the user picks; `write(folder)` returns
    the files written."""
    start = str(review.folder.parent)
    chosen = QFileDialog.getExistingDirectory(parent, "Export the Overview's charts into", start)
    if not chosen:
        return
    try:
        written = write(Path(chosen))
    except (ChipAuditError, OSError) as exc:
        dialogs.show_error(parent, "Charts not exported", str(exc), "Nothing was lost.")
        return
    status.showMessage(f"Wrote {len(written)} files (PNG and CSV) to {chosen}", 8000)
