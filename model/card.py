"""The model card: a JSON file beside each model saying what it predicts and how well.

Kept free of Keras so that `info` and the app's model list read cards without loading a network.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model.errors import ModelError
from model.files import atomic_write_text
from model.tags import TAGS

CARD_FORMAT = 1
DEFAULT_THRESHOLD = (
    0.2  # MODEL_NOTES: one global 0.2 beat tuned per-tag thresholds on few positives
)


@dataclass
class ModelCard:
    version: str
    created: str
    input_size: int
    architecture: str = "vgg16_bn"
    tags: list[str] = field(default_factory=lambda: list(TAGS))
    thresholds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(TAGS, DEFAULT_THRESHOLD)
    )
    # "argmax": exactly one weather tag, the likeliest; "threshold": each tag on its own.
    weather_rule: str = "threshold"
    parent: str | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    # A fine-tuned model's earlier training runs, its parent first (see `lineage_entry`): its own
    # recipe and history only cover the last run.
    ancestors: list[dict[str, Any]] = field(default_factory=list)
    format: int = CARD_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    def threshold_list(self) -> list[float]:
        return [float(self.thresholds.get(tag, DEFAULT_THRESHOLD)) for tag in self.tags]


def lineage_entry(card: ModelCard) -> dict[str, Any]:
    """What a model fine-tuned from `card` keeps of it: enough to retrace that training run."""
    validation = card.metrics.get("validation", {})
    return {
        "version": card.version,
        "created": card.created,
        "recipe": card.recipe,
        "data": {
            k: v for k, v in card.data.items() if k not in ("validation_names", "calibration_names")
        },
        "history": card.history,
        "validation": {
            k: validation.get(k) for k in ("n_chips", "f2_samples", "f1_samples", "macro_f1")
        },
    }


def card_path(model_path: str | os.PathLike[str]) -> Path:
    return Path(model_path).with_suffix(".json")


def read_card(model_path: str | os.PathLike[str]) -> ModelCard:
    path = card_path(model_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: model card missing (every model needs its .json card)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable model card ({exc})") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: model card is not a JSON object")
    if raw.get("format", CARD_FORMAT) > CARD_FORMAT:
        raise ModelError(f"{path}: card format {raw['format']} is newer than this app understands")
    known = ModelCard.__dataclass_fields__.keys()
    try:
        card = ModelCard(**{k: v for k, v in raw.items() if k in known})
    except TypeError as exc:
        raise ModelError(f"{path}: model card lacks a field ({exc})") from None
    unknown = [t for t in card.tags if t not in TAGS]
    if unknown or len(card.tags) != len(TAGS):
        raise ModelError(
            f"{path}: model predicts tags this app does not know: {unknown or card.tags}"
        )
    if list(card.tags) != list(TAGS):
        # Outputs are read in TAGS order everywhere: a permuted or repeated tag would mislabel.
        raise ModelError(f"{path}: model's tags are not the app's 17 tags in the app's order")
    if not 32 <= int(card.input_size) <= 256:
        raise ModelError(f"{path}: input size {card.input_size} outside 32..256")
    return card


def write_card(model_path: str | os.PathLike[str], card: ModelCard) -> Path:
    path = card_path(model_path)
    atomic_write_text(path, card.to_json())
    return path
