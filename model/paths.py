"""Where things live: the bundled model, and the user's data folder (sessions, trained models)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODEL = REPO_ROOT / "resources" / "model" / "chip_audit_vgg16.keras"
# Where a model's training data (the 32 px chips' archive, the labels CSV) is looked for when its
# card's own paths are not on this machine. Not CHIP_AUDIT_DATA: that is the user's data folder,
# where twins are written; this one is only read.
TRAINING_DATA_ENV = "CHIP_AUDIT_TRAINING_DATA"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "planet"


def user_data_dir() -> Path:
    """CHIP_AUDIT_DATA if set (tests use it), else the platform's per-user data folder."""
    override = os.environ.get("CHIP_AUDIT_DATA")
    if override:
        base = Path(override)
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "ChipAudit"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "ChipAudit"
    else:
        base = (
            Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "chip-audit"
        )
    return base


def models_dir() -> Path:
    return user_data_dir() / "models"


def training_data_dir() -> tuple[Path, str]:
    """The one folder a model's training data is looked for in, and how a message names it:
    $CHIP_AUDIT_TRAINING_DATA if set (then that folder only), else the data folder beside this
    checkout, ../shared/data/planet. The folder need not exist."""
    override = os.environ.get(TRAINING_DATA_ENV)
    if override:
        return Path(override), f"${TRAINING_DATA_ENV} ({override})"
    return SHARED_DATA, f"../shared/data/planet ({SHARED_DATA}; ${TRAINING_DATA_ENV} is unset)"
