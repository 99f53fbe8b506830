"""Where things live: the bundled model, and the user's data folder (sessions, trained models)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODEL = REPO_ROOT / "resources" / "model" / "chip_audit_vgg16.keras"


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
