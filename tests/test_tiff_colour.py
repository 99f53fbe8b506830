"""Analytic TIFFs in the visual JPEGs' colours: the 16 real TIFF/JPEG pairs line up, the shipped
curves reproduce the JPEGs pixel by pixel (also on chips they were not fitted on), the model reads
the mapped TIFFs as well as the JPEGs, and the note about TIFFs quotes what was measured. TIFFs
that are not Planet's analytic product: tests/test_chips.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import model.tiff_colour as tiff_colour
from model.chips import (
    decode_rgb,
    read_bands,
    resize_rgb,
    stretch,
    tiff_false_colour,
    tiff_rgb,
)
from model.errors import ChipError, ModelError
from model.labels import label_matrix, read_labels
from model.metrics import fbeta_samples
from model.paths import BUNDLED_MODEL
from model.tiff_colour import MAPPING_PATH, read_mapping, shipped_mapping, tiff_notice
from model.tiff_colour_fit import (
    Pair,
    find_offset,
    fit_mapping,
    load_pairs,
    mean_abs_difference,
)

# Measured with the shipped curves (bench/tiff_mapping.py): mean over the 16 chips of each
# channel's mean absolute difference, 0..255 units, R, G, B. Bounds a little above.
IN_SAMPLE_MAD = (4.40, 4.12, 6.09)  # worst chip 8.69 (train_122)
IN_SAMPLE_BOUND = (4.7, 4.4, 6.4)
LEAVE_ONE_OUT_MAD = (5.24, 4.75, 7.45)  # worst chip 9.85
LEAVE_ONE_OUT_BOUND = (5.6, 5.1, 7.9)
WORST_CHIP_BOUND = 10.5

needs_model = pytest.mark.skipif(
    not BUNDLED_MODEL.is_file(), reason=f"no bundled model at {BUNDLED_MODEL}"
)


@pytest.fixture(scope="module")
def pairs(tif_dir: Path, chips_dir: Path) -> list[Pair]:
    return load_pairs(tif_dir, chips_dir)


@pytest.fixture(scope="module")
def offsets(pairs: list[Pair]) -> dict:
    return {p.name: find_offset(p) for p in pairs}


def test_each_tiff_lines_up_with_its_jpeg(pairs: list[Pair], offsets: dict) -> None:
    """13 pairs match where they stand; two are shifted sideways by 1 and 2 pixels; train_14 is
    a featureless cloud (nothing to line up, so it stays where it is)."""
    assert len(pairs) == 16
    shifted = {n: (o.dy, o.dx) for n, o in offsets.items() if (o.dy, o.dx) != (0, 0)}
    assert shifted == {"train_116": (0, 2), "train_127": (0, 1)}
    for name, offset in offsets.items():
        if name == "train_14":
            assert offset.correlation < 0.9
        else:
            assert offset.correlation > 0.9, name
    # Shifting is worth it where it is made: same scene, a few pixels apart.
    assert offsets["train_116"].correlation_at_zero < 0.85 < 0.98 < offsets["train_116"].correlation


def test_a_known_shift_is_found(pairs: list[Pair]) -> None:
    """Move a well-aligned pair's JPEG by a known amount; the offset must follow."""
    pair = next(p for p in pairs if p.name == "train_10")
    moved = Pair(pair.name, pair.bands, np.roll(pair.visual, (-1, 2), axis=(0, 1)))
    offset = find_offset(moved)
    assert (offset.dy, offset.dx) == (-1, 2)
    assert offset.correlation > 0.98


def test_mapped_tiffs_match_their_jpegs(pairs: list[Pair], offsets: dict, tif_dir: Path) -> None:
    """What decoding a TIFF gives (the model's input, the thumbnails, the large view) against
    the same chip's JPEG; the per-chip stretch it replaces is an order of magnitude off."""
    mapped = np.array(
        [
            mean_abs_difference(p, offsets[p.name], decode_rgb(tif_dir / f"{p.name}.tif"))
            for p in pairs
        ]
    )
    stretched = np.array(
        [mean_abs_difference(p, offsets[p.name], stretch(p.bands[..., [2, 1, 0]])) for p in pairs]
    )
    per_channel = mapped.mean(axis=0)
    assert np.allclose(per_channel, IN_SAMPLE_MAD, atol=0.01), per_channel
    assert np.all(per_channel < IN_SAMPLE_BOUND)
    assert mapped.mean(axis=1).max() < WORST_CHIP_BOUND
    assert np.all(stretched.mean(axis=0) > 50)
    # The shipped file states the same figures.
    stated = shipped_mapping().check["mean_abs_difference_rgb"]
    assert np.allclose(stated["mapped_in_sample"], per_channel, atol=0.01)
    assert np.allclose(stated["stretch"], stretched.mean(axis=0), atol=0.01)


def test_refitting_gives_the_shipped_curves(pairs: list[Pair], offsets: dict) -> None:
    refit = fit_mapping(pairs, offsets)
    shipped = shipped_mapping()
    assert shipped.parameter_count == refit.parameter_count == 9
    for channel in ("red", "green", "blue"):
        ours, theirs = refit.curves[channel].table(), shipped.curves[channel].table()
        # Every 16-bit count lands on the same 0..255 value, give or take rounding.
        assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1, channel
        assert np.all(np.diff(theirs.astype(int)) >= 0), channel  # increasing
    assert shipped.fit["pairs"] == [p.name for p in pairs]
    assert shipped.fit["offsets"]["train_116"]["dx"] == 2


