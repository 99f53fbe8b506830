"""The one predictor interface, and the one function that opens a predictor for a model.

`predict`, `evaluate`, the Ray path and the app's inference worker all get their predictor from
`open_predictor`, so they run the same network at the same precision with the same calls: the
float32 Keras network (`model.classifier.Classifier`) or its int8 ONNX twin
(`model.int8_twin.Int8Twin`), whichever is faster on this machine within the accuracy budget.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from model.card import ModelCard, read_card
from model.errors import ModelError

PRECISIONS = ("auto", "fp32", "int8")
Say = Callable[[str], None]


class Predictor(Protocol):
    """What every caller of a model needs: probabilities, pooled features, the model's calls."""

    card: ModelCard
    path: Path | None
    precision: str  # "fp32" or "int8"

    @property
    def version(self) -> str: ...

    @property
    def input_size(self) -> int: ...

    def predict_batch(self, images: np.ndarray, tta: bool = False) -> np.ndarray: ...

    def predict_batch_with_features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def decide(self, probs: np.ndarray) -> np.ndarray: ...


@dataclass
class PrecisionChoice:
    """Which precision runs for a model, and why, in words `info` and the app can show."""

    precision: str
    why: str
    fell_back: bool = False  # an int8 twin was wanted but is missing, stale or corrupt


def resolve_model_path(model_path: str | os.PathLike[str] | None) -> Path:
    """The named model, or the active one (the app's choice, else the bundled model), checked
    before Keras is imported so that a user's mistake is one line."""
    from model.paths import BUNDLED_MODEL
    from model.versions import active_model_path

    path = Path(model_path) if model_path is not None else active_model_path()
    if model_path is None and path == BUNDLED_MODEL and not BUNDLED_MODEL.is_file():
        raise ModelError(
            f"{BUNDLED_MODEL}: no bundled model yet; train one with "
            "'python main.py train FOLDER --labels CSV --out M' and pass --model M"
        )
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    read_card(path)
    return path


def choose_precision(model_path: Path, precision: str = "auto") -> PrecisionChoice:
    """Decide from the card and the cached twin's stored check alone (no network is loaded)."""
    from model import int8_twin

    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return PrecisionChoice("fp32", "float32: asked for (--precision fp32)")
    card = read_card(model_path)
    problem = int8_twin.twin_problem(card)
    if problem is not None:
        return PrecisionChoice("fp32", f"float32: {problem}", fell_back=True)
    if precision == "int8":
        return PrecisionChoice("int8", "int8 twin: asked for (--precision int8)")
    check = int8_twin.read_check(card.version)
    return PrecisionChoice(*int8_twin.verdict(check))


def open_predictor(
    model_path: str | os.PathLike[str] | None = None,
    precision: str = "auto",
    say: Say | None = None,
    make_missing: bool = True,
) -> Predictor:
    """The predictor every caller uses. A twin that turns out unloadable falls back to float32
    with one line through `say` (the CLI's stderr, the app's status bar). With `make_missing`,
    a missing twin is made first where the model's training chips are here (a minute or two)."""
    from model import int8_twin

    path = resolve_model_path(model_path)
    choice = prepare_precision(path, precision, say, make_missing)
    if choice.precision == "int8":
        try:
            return int8_twin.load_twin(path)
        except ModelError as exc:  # the file passed its checksum but ONNX Runtime refused it
            if say is not None:
                say(f"float32: {exc}")
    from model.classifier import Classifier

    return Classifier.load(path)


def prepare_precision(
    path: Path, precision: str, say: Say | None, make_missing: bool = True
) -> PrecisionChoice:
    """Make a missing twin where the model's training chips are here, then choose; a fallback
    to float32 is said in one line."""
    if precision != "fp32" and make_missing:
        _make_on_first_use(path, say)
    choice = choose_precision(path, precision)
    if choice.fell_back and say is not None:
        say(choice.why)
    return choice


def _make_on_first_use(path: Path, say: Say | None) -> None:
    """Make the twin now if it is missing and the model's training chips are here; a failure
    leaves float32 running (the choice that follows says why)."""
    from model import int8_twin

    card = read_card(path)
    if int8_twin.twin_path(card.version).is_file():
        return
    try:
        int8_twin.find_training_data(card)  # the card's folder, else its archive in the data folder
    except ModelError:
        return  # the choice says what was looked for, and where
    try:
        int8_twin.make_twin(path, say=say)
    except Exception as exc:  # conversion raises many types; float32 still runs
        if say is not None:
            say(f"could not make the int8 twin ({type(exc).__name__}: {str(exc)[:160]})")
