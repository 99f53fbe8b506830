"""File > Export: ask where, write through the review (model/), say what was written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QStatusBar, QWidget

from gui import dialogs
from model.errors import ChipAuditError
from model.review import Review

# id: (dialog title, file name suffix, what a row is, the write)
EXPORTS: dict[str, tuple[str, str, str, Callable[[Review, Path], int]]] = {
    "labels": (
        "Export corrected labels",
        "_corrected.csv",
        "rows",
        lambda review, path: review.export_labels(path),
    ),
    "labels_with_model": (
        "Export corrected labels, with the model's tags for unlabelled chips",
        "_corrected.csv",
        "rows",
        lambda review, path: review.export_labels(path, include_model_for_unlabelled=True),
    ),
    "change_log": (
        "Export the change log",
        "_changes.csv",
        "decisions",
        lambda review, path: review.export_change_log(path),
    ),
    "predictions": (
        "Export the model's predictions",
        "_predictions.csv",
        "chips",
        lambda review, path: review.export_predictions(path),
    ),
}


def export(parent: QWidget, status: QStatusBar, review: Review, kind: str) -> None:
    title, suffix, what, write = EXPORTS[kind]
    start = str(review.folder.parent / f"{review.folder.name}{suffix}")
    chosen, _ = QFileDialog.getSaveFileName(parent, title, start, "CSV files (*.csv)")
    if not chosen:
        return
    path = Path(chosen)
    try:
        count = write(review, path)
    except ChipAuditError as exc:
        dialogs.show_error(
            parent, "Export failed", str(exc), "Choose another place to save; nothing was lost."
        )
        return
    status.showMessage(f"Wrote {count:,} {what} to {path}", 8000)