@pytest.mark.slow
@needs_model
def test_leave_one_out_pixels_and_model(
    pairs: list[Pair], offsets: dict, chips_dir: Path, labels_csv: Path
) -> None:
    """Each chip mapped by curves fitted on the other 15: the pixels stay close to its JPEG,
    and the bundled model's samples F2 on those chips is within 0.05 of its F2 on the JPEGs
    (measured: 0.913 against 0.921; 16 chips: the 95% interval of the gap is -0.07 to +0.03)."""
    from model.predicting import load_model

    classifier = load_model()
    size = classifier.input_size
    mads, mapped, jpegs = [], [], []
    for pair in pairs:
        curves = fit_mapping([p for p in pairs if p is not pair], offsets)
        rgb = curves.apply(pair.bands)
        mads.append(mean_abs_difference(pair, offsets[pair.name], rgb))
        mapped.append(resize_rgb(rgb, size))
        jpegs.append(decode_rgb(chips_dir / f"{pair.name}.jpg", size))
    per_channel = np.mean(mads, axis=0)
    assert np.allclose(per_channel, LEAVE_ONE_OUT_MAD, atol=0.01), per_channel
    assert np.all(per_channel < LEAVE_ONE_OUT_BOUND)
    assert np.mean(mads, axis=1).max() < WORST_CHIP_BOUND

    truth = label_matrix([p.name for p in pairs], read_labels(labels_csv))
    f2 = {
        what: fbeta_samples(truth, classifier.decide(classifier.predict(np.stack(images))), 2.0)
        for what, images in (("mapped", mapped), ("jpeg", jpegs))
    }
    assert abs(f2["mapped"] - f2["jpeg"]) < 0.05, f2
    assert f2["mapped"] == pytest.approx(
        shipped_mapping().check["samples_f2"]["mapped_leave_one_out"], abs=1e-4
    )


@needs_model
def test_the_app_reads_tiffs_as_the_shipped_figures_say(tif_dir: Path, labels_csv: Path) -> None:
    """`evaluate` on the TIFF folder goes through decode_rgb: the in-sample figure, and far above
    the stretched TIFFs' 0.557."""
    from model.predicting import evaluate_folder

    report = evaluate_folder(tif_dir, labels_csv)
    check = shipped_mapping().check
    assert report["n_chips"] == 16 and report["errors"] == []
    assert report["f2_samples"] == pytest.approx(check["samples_f2"]["mapped_in_sample"], abs=1e-4)
    assert report["f2_samples"] > check["samples_f2"]["stretch"] + 0.25


def test_false_colour_keeps_its_stretch(tif_dir: Path) -> None:
    bands = read_bands(tif_dir / "train_10.tif")
    assert np.array_equal(tiff_false_colour(bands), stretch(bands[..., [3, 2, 1]]))
    assert np.array_equal(tiff_rgb(bands), decode_rgb(tif_dir / "train_10.tif"))


# --- the mapping file -------------------------------------------------------------------------
def test_the_shipped_mapping_says_where_it_came_from() -> None:
    raw = json.loads(MAPPING_PATH.read_text(encoding="utf-8"))
    assert raw["fit"]["command"] == "python bench/tiff_mapping.py"
    assert raw["fit"]["parameters"] == 9 and len(raw["fit"]["pairs"]) == 16
    assert raw["check"]["model_version"]
    assert set(raw["check"]["samples_f2"]) == {
        "jpeg",
        "stretch",
        "mapped_in_sample",
        "mapped_leave_one_out",
    }


def _write(path: Path, curves: object) -> Path:
    path.write_text(json.dumps({"format": 1, "curves": curves}), encoding="utf-8")
    return path


def test_a_bad_mapping_file_is_a_clear_error(tmp_path: Path) -> None:
    good = json.loads(MAPPING_PATH.read_text(encoding="utf-8"))["curves"]
    with pytest.raises(ModelError, match="TIFF colour mapping missing"):
        read_mapping(tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match="broken.json: unreadable TIFF colour mapping"):
        read_mapping(tmp_path / "broken.json")
    falling = {**good, "blue": {**good["blue"], "gain": -good["blue"]["gain"]}}
    with pytest.raises(ModelError, match="the blue curve is not increasing"):
        read_mapping(_write(tmp_path / "falling.json", falling))
    partial = {k: v for k, v in good.items() if k != "green"}
    with pytest.raises(ModelError, match="the green curve lacks gain, dark, bias"):
        read_mapping(_write(tmp_path / "partial.json", partial))
    assert read_mapping(_write(tmp_path / "good.json", good)).curves == shipped_mapping().curves


def test_without_its_mapping_a_tiff_is_reported_not_shown_stretched(
    tmp_path: Path, tif_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiff_colour, "MAPPING_PATH", tmp_path / "absent.json")
    shipped_mapping.cache_clear()
    try:
        path = tif_dir / "train_10.tif"
        with pytest.raises(ChipError) as info:
            decode_rgb(path)
        assert str(info.value) == (
            f"{path}: cannot colour it: {tmp_path / 'absent.json'}: TIFF colour mapping missing"
        )
        assert "cannot be shown in true colour" in tiff_notice()
    finally:
        shipped_mapping.cache_clear()


def test_the_notice_quotes_the_measured_figures(tmp_path: Path) -> None:
    f2 = shipped_mapping().check["samples_f2"]
    loo, jpeg = f2["mapped_leave_one_out"], f2["jpeg"]
    notice = tiff_notice()
    assert notice == (
        "4-band TIFFs here are shown and classified through a fixed colour mapping fitted to "
        f"Planet's JPEG chips: on 16 sample TIFFs, mapped without seeing them, the model's samples "
        f"F2 was {loo:.2f} against {jpeg:.2f} on the same chips' JPEGs (16 chips: a rough check)."
    )
    assert tiff_notice(BUNDLED_MODEL) == notice
    other = tiff_notice(tmp_path / "mine.keras")
    assert "the bundled model's (not the one in use) samples F2" in other
