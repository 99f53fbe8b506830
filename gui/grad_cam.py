"""Where the model looks (View > Where the model looks, G): a Grad-CAM map of the chip's most
suspect tag (else the land tag the model is surest of) over the large chip as the panel shows it
(a JPEG or PNG, a TIFF in true or false colour), computed on demand in the thread that owns the
model (between two batches of a prediction run, not after it), and said to be coarse."""

from __future__ import annotations

from PySide6.QtCore import QObject

from gui.prediction import PredictionController
from gui.workers import CamRequest
from model.grad_cam import map_note, tag_to_show, upsample
from model.versions import active_model


class GradCamView(QObject):
    def __init__(self, page, predictions: PredictionController, parent=None) -> None:
        super().__init__(parent)
        self.page, self.predictions = page, predictions
        self.on = False
        self.pending: tuple[int, int, str] | None = None  # request id, row, tag
        self._connected = False
        page.current_changed.connect(lambda _row: self.on and self.request())

    def toggle(self) -> None:
        self.on = not self.on
        if self.on:
            self.request()
        else:
            self.pending = None
            self.page.detail.set_overlay(None, "")

    def request(self) -> None:
        review, row = self.page.review, self.page.current_row()
        if review is None or row is None or review.card is None:
            return
        chip = review.chip(row)
        tag = tag_to_show(chip.probs, chip.now, chip.thresholds)
        thread = self.predictions.worker_thread()
        if not self._connected:
            thread.worker.cam_ready.connect(self._ready)
            self._connected = True
        request = CamRequest(
            str(active_model().path), review.card.version, chip.path, tag, asker=id(self)
        )
        self.pending = (request.request_id, row, tag)
        self.page.detail.set_overlay(None, f"Finding where the model sees {tag}…")
        thread.ask_cam(request)

    def _ready(self, request_id: int, result) -> None:
        pending = self.pending
        if not self.on or pending is None or pending[0] != request_id:
            return  # another chip, or the overlay was turned off meanwhile
        _, row, tag = pending
        detail = self.page.detail
        if self.page.current_row() != row:
            return
        if isinstance(result, str):
            detail.set_overlay(None, f"Cannot show where the model sees {tag}: {result}")
            return
        cam, grid = result
        shown = detail.shown_rgb()
        if shown is None:  # the chip cannot be shown, so neither can a map over it
            detail.set_overlay(None, "")
            return
        card = self.page.review.card
        heat = upsample(cam, shown.shape[0], shown.shape[1])
        detail.set_overlay(heat, map_note(tag, cam, grid, card.input_size))
