"""Settings live in one typed place, shared by the app and the command line: the active model
chosen in the app is the one `predict`, `evaluate` and `info` use without --model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model.errors import ModelError
from model.paths import BUNDLED_MODEL
from model.settings import MAX_RECENT, Settings, load_settings, save_settings, settings_path
from model.versions import active_model, set_active_model

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def test_defaults_when_there_is_no_file_or_it_is_broken(data_dir: Path) -> None:
    assert load_settings() == Settings()
    settings_path().parent.mkdir(parents=True)
    settings_path().write_text("{not json")
    assert load_settings() == Settings()
    settings_path().write_text('["a list"]')
    assert load_settings() == Settings()


def test_round_trip_keeps_unknown_keys_and_ignores_wrong_types(data_dir: Path) -> None:
    settings = Settings(recent_folders=["/a", "/b"], reviewer="ana")
    settings.add_recent("/b")
    assert settings.recent_folders == ["/b", "/a"]
    for k in range(2 * MAX_RECENT):
        settings.add_recent(f"/f{k}")
    assert len(settings.recent_folders) == MAX_RECENT
    assert settings.recent_folders[0] == f"/f{2 * MAX_RECENT - 1}"
    save_settings(settings)
    raw = json.loads(settings_path().read_text())
    raw["from_a_newer_version"] = {"x": 1}
    raw["reviewer"] = 42  # hand-edited, wrong type: the default instead
    settings_path().write_text(json.dumps(raw))
    loaded = load_settings()
    assert loaded.recent_folders == settings.recent_folders
    assert loaded.reviewer == ""
    save_settings(loaded)
    assert json.loads(settings_path().read_text())["from_a_newer_version"] == {"x": 1}


def test_active_model_says_which_and_why(data_dir: Path, tiny_model: Path, tmp_path: Path) -> None:
    assert active_model().path == BUNDLED_MODEL
    assert "no other model chosen" in active_model().why
    set_active_model(tiny_model)
    assert active_model().path == tiny_model.resolve()
    assert "chosen in the app" in active_model().why
    with pytest.raises(ModelError, match="no such model file"):
        set_active_model(tmp_path / "nothing.keras")
    assert active_model().path == tiny_model.resolve()  # a refused choice changes nothing
    moved = tmp_path / "moved" / "model.keras"
    moved.parent.mkdir()
    moved.write_bytes(tiny_model.read_bytes())
    set_active_model(moved)
    moved.unlink()
    assert active_model().path == BUNDLED_MODEL
    assert str(moved) in active_model().why and "missing" in active_model().why
    set_active_model(BUNDLED_MODEL)
    assert json.loads(settings_path().read_text())["active_model"] == ""


def _cli(*args: object, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHIP_AUDIT_DATA": str(data)}
    return subprocess.run(
        [sys.executable, "main.py", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_the_command_line_uses_the_apps_active_model(
    data_dir: Path, tiny_model: Path, tmp_path: Path, chips_dir: Path, link_chips
) -> None:
    set_active_model(tiny_model)
    info = _cli("info", data=data_dir)
    assert info.returncode == 0, info.stderr
    assert f"model        {tiny_model.resolve()}" in info.stdout
    assert "why this one chosen in the app" in info.stdout

    folder = tmp_path / "chips"
    link_chips(["train_10", "train_100", "train_101"], chips_dir, folder)
    without, named = tmp_path / "without.csv", tmp_path / "named.csv"
    probs_without, probs_named = tmp_path / "pw.csv", tmp_path / "pn.csv"
    run_without = _cli("predict", folder, "--out", without, "--probs", probs_without, data=data_dir)
    assert run_without.returncode == 0, run_without.stderr
    run_named = _cli(
        "predict",
        folder,
        "--model",
        tiny_model,
        "--out",
        named,
        "--probs",
        probs_named,
        data=data_dir,
    )
    assert run_named.returncode == 0, run_named.stderr
    assert probs_without.read_bytes() == probs_named.read_bytes()
    assert without.read_bytes() == named.read_bytes()
