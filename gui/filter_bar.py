"""Controls that choose which chips the grid shows and in what order; emits a ChipQuery."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QMenu, QToolButton, QWidget

from model.review import ChipQuery
from model.tags import TAGS

KIND_LABELS = {
    "all": "All chips",
    "disagreements": "Model and crowd disagree",
    "model_yes_crowd_no": "Model yes, crowd no",
    "model_no_crowd_yes": "Model no, crowd yes",
    "violations": "Rule broken",
    "broken": "Unreadable chips",
}
REVIEW_LABELS = {
    "any": "Reviewed or not",
    "unreviewed": "Not reviewed",
    "reviewed": "Reviewed",
    "changed": "Changed by me",
}
SORT_LABELS = {
    "suspicion": "Most suspect first",
    "name": "Name",
    "probability": "Model probability",
}


class FilterBar(QWidget):
    changed = Signal(object)  # ChipQuery

    def __init__(self) -> None:
        super().__init__()
        self.search = QLineEdit(placeholderText="Filter by name…", clearButtonEnabled=True)
        self.kind = self._combo(KIND_LABELS, "Which chips to show")
        self.reviewed = self._combo(REVIEW_LABELS, "Review state")
        self.tag = QComboBox(toolTip="Only chips that carry this tag now")
        self.tag.addItem("Any tag", None)
        for tag in TAGS:
            self.tag.addItem(f"Tagged {tag}", tag)
        self.model_says = QToolButton(
            text="Model calls: any",
            toolTip=(
                "Only chips the model tags with any of these, above the tag's threshold "
                "(for triage: slash_burn, conventional_mine, road…)"
            ),
        )
        self.model_says.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.model_says)
        self.model_actions: dict[str, QAction] = {}
        for tag in TAGS:
            action = menu.addAction(tag)
            action.setCheckable(True)
            action.toggled.connect(self._emit)
            self.model_actions[tag] = action
        self.model_says.setMenu(menu)
        self.sort = self._combo(SORT_LABELS, "Order of the grid")
        self.sort_tag = QComboBox(toolTip="The tag whose probability orders the grid")
        for tag in TAGS:
            self.sort_tag.addItem(tag, tag)
        self.sort_tag.setVisible(False)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search, 2)
        for widget in (self.kind, self.reviewed, self.tag, self.model_says):
            layout.addWidget(widget)
        layout.addWidget(QLabel("Sort:"))
        layout.addWidget(self.sort)
        layout.addWidget(self.sort_tag)
        self.search.textChanged.connect(self._emit)
        for combo in (self.kind, self.reviewed, self.tag, self.sort, self.sort_tag):
            combo.currentIndexChanged.connect(self._emit)

    def _combo(self, labels: dict[str, str], tip: str) -> QComboBox:
        combo = QComboBox(toolTip=tip)
        for key, text in labels.items():
            combo.addItem(text, key)
        return combo

    def query(self) -> ChipQuery:
        chosen = [t for t, a in self.model_actions.items() if a.isChecked()]
        return ChipQuery(
            text=self.search.text().strip(),
            kind=self.kind.currentData(),
            reviewed=self.reviewed.currentData(),
            tag=self.tag.currentData(),
            above_threshold=chosen,
            sort=self.sort.currentData(),
            sort_tag=self.sort_tag.currentData()
            if self.sort.currentData() == "probability"
            else None,
        )

    def _emit(self) -> None:
        chosen = [t for t, a in self.model_actions.items() if a.isChecked()]
        self.model_says.setText("Model calls: " + (", ".join(chosen) if chosen else "any"))
        self.sort_tag.setVisible(self.sort.currentData() == "probability")
        self.changed.emit(self.query())
