"""The start screen: open a folder, or one of the recent ones."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class StartPage(QWidget):
    open_requested = Signal()
    recent_chosen = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        title = QLabel(
            "<h1>Chip Audit</h1><p>Audit and correct the tags on satellite image chips.</p>"
        )
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        button = QPushButton("Open a folder of chips…")
        button.setDefault(True)
        button.clicked.connect(self.open_requested)
        hint = QLabel("or drop a folder (and its labels CSV) on this window")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setEnabled(False)
        self.recent = QListWidget()
        self.recent.itemActivated.connect(
            lambda item: self.recent_chosen.emit(item.data(Qt.ItemDataRole.UserRole))
        )
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(hint)
        layout.addWidget(QLabel("Recent folders:"))
        layout.addWidget(self.recent, 2)
        layout.setContentsMargins(120, 20, 120, 40)

    def set_recent(self, folders: list[str]) -> None:
        self.recent.clear()
        for folder in folders:
            item = QListWidgetItem(f"{Path(folder).name}    —    {folder}")
            item.setData(Qt.ItemDataRole.UserRole, folder)
            if not Path(folder).is_dir():
                item.setText(item.text() + "   (missing)")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.recent.addItem(item)
        if self.recent.count():
            self.recent.setCurrentRow(0)
