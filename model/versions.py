"""Model versions: the bundled model and every model trained here, each a folder with its card."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from model.card import ModelCard, read_card
from model.errors import ModelError
from model.paths import BUNDLED_MODEL, models_dir

MODEL_FILE = "model.keras"


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    card: ModelCard
    bundled: bool

    @property
    def label(self) -> str:
        return ("bundled " if self.bundled else "") + self.card.version


def list_models() -> list[ModelEntry]:
    """The bundled model first, then trained ones, newest first. Unreadable ones are skipped:
    a half-deleted folder must not hide the others."""
    entries: list[ModelEntry] = []
    if BUNDLED_MODEL.is_file():
        with contextlib.suppress(ModelError):
            entries.append(ModelEntry(BUNDLED_MODEL, read_card(BUNDLED_MODEL), True))
    folder = models_dir()
    trained = sorted(folder.glob(f"*/{MODEL_FILE}"), reverse=True) if folder.is_dir() else []
    for path in trained:
        try:
            entries.append(ModelEntry(path, read_card(path), False))
        except ModelError:
            continue
    return entries


def new_model_path() -> Path:
    """Where the next trained model goes: its own folder, named by the time it started."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return models_dir() / stamp / MODEL_FILE
