"""`python main.py stats`: the study's charts as PNG and CSV from a labels file, no window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtGui import QImage

from main import main
from model.chips import decode_rgb
from model.labels import read_labels
from model.tags import TAGS


def test_stats_on_train_v2_writes_the_study_numbers_and_charts(tmp_path, train_v2_csv, capsys):
    out = tmp_path / "stats"
    assert main(["stats", str(train_v2_csv), "--out", str(out)]) == 0
    plain = pd.read_csv(train_v2_csv)["tags"].str.get_dummies(sep=" ")[list(TAGS)]
    counts = pd.read_csv(out / "tag_counts.csv", index_col="tag")["crowd"]
    assert counts.to_dict() == plain.sum().to_dict()
    co = pd.read_csv(out / "cooccurrence.csv", index_col=0)
    np.testing.assert_array_equal(co.to_numpy(), plain.T.dot(plain).to_numpy())
    assert co.loc["clear", "primary"] == 27_668
    for name in ("tag_counts", "cooccurrence", "cooccurrence_share"):
        image = QImage(str(out / f"{name}.png"))
        assert not image.isNull() and image.width() >= 1000, name
    printed = capsys.readouterr().out.split()
    assert str(out / "cooccurrence.png") in printed


def test_stats_with_chips_adds_colour_per_tag(tmp_path, labelled_folder, labelled_names, capsys):
    names = labelled_names[:30]
    folder, labels = labelled_folder(tmp_path, names)
    (folder / f"{names[0]}.jpg").unlink()  # a labelled chip gone: left out, said
    out = tmp_path / "stats"
    assert main(["stats", str(labels), "--out", str(out), "--chips", str(folder)]) == 0
    assert "1 labelled chip missing or unreadable" in capsys.readouterr().err
    colours = pd.read_csv(out / "colour_per_tag.csv", index_col="tag")
    tags = read_labels(labels)
    rows = [n for n in names[1:] if "primary" in tags[n]]
    with_primary = [decode_rgb(folder / f"{n}.jpg", 16).reshape(-1, 3).mean(axis=0) for n in rows]
    assert colours.loc["primary", "chips"] == len(with_primary)
    np.testing.assert_allclose(
        colours.loc["primary", ["r", "g", "b"]].to_numpy(float),
        np.mean(with_primary, axis=0),
        rtol=1e-5,
    )
    assert not QImage(str(out / "colour_per_tag.png")).isNull()


@pytest.mark.parametrize("problem", ["missing", "bad tag"])
def test_stats_refuses_a_bad_labels_file_in_one_line(tmp_path: Path, capsys, problem) -> None:
    labels = tmp_path / "labels.csv"
    if problem == "bad tag":
        labels.write_text("image_name,tags\ntrain_1,clear primery\n")
    assert main(["stats", str(labels), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(labels) in err
    assert not (tmp_path / "o").exists()
