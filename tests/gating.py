"""A gate in front of the network: the race between a prediction run and what the user does
meanwhile is made certain, not left to timing (the `gate` fixture, tests/conftest.py)."""

from __future__ import annotations

import threading

import pytest

from model.classifier import Classifier


class Gate:
    """Holds every batch the network is given (Classifier.predict_batch, and
    predict_batch_with_features, which the window's runs use) until opened; says when one is
    waiting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open_ = threading.Event()
        self.waiting = threading.Event()
        self._one_only = False
        self._lock = threading.Lock()
        for method in ("predict_batch", "predict_batch_with_features"):
            monkeypatch.setattr(Classifier, method, self._gated(getattr(Classifier, method)))

    def _gated(self, original):
        def gated(classifier, images, *args, **kwargs):
            self.waiting.set()
            assert self.open_.wait(120), "the gate was never opened"
            with self._lock:
                if self._one_only:  # this batch goes through; the next one is held again
                    self._one_only = False
                    self.close()
            return original(classifier, images, *args, **kwargs)

        return gated

    def close(self) -> None:
        self.waiting.clear()
        self.open_.clear()

    def release(self) -> None:
        with self._lock:
            self._one_only = False
        self.open_.set()

    def let_one_through(self) -> None:
        """Let the batch held now go on, and hold the next one (`waiting` says when it is)."""
        with self._lock:
            self._one_only = True
        self.open_.set()
