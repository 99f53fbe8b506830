"""What a training run is asked to do, and the check of it that needs no TensorFlow.

Kept apart from `model.training` (which imports TensorFlow, seconds) so that the command line and
the app's dialogs can build and check a configuration at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from model.errors import ChipAuditError


@dataclass
class TrainConfig:
    folder: Path
    labels: Path
    out: Path
    init: str = "scratch"  # "scratch" or the path of a .keras model to fine-tune
    epochs: int = 10
    input_size: int = 32
    val_frac: float = 0.1
    batch_size: int = 64
    learning_rate: float = 1e-3
    # None: one epoch from scratch, none when fine-tuning (the start model is already settled).
    warmup_epochs: float | None = None
    patience: int = 3
    seed: int = 0
    architecture: str = "vgg16_bn"
    imagenet_weights: Path | None = None
    max_pos_weight: float = 5.0
    dropout: float = 0.3
    # Chips to validate on, fixed by the caller (the app keeps one validation set so that models
    # are compared on the same chips); None draws a stratified split of val_frac.
    validation_names: list[str] | None = None


def check_config(config: TrainConfig) -> None:
    """ChipAuditError (one line) for settings no training could run with, before anything
    heavy is imported or read: the command line says so in a moment, not after TensorFlow."""
    if not 32 <= config.input_size <= 256:
        raise ChipAuditError(f"input size {config.input_size} outside 32..256")
    if not 0.0 < config.val_frac < 0.9 and config.validation_names is None:
        raise ChipAuditError(f"validation fraction {config.val_frac} outside (0, 0.9)")
    if config.epochs < 1:
        raise ChipAuditError(f"epochs must be at least 1, got {config.epochs}")
    if config.warmup_epochs is not None and not 0 <= config.warmup_epochs <= config.epochs:
        raise ChipAuditError(f"warm-up of {config.warmup_epochs} epochs outside 0..{config.epochs}")
    if config.max_pos_weight < 1.0:
        raise ChipAuditError(f"max positive weight must be at least 1, got {config.max_pos_weight}")
    if Path(config.out).suffix != ".keras":
        raise ChipAuditError(f"{config.out}: the output model must end in .keras")
    if config.init != "scratch" and not Path(config.init).is_file():
        raise ChipAuditError(f"{config.init}: no such model to start from (or use 'scratch')")
    out_dir = Path(config.out).parent
    if out_dir.exists() and not out_dir.is_dir():
        raise ChipAuditError(f"{out_dir}: not a folder")
    # The model's folder is made at save time: the nearest existing folder on its path must take
    # it, or the whole training would be lost to an OSError at the very end.
    nearest = next(p for p in (out_dir.absolute(), *out_dir.absolute().parents) if p.exists())
    if not nearest.is_dir():
        raise ChipAuditError(f"{nearest}: not a folder, cannot hold {config.out}")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise ChipAuditError(f"{nearest}: not writable, cannot hold {config.out}")
