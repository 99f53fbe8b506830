"""Model versions: the bundled model, every model trained here, and which one is active.

The active model is a user setting (model/settings.py) shared by the app and the command line:
`predict` and `evaluate` without `--model` use the model the app uses, and `info` says which one
and why.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from model import paths
from model.card import ModelCard, card_path, read_card
from model.errors import ModelError
from model.metrics import UNRECORDED_RULE
from model.paths import models_dir
from model.settings import load_settings, update_settings
from model.wording import count

MODEL_FILE = "model.keras"


@dataclass(frozen=True)
class ValidationFigures:
    """A model's validation figures with what they were measured on.

    Figures of two models are comparable only where `basis` is equal: the same validation
    chips of the same folder, scored under the same rule.
    """

    f2_samples: float | None
    f1_samples: float | None
    macro_f1: float | None
    n_chips: int
    folder: str
    rule: str
    basis: str

    @property
    def measured_on(self) -> str:
        """'3,547 validation chips of train-jpg-32px'."""
        where = f" of {Path(self.folder).name}" if self.folder else ""
        return f"{count(self.n_chips, 'validation chip')}{where}"


def validation_figures(card: ModelCard) -> ValidationFigures:
    validation = card.metrics.get("validation", {})
    names = sorted(card.data.get("validation_names") or [])
    folder = str(card.data.get("folder", ""))
    rule = str(validation.get("rule", UNRECORDED_RULE))
    key = "\n".join([folder, rule, *names]).encode("utf-8")
    return ValidationFigures(
        f2_samples=validation.get("f2_samples"),
        f1_samples=validation.get("f1_samples"),
        macro_f1=validation.get("macro_f1"),
        n_chips=int(validation.get("n_chips", card.data.get("n_val", len(names))) or 0),
        folder=folder,
        rule=rule,
        basis=hashlib.sha256(key).hexdigest()[:16],
    )


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    card: ModelCard
    bundled: bool

    @property
    def label(self) -> str:
        return ("bundled " if self.bundled else "") + self.card.version

    @property
    def figures(self) -> ValidationFigures:
        return validation_figures(self.card)


@dataclass(frozen=True)
class ActiveModel:
    path: Path
    why: str  # one line: "chosen in the app", "the bundled model (none chosen)", ...


def list_models() -> list[ModelEntry]:
    """The bundled model first, then trained ones, newest first. Unreadable ones are skipped:
    a half-deleted folder must not hide the others."""
    entries: list[ModelEntry] = []
    if paths.BUNDLED_MODEL.is_file():
        with contextlib.suppress(ModelError):
            entries.append(ModelEntry(paths.BUNDLED_MODEL, read_card(paths.BUNDLED_MODEL), True))
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
        return ActiveModel(paths.BUNDLED_MODEL, "the bundled model (no other model chosen)")
    path = Path(chosen)
    if path.is_file():
        return ActiveModel(path, "chosen in the app (Model > Models…)")
    return ActiveModel(
        paths.BUNDLED_MODEL, f"the bundled model: the chosen model {path} is missing"
    )


def active_model_path() -> Path:
    return active_model().path


def set_active_model(path: str | Path) -> None:
    """Make `path` the active model for the app and the command line."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    is_bundled = path.resolve() == paths.BUNDLED_MODEL.resolve()
    update_settings(active_model="" if is_bundled else str(path.resolve()))


def delete_model(path: str | Path, active: Path) -> int:
    """Remove a model trained here: its whole folder (the model, its card, and any temporary
    file a crash left). Returns the bytes freed.

    Refuses, with a one-line error and nothing deleted: the bundled model, the active one, a
    path that is not a model folder in the models folder, and a folder holding anything else.
    """
    path = Path(path)
    target = path.resolve()
    if target == paths.BUNDLED_MODEL.resolve():
        raise ModelError(f"{path}: the bundled model cannot be deleted")
    if target == Path(active).resolve():
        raise ModelError(f"{path}: the model in use cannot be deleted; use another one first")
    folder = target.parent
    if target.name != MODEL_FILE or folder.parent != models_dir().resolve():
        raise ModelError(
            f"{path}: not a model trained here (those are {models_dir()}/*/{MODEL_FILE}); "
            "nothing was deleted"
        )
    if not target.is_file():
        raise ModelError(f"{path}: no such model")
    ours = {MODEL_FILE, card_path(target).name}
    # Classifier.save and atomic_write_text write temporary files named ".model.*" beside them.
    others = sorted(
        p.name
        for p in folder.iterdir()
        if p.name not in ours and not (p.is_file() and p.name.startswith(".model."))
    )
    if others:
        raise ModelError(
            f"{folder}: holds more than a model ({', '.join(others[:3])}); nothing was deleted"
        )
    freed = sum(p.stat().st_size for p in folder.iterdir())
    try:
        shutil.rmtree(folder)
    except OSError as exc:
        raise ModelError(f"{folder}: cannot delete ({exc.strerror})") from None
    return freed
