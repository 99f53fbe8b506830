"""The window's size and the splitter between grid and chip, kept in the user's settings."""

from __future__ import annotations

import base64

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QMainWindow, QSplitter

from model.errors import ChipAuditError
from model.settings import Settings, load_settings, save_settings

DEFAULT_SIZE = (1400, 900)
DEFAULT_SPLIT = [400, 800, 200]  # grid (3 columns); the chip large beside its tags; chips like it


def restore_layout(window: QMainWindow, splitter: QSplitter, settings: Settings) -> None:
    if settings.window_geometry:
        window.restoreGeometry(QByteArray(base64.b64decode(settings.window_geometry)))
    else:
        window.resize(*DEFAULT_SIZE)
    if settings.splitter_state:
        splitter.restoreState(QByteArray(base64.b64decode(settings.splitter_state)))
    else:
        splitter.setSizes(DEFAULT_SPLIT)


def save_layout(window: QMainWindow, splitter: QSplitter, settings: Settings) -> None:
    """Write the layout with the rest of `settings`; a failure is said in the status bar."""
    settings.window_geometry = base64.b64encode(bytes(window.saveGeometry())).decode()
    settings.splitter_state = base64.b64encode(bytes(splitter.saveState())).decode()
    # The active model is written by whoever changes it (the command line too): keep the file's.
    settings.active_model = load_settings().active_model
    try:
        save_settings(settings)
    except ChipAuditError as exc:
        window.statusBar().showMessage(f"Settings not saved: {exc}", 10000)
