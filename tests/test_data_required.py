"""The suite's guard on its own data: where the data is required (CI), its absence fails the run
instead of skipping the very tests that catch bugs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REQUIRE_DATA, _require


def test_missing_data_skips_with_its_path_where_not_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "shared" / "data" / "planet"
    for value in (None, "", "0"):
        if value is None:
            monkeypatch.delenv(REQUIRE_DATA, raising=False)
        else:
            monkeypatch.setenv(REQUIRE_DATA, value)
        with pytest.raises(pytest.skip.Exception) as info:
            _require(missing, "Planet data folder")
        assert str(info.value) == (
            f"Planet data folder not found at {missing} (the read-only Planet data is not present)"
        )


def test_missing_data_fails_with_its_path_where_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_DATA, "1")
    missing = tmp_path / "chips"
    with pytest.raises(pytest.fail.Exception) as info:
        _require(missing, "chips folder")
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        f"chips folder not found at {missing} (the read-only Planet data is not present); "
        f"{REQUIRE_DATA}=1 requires it"
    )
    # Data that is there is used, required or not.
    assert _require(tmp_path, "chips folder") == tmp_path


def test_ci_requires_the_data(repo_root: Path) -> None:
    script = (repo_root / ".ci" / "run").read_text(encoding="utf-8")
    assert f"export {REQUIRE_DATA}=1" in script.splitlines()
