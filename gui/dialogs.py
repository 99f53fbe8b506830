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


def confirm(parent: QWidget | None, title: str, question: str, yes_text: str) -> bool:
    """A yes/no question whose safe answer (no) is the default."""
    box = QMessageBox(QMessageBox.Icon.Question, title, question, parent=parent)
    yes = box.addButton(yes_text, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
    box.exec()
    return box.clickedButton() is yes


def choose(
    parent: QWidget | None, title: str, message: str, hint: str, options: list[str]
) -> str | None:
    """A question with several ways on; returns the option chosen, or None (Cancel, the
    default)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=parent)
    if hint:
        box.setInformativeText(hint)
    buttons = {box.addButton(text, QMessageBox.ButtonRole.AcceptRole): text for text in options}
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
    box.exec()
    return buttons.get(box.clickedButton())
