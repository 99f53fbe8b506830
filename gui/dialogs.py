"""Error and question dialogs in one place, so tests can answer them without a user."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def show_error(parent: QWidget | None, title: str, message: str, hint: str = "") -> None:
    """What went wrong, in one line, and what to do about it."""
    box = QMessageBox(
        QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent
    )
    if hint:
        box.setInformativeText(hint)
    box.exec()
