"""Controls that choose which chips the grid shows and in what order; emits a ChipQuery."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from model.review import ChipQuery
from model.tags import TAGS

KIND_LABELS = {
    "all": "All chips",
    "disagreements": "Model and crowd disagree",
    "model_yes_crowd_no": "Model yes, crowd no",
    "model_no_crowd_yes": "Model no, crowd yes",
    "violations": "Rule broken",
    "broken": "Unreadable chips",
    "near_duplicates": "Look-alikes tagged differently",
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


MODEL_CALLS_NONE = "Model calls: (no filter)"


class StayOpenMenu(QMenu):
    """A menu of tick boxes that stays open while ticks are set: several tags in a row."""

    def mouseReleaseEvent(self, event) -> None:
        action = self.actionAt(event.position().toPoint())
        if action is not None and action.isCheckable() and action.isEnabled():
            action.trigger()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:
        action = self.activeAction()
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
        if enter and action is not None and action.isCheckable():
            action.trigger()
            return
        super().keyPressEvent(event)


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
            text=MODEL_CALLS_NONE,
            toolTip=(
                "Only chips the model tags with ANY of the ticked tags (at or above the tag's"
                " threshold), for triage: slash_burn, conventional_mine, road…"
            ),
        )
        self.model_says.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        # A tool button keeps to its size hint, which leaves no room for the menu arrow: the
        # arrow was drawn over the text. Let it take its share of the row like the combos.
        self.model_says.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        menu = StayOpenMenu(self.model_says)
        heading = menu.addAction("Chips the model tags with any of:")
        heading.setEnabled(False)
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
        # A chart's bar or cell clicked in the Overview: only those chips, said and clearable.
        self.rows: frozenset[int] | None = None
        self.rows_label = ""
        self.chart_note = QLabel()
        self.chart_clear = QToolButton(text="Show all", toolTip="Clear the chart selection")
        self.chart_clear.clicked.connect(lambda: self.set_rows(None))
        chart_row = QHBoxLayout()
        chart_row.addWidget(self.chart_note, 1)
        chart_row.addWidget(self.chart_clear)
        self.chart_bar = QWidget()
        self.chart_bar.setLayout(chart_row)
        chart_row.setContentsMargins(0, 0, 0, 0)
        self.chart_bar.setStyleSheet("background: rgb(255, 240, 200);")
        self.chart_bar.setVisible(False)
        # "Chips like the selected ones" (the similar-chips panel sets it); × shows all again.
        self.like_rows: list[int] = []
        self.like = QToolButton(toolTip="Showing only chips like the chosen ones; click to end")
        self.like.clicked.connect(lambda: self.set_like([]))
        self.like.setVisible(False)

        # Two rows: what to show, then how to order it; one row squeezed the search box to nothing.
        self.search.setMinimumWidth(160)
        top, bottom = QHBoxLayout(), QHBoxLayout()
        top.addWidget(self.search, 2)
        top.addWidget(self.kind, 1)
        top.addWidget(self.reviewed, 1)
        top.addWidget(self.like)
        bottom.addWidget(self.tag, 1)
        bottom.addWidget(self.model_says, 1)
        bottom.addWidget(QLabel("Sort:"))
        bottom.addWidget(self.sort, 1)
        bottom.addWidget(self.sort_tag, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addLayout(bottom)
        layout.addWidget(self.chart_bar)
        self.search.textChanged.connect(self._emit)
        for combo in (self.kind, self.reviewed, self.tag, self.sort, self.sort_tag):
            combo.currentIndexChanged.connect(self._emit)

    def _combo(self, labels: dict[str, str], tip: str) -> QComboBox:
        combo = QComboBox(toolTip=tip)
        for key, text in labels.items():
            combo.addItem(text, key)
        return combo

    def reset(self) -> None:
        """Show every chip again, with one requery instead of one per control."""
        controls = [self.search, self.kind, self.reviewed, self.tag, *self.model_actions.values()]
        for control in controls:
            control.blockSignals(True)
        try:
            self.search.clear()
            for combo in (self.kind, self.reviewed, self.tag):
                combo.setCurrentIndex(0)
            for action in self.model_actions.values():  # "Model calls" hides chips too
                action.setChecked(False)
            self._set_rows(None, "")
            self.like_rows = []
        finally:
            for control in controls:
                control.blockSignals(False)
        self._emit()

    def query(self) -> ChipQuery:
        chosen = [t for t, a in self.model_actions.items() if a.isChecked()]
        return ChipQuery(
            text=self.search.text().strip(),
            kind=self.kind.currentData(),
            reviewed=self.reviewed.currentData(),
            tag=self.tag.currentData(),
            above_threshold=chosen,
            like=list(self.like_rows),
            sort=self.sort.currentData(),
            sort_tag=self.sort_tag.currentData()
            if self.sort.currentData() == "probability"
            else None,
            rows=self.rows,
            rows_label=self.rows_label,
        )

    def set_rows(self, rows: frozenset[int] | None, label: str = "") -> None:
        """Show only these chips (a chart's selection), or every chip again (None)."""
        self._set_rows(rows, label)
        self._emit()

    def _set_rows(self, rows: frozenset[int] | None, label: str) -> None:
        self.rows, self.rows_label = rows, label if rows is not None else ""
        self.chart_note.setText(f"Chart selection: {label}" if rows is not None else "")
        self.chart_bar.setVisible(rows is not None)

    def set_like(self, rows: list[int]) -> None:
        """Show only these chips and the chips most like them (none: no such filter)."""
        self.like_rows = list(rows)
        self._emit()

    def _emit(self) -> None:
        self.like.setText(f"Like {len(self.like_rows)} chosen chip(s) ×")
        self.like.setVisible(bool(self.like_rows))
        chosen = [t for t, a in self.model_actions.items() if a.isChecked()]
        self.model_says.setText(
            "Model calls any of: " + ", ".join(chosen) if chosen else MODEL_CALLS_NONE
        )
        self.sort_tag.setVisible(self.sort.currentData() == "probability")
        self.changed.emit(self.query())
