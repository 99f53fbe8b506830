"""Model versions: the bundled model, every model trained here, and which one is active.

The active model is a user setting (model/settings.py) shared by the app and the command line:
`predict` and `evaluate` without `--model` use the model the app uses, and `info` says which one
and why.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from model.card import ModelCard, read_card
from model.errors import ModelError
from model.paths import BUNDLED_MODEL, models_dir
from model.settings import load_settings, update_settings

MODEL_FILE = "model.keras"


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    card: ModelCard
    bundled: bool

    @property
    def label(self) -> str:
        return ("bundled " if self.bundled else "") + self.card.version


@dataclass(frozen=True)
class ActiveModel:
    path: Path
    why: str  # one line: "chosen in the app", "the bundled model (none chosen)", ...


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


def active_model() -> ActiveModel:
    """The model the app and the command line use when none is named, and why that one."""
    chosen = load_settings().active_model
    if not chosen:
        return ActiveModel(BUNDLED_MODEL, "the bundled model (no other model chosen)")
    path = Path(chosen)
    if path.is_file():
        return ActiveModel(path, "chosen in the app (Model > Models…)")
    return ActiveModel(BUNDLED_MODEL, f"the bundled model: the chosen model {path} is missing")


def active_model_path() -> Path:
    return active_model().path


def set_active_model(path: str | Path) -> None:
    """Make `path` the active model for the app and the command line."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    is_bundled = path.resolve() == BUNDLED_MODEL.resolve()
    update_settings(active_model="" if is_bundled else str(path.resolve()))
