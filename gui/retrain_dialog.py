"""Retrain dialogs: the settings (accept with Enter), then live progress with loss and F2 curves,
and at the end a side-by-side comparison with the model in use."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from model.comparison import verdict
from model.tags import TAGS
from model.train_config import TrainConfig

COMPARE_COLUMNS = (
    "tag (support)",
    "precision now",
    "new",
    "recall now",
    "new",
    "F1 now",
    "new",
    "threshold now",
    "new",
)


class RetrainSettingsDialog(QDialog):
    """Shows the defaults; Enter accepts them."""

    def __init__(self, config: TrainConfig, summary: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain the model")
        self.config = config
        self.epochs = QSpinBox(minimum=1, maximum=200, value=config.epochs)
        self.val_frac = QDoubleSpinBox(
            minimum=0.05, maximum=0.5, singleStep=0.05, value=config.val_frac
        )
        self.input_size = QSpinBox(minimum=32, maximum=256, singleStep=32, value=config.input_size)
        self.learning_rate = QDoubleSpinBox(
            decimals=5, minimum=1e-5, maximum=1e-2, singleStep=1e-4, value=config.learning_rate
        )
        form = QFormLayout()
        form.addRow(QLabel(summary))
        form.addRow("Start from", QLabel(str(config.init)))
        form.addRow("Epochs", self.epochs)
        form.addRow("Validation fraction", self.val_frac)
        form.addRow("Input size (px)", self.input_size)
        form.addRow("Learning rate", self.learning_rate)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Train")
        buttons.button(QDialogButtonBox.StandardButton.Ok).setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def chosen(self) -> TrainConfig:
        c = self.config
        c.epochs = self.epochs.value()
        c.val_frac = self.val_frac.value()
        c.input_size = self.input_size.value()
        c.learning_rate = self.learning_rate.value()
        return c


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "estimating the time left"  # too few batches yet to say
    seconds = int(seconds)
    return f"{seconds // 60}m {seconds % 60:02d}s left" if seconds >= 60 else f"{seconds}s left"


class RetrainWindow(QDialog):
    """Progress of one retrain, then the comparison and the choice."""

    cancel_requested = Signal()
    use_new = Signal(str)  # the new model's path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retraining")
        self.setModal(False)
        self.resize(820, 720)
        self.new_path: str | None = None
        self.stage = QLabel("Starting the trainer…")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.plot = pg.PlotWidget(background=None)
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(10, 10))
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # loss in its own units
        self.loss_curve = self.plot.plot(
            [],
            [],
            pen=pg.mkPen("#3b7dd8", width=2),
            symbol="o",
            symbolBrush="#3b7dd8",
            name="training loss",
        )
        self.val_curve = self.plot.plot(
            [],
            [],
            pen=pg.mkPen("#e0603c", width=2),
            symbol="s",
            symbolBrush="#e0603c",
            name="validation loss",
        )
        self.f2_plot = pg.PlotWidget(background=None)
        self.f2_plot.setLabel("bottom", "epoch")
        self.f2_plot.setLabel("left", "validation F2 (0.2)")
        self.f2_plot.showGrid(x=True, y=True, alpha=0.3)
        self.f2_plot.getAxis("left").enableAutoSIPrefix(False)
        self.f2_curve = self.f2_plot.plot(
            [], [], pen=pg.mkPen("#3ca060", width=2), symbol="o", symbolBrush="#3ca060"
        )
        self.epochs: list[dict] = []
        self.stopping = ""  # how training ended, in words

        self.table = QTableWidget(0, len(COMPARE_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.hide()
        self.note = QLabel()
        self.note.setWordWrap(True)

        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.use_button = QPushButton("Use the new model")
        self.use_button.clicked.connect(self._use)
        self.keep_button = QPushButton("Keep the current one")
        self.keep_button.clicked.connect(self.accept)
        self.use_button.hide()
        self.keep_button.hide()
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.cancel_button, self.keep_button, self.use_button):
            buttons.addWidget(b)

        curves = QHBoxLayout()
        curves.addWidget(self.plot)
        curves.addWidget(self.f2_plot)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stage)
        layout.addWidget(self.progress)
        layout.addLayout(curves, 1)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.note)
        layout.addLayout(buttons)

    # --- progress -------------------------------------------------------------------------
    def on_event(self, event: dict) -> None:
        stage = event.get("stage")
        if stage == "decode":
            self.progress.setRange(0, max(event.get("total", 0), 1))
            self.progress.setValue(event.get("done", 0))
            self.stage.setText(f"Decoding chips: {event.get('done', 0)}/{event.get('total', 0)}")
        elif stage == "train":
            total = event["total"] * event["epochs"]
            done = (event["epoch"] - 1) * event["total"] + event["done"]
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            loss = event.get("logs", {}).get("loss", float("nan"))
            self.stage.setText(
                f"Epoch {event['epoch']}/{event['epochs']}, "
                f"batch {event['done']}/{event['total']}, "
                f"loss {loss:.4f}   {_fmt_eta(event.get('eta_s'))}"
            )
        elif stage == "epoch":
            self.epochs.append(event.get("logs", {}))
            xs = list(range(1, len(self.epochs) + 1))
            self.loss_curve.setData(xs, [e.get("loss", float("nan")) for e in self.epochs])
            self.val_curve.setData(xs, [e.get("val_loss", float("nan")) for e in self.epochs])
            f2 = [e.get("val_f2_at_0.2", float("nan")) for e in self.epochs]
            self.f2_curve.setData(xs, f2)
            finite = [v for v in f2 if math.isfinite(v)]
            if finite:  # at least 0.05 tall: a flat curve must not look like a cliff
                middle = (max(finite) + min(finite)) / 2
                half = max((max(finite) - min(finite)) / 2 * 1.2, 0.025)
                self.f2_plot.setYRange(middle - half, middle + half, padding=0)
        elif stage == "stopped":
            self.stopping = event.get("message", "")
            self.stage.setText("Training " + self.stopping + ".")
        elif event.get("message"):
            self.stage.setText(event["message"][:1].upper() + event["message"][1:] + "…")

    # --- endings --------------------------------------------------------------------------
    def _come_forward(self) -> None:
        """The result matters: show it even if the user closed this window while it trained."""
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, False)
        self.show()
        self.raise_()
        self.activateWindow()

    def show_comparison(self, comparison: dict) -> None:
        self._come_forward()
        self.new_path = comparison["path"]
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.cancel_button.hide()
        self.use_button.show()
        self.keep_button.show()
        self.use_button.setDefault(True)
        old, new = comparison.get("old"), comparison["new"]
        differences = comparison.get("differences") or {}
        positives = comparison.get("per_tag_positives") or {}
        few = [t for t, p in positives.items() if p.get("too_few")]

        def pair(key: str) -> str:
            a = f"{old[key]:.4f}" if old else "–"
            return f"{a} → {new[key]:.4f}"

        verdicts = [
            f"{label}: {verdict(differences[key])}"
            for key, label in (("f2_samples", "samples F2"), ("macro_f1", "macro F1"))
            if key in differences
        ]
        self.stage.setText(
            f"Trained model {comparison['version']}.   Samples F2 {pair('f2_samples')}   "
            f"Samples F1 {pair('f1_samples')}   Macro F1 {pair('macro_f1')}"
            + ("<br>" + "<br>".join(verdicts) if verdicts else "")
        )
        self.table.setColumnCount(len(COMPARE_COLUMNS))
        self.table.setHorizontalHeaderLabels(COMPARE_COLUMNS)
        self.table.setRowCount(len(TAGS))
        thresholds_new = comparison.get("new_thresholds", {})
        faint = self.palette().color(self.palette().ColorRole.PlaceholderText)
        for r, tag in enumerate(TAGS):
            n, o = new["per_tag"][tag], (old["per_tag"][tag] if old else None)
            too_few = tag in few
            label = f"{tag} ({n['support']})" + ("  too few to tell" if too_few else "")
            self.table.setItem(r, 0, QTableWidgetItem(label))
            c = 1
            for key in ("precision", "recall", "f1", "threshold"):
                a = o.get(key) if o else None
                b = thresholds_new.get(tag) if key == "threshold" else n[key]
                for value in (a, b):
                    item = QTableWidgetItem("–" if value is None else f"{value:.3f}")
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    if too_few and key != "threshold":
                        item.setForeground(faint)
                    self.table.setItem(r, c, item)
                    c += 1
        self.table.show()
        who = f"model {comparison.get('old_version', '')}" if old else "no model in use"
        n_val = comparison["n_val"]
        small = (
            f" Only {n_val} validation chips: differences this small set can show are wide."
            if n_val < 300
            else ""
        )
        self.note.setText(
            f"Both scored on the same {n_val} validation chips (positives in brackets), which"
            f" the new model never trained on. Current: {who}, with its own thresholds. New:"
            " thresholds cross-validated on those chips (tuned on one half, scored on the other)."
            f"{small} Tags with fewer than {comparison.get('min_positives', 25)} positives are"
            " greyed: their figures swing on one or two chips. Training "
            + (comparison.get("stopping", {}).get("message") or self.stopping or "ended")
            + "."
        )

    def show_ended(self, message: str) -> None:
        self._come_forward()
        self.stage.setText(message)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.cancel_button.hide()
        self.keep_button.setText("Close")
        self.keep_button.show()

    def _use(self) -> None:
        if self.new_path:
            self.use_new.emit(self.new_path)
        self.accept()
