"""The Models dialog: every model version with its figures; switch the active one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui import dialogs
from model.errors import ChipAuditError
from model.versions import ModelEntry, delete_model, list_models

COLUMNS = ("", "Version", "Created", "Trained on", "Validation F2", "F1", "Measured on", "Input")


class ModelsDialog(QDialog):
    chosen = Signal(str)  # model path
    deleted = Signal(str, int)  # model path, bytes freed

    def __init__(self, active: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(860, 360)
        self.entries = list_models()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.active = Path(active)
        self._fill()
        self.table.doubleClicked.connect(lambda _: self._use())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.use_button = buttons.addButton(
            "Use this model", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.use_button.clicked.connect(self._use)
        self.delete_button = buttons.addButton("Delete…", QDialogButtonBox.ButtonRole.ActionRole)
        self.delete_button.clicked.connect(self._delete)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        buttons.rejected.connect(self.reject)
        self.note = QLabel(
            "Validation figures compare only between models measured on the same chips; figures"
            " measured on other chips than the model in use are greyed. A model trained here can"
            " be deleted; the bundled model and the one in use cannot."
        )
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self._selection_changed()

    def _fill(self) -> None:
        active = next((e for e in self.entries if e.path.resolve() == self.active.resolve()), None)
        basis = active.figures.basis if active is not None else None
        faint = self.palette().color(self.palette().ColorRole.PlaceholderText)
        self.table.setRowCount(len(self.entries))
        for r, entry in enumerate(self.entries):
            card, figures = entry.card, entry.figures
            comparable = basis is None or figures.basis == basis
            cells = [
                "● in use" if entry is active else "",
                ("bundled  " if entry.bundled else "") + card.version,
                card.created.replace("T", " ")[:19],
                f"{card.data.get('n_train', '?')} chips"
                + (f", from {card.parent}" if card.parent else ""),
                f"{figures.f2_samples:.4f}" if figures.f2_samples is not None else "–",
                f"{figures.f1_samples:.4f}" if figures.f1_samples is not None else "–",
                figures.measured_on,
                f"{card.input_size} px",
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(entry.path))
                if c in (4, 5) and not comparable:
                    item.setForeground(faint)
                    item.setToolTip("measured on other chips than the model in use: not comparable")
                self.table.setItem(r, c, item)
            if entry is active:
                self.table.selectRow(r)

    def _selected(self) -> ModelEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows else None

    def _selection_changed(self) -> None:
        entry = self._selected()
        deletable = (
            entry is not None
            and not entry.bundled
            and entry.path.resolve() != self.active.resolve()
        )
        self.delete_button.setEnabled(deletable)

    def _delete(self) -> None:
        entry = self._selected()
        if entry is None or not dialogs.confirm(
            self,
            "Delete this model?",
            f"Delete model {entry.card.version} and its card ({entry.path.parent})? This cannot"
            " be undone.",
            "Delete",
        ):
            return
        try:
            freed = delete_model(entry.path, self.active)
        except ChipAuditError as exc:
            dialogs.show_error(self, "Not deleted", str(exc))
            return
        self.entries = list_models()
        self._fill()
        self.deleted.emit(str(entry.path), freed)

    def select_path(self, path: Path) -> None:
        for r, entry in enumerate(self.entries):
            if entry.path.resolve() == Path(path).resolve():
                self.table.selectRow(r)

    def _use(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.chosen.emit(str(self.entries[rows[0].row()].path))
        self.accept()
