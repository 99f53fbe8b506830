"""The user's settings, typed and in one place, with their defaults.

Kept as JSON in the user's data folder (not in Qt's QSettings), so the command line reads the
same active model as the app. Unknown keys are kept as they are (a newer version's settings
survive an older one), a missing or unreadable file means the defaults, and every write is atomic.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from model.files import atomic_write_text
from model.paths import user_data_dir

SETTINGS_FILE = "settings.json"
MAX_RECENT = 10


@dataclass
class Settings:
    recent_folders: list[str] = field(default_factory=list)  # newest first, at most MAX_RECENT
    last_folder: str = ""  # where the folder dialog starts
    active_model: str = ""  # a trained model's path; "" means the bundled model
    reviewer: str = ""  # who makes the decisions (for a team view later)
    window_geometry: str = ""  # the window's own saved state, base64 (opaque here)
    splitter_state: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    def add_recent(self, folder: str) -> None:
        self.recent_folders = [folder] + [f for f in self.recent_folders if f != folder]
        del self.recent_folders[MAX_RECENT:]


def settings_path() -> Path:
    return user_data_dir() / SETTINGS_FILE


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """The saved settings, or the defaults where the file is missing or unreadable."""
    path = Path(path) if path is not None else settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    known = {f.name: f for f in fields(Settings) if f.name != "extra"}
    settings = Settings()
    for key, value in raw.items():
        default = getattr(settings, key, None) if key in known else None
        if key not in known:
            settings.extra[key] = value
        elif isinstance(default, list) and isinstance(value, list):
            setattr(settings, key, [str(v) for v in value])
        elif isinstance(default, str) and isinstance(value, str):
            setattr(settings, key, value)
        # A value of the wrong type keeps the default: a hand-edited file must not break the app.
    return settings


def save_settings(settings: Settings, path: str | os.PathLike[str] | None = None) -> None:
    path = Path(path) if path is not None else settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {k: v for k, v in asdict(settings).items() if k != "extra"}
    atomic_write_text(path, json.dumps({**settings.extra, **data}, indent=2) + "\n")


def update_settings(**changes: Any) -> Settings:
    """Read, change some fields, write back: for one-off changes (the active model)."""
    settings = load_settings()
    for key, value in changes.items():
        if not hasattr(settings, key) or key == "extra":
            raise KeyError(f"no setting named {key!r}")
        setattr(settings, key, value)
    save_settings(settings)
    return settings
