"""`predict --ray`: the same predictor on Ray Data gives the single-process CSV, byte for byte."""

from __future__ import annotations

import sys

import pytest

from model.cli import main
from model.ray_predict import INSTALL_HINT


@pytest.mark.slow
def test_ray_on_two_local_workers_writes_the_single_process_csvs_byte_for_byte(
    bundled_model, chips_dir, labelled_names, link_chips, tmp_path, capsys
):
    pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")
    folder = tmp_path / "chips"
    folder.mkdir()
    # 150 chips: three 64-chip batches, the last one short, and an unreadable file among them.
    link_chips(labelled_names[:150], chips_dir, folder)
    (folder / "train_99999.jpg").write_bytes(b"not a jpeg")
    base = ["predict", str(folder), "--model", str(bundled_model), "--precision", "fp32"]
    one, one_probs = tmp_path / "one.csv", tmp_path / "one_probs.csv"
    assert main([*base, "--out", str(one), "--probs", str(one_probs)]) == 0
    single_err = capsys.readouterr().err
    on_ray, ray_probs = tmp_path / "ray.csv", tmp_path / "ray_probs.csv"
    argv = [*base, "--ray", "--workers", "2", "--out", str(on_ray), "--probs", str(ray_probs)]
    assert main(argv) == 0
    ray_err = capsys.readouterr().err
    assert on_ray.read_bytes() == one.read_bytes()
    assert ray_probs.read_bytes() == one_probs.read_bytes()
    assert len(one.read_text().splitlines()) == 151  # header + 150 chips
    skipped = "skipped: " + str(folder / "train_99999.jpg")
    assert skipped in single_err and skipped in ray_err


def test_ray_missing_is_one_line_naming_the_extra(
    bundled_model, tmp_path, capsys, monkeypatch, synthetic_chips
):
    folder = tmp_path / "chips"
    synthetic_chips(folder, ["a", "b"])
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without the extra
    assert main(["predict", str(folder), "--model", str(bundled_model), "--ray"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {INSTALL_HINT}\n"
