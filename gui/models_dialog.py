"""The Models dialog: every model version with its figures; switch the active one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from model.versions import list_models

COLUMNS = ("", "Version", "Created", "Trained on", "Validation F2", "F1", "Input")


class ModelsDialog(QDialog):
    chosen = Signal(str)  # model path

    def __init__(self, active: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(860, 360)
        self.entries = list_models()
        self.table = QTableWidget(len(self.entries), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        for r, entry in enumerate(self.entries):
            card = entry.card
            val = card.metrics.get("validation", {})
            cells = [
                "● in use" if entry.path.resolve() == Path(active).resolve() else "",
                ("bundled  " if entry.bundled else "") + card.version,
                card.created.replace("T", " ")[:19],
                f"{card.data.get('n_train', '?')} chips"
                + (f", from {card.parent}" if card.parent else ""),
                f"{val['f2_samples']:.4f}" if "f2_samples" in val else "–",
                f"{val['f1_samples']:.4f}" if "f1_samples" in val else "–",
                f"{card.input_size} px",
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(entry.path))
                self.table.setItem(r, c, item)
            if cells[0]:
                self.table.selectRow(r)
        self.table.doubleClicked.connect(lambda _: self._use())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.use_button = buttons.addButton(
            "Use this model", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.use_button.clicked.connect(self._use)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)

    def select_path(self, path: Path) -> None:
        for r, entry in enumerate(self.entries):
            if entry.path.resolve() == Path(path).resolve():
                self.table.selectRow(r)

    def _use(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.chosen.emit(str(self.entries[rows[0].row()].path))
        self.accept()
