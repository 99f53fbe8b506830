"""Finding and decoding chips: true colours, draft decoding, 16-bit TIFFs, every bad file."""

from __future__ import annotations

import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from model.chips import (
    MAX_PIXELS,
    decode_rgb,
    list_chips,
    natural_key,
    read_bands,
    thumbnail,
    tiff_false_colour,
    tiff_rgb,
)
from model.decoding import decode_all, decode_batch, iter_decoded
from model.errors import CancelledError, ChipError


def _forest_names(chip_labels: dict[str, tuple[str, ...]], chips_dir: Path) -> list[str]:
    names = [
        n
        for n, tags in chip_labels.items()
        if set(tags) == {"clear", "primary"} and (chips_dir / f"{n}.jpg").exists()
    ]
    return sorted(names, key=natural_key)[:12]


def test_natural_order(tmp_path: Path) -> None:
    for name in ["train_10.jpg", "train_2.jpg", "train_1.jpg", "Train_3.JPG", "test_0.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a chip")
    (tmp_path / ".hidden.jpg").write_bytes(b"x")
    (tmp_path / "sub.jpg").mkdir()  # a folder with a chip's name is not a chip
    listing = list_chips(tmp_path)
    assert listing.names == ["test_0", "train_1", "train_2", "Train_3", "train_10"]
    assert listing.errors == []


def test_files_with_the_same_chip_name_are_one_chip_and_the_others_reported(
    tmp_path: Path, chips_dir: Path
) -> None:
    real = (chips_dir / "train_0.jpg").read_bytes()
    names = [
        "train_0.png",
        "train_0.JPG",
        "train_0.jpg",
        "train_0.TIF",
        "train_1.jpeg",
        "train_1.JPG",
    ]
    for name in names:
        (tmp_path / name).write_bytes(real)
    listing = list_chips(tmp_path)
    assert [p.name for p in listing.paths] == ["train_0.jpg", "train_1.JPG"]
    assert {Path(e.path).name: e.reason for e in listing.errors} == {
        "train_0.png": "another file, train_0.jpg, has the same chip name",
        "train_0.JPG": "another file, train_0.jpg, has the same chip name",
        "train_0.TIF": "another file, train_0.jpg, has the same chip name",
        "train_1.jpeg": "another file, train_1.JPG, has the same chip name",
    }


def test_listing_a_missing_folder_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(ChipError, match="no such folder"):
        list_chips(tmp_path / "absent")
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(ChipError, match="not a folder"):
        list_chips(tmp_path / "file.jpg")


def test_real_chips_listed(chips_dir: Path) -> None:
    listing = list_chips(chips_dir)
    assert len(listing.paths) == 877
    assert listing.errors == []
    train = [n for n in listing.names if n.startswith("train_")]
    assert len(train) == 852
    assert train == sorted(train, key=natural_key)
    numbers = [int(n.split("_")[1]) for n in train]
    assert numbers == sorted(numbers)


def test_jpeg_chips_decode_to_true_colour_not_a_negative(chips_dir: Path, chip_labels) -> None:
    """Clear rainforest is dark and green. Planet's JPEGs are CMYK with inverted channels: read
    raw, the same pixels come out bright and magenta-ish (green lowest)."""
    forest = _forest_names(chip_labels, chips_dir)
    assert len(forest) >= 10
    for name in forest:
        rgb = decode_rgb(chips_dir / f"{name}.jpg")
        assert rgb.shape == (256, 256, 3) and rgb.dtype == np.uint8
        r, g, b = rgb.reshape(-1, 3).mean(axis=0)
        assert g > r + 3, (name, r, g, b)
        assert g >= b, (name, r, g, b)
        assert max(r, g, b) < 115, (name, r, g, b)
        with Image.open(chips_dir / f"{name}.jpg") as image:
            assert image.mode == "CMYK"
            raw = np.asarray(image)[..., :3].reshape(-1, 3).mean(axis=0)
        # The raw channels are the negative: a decoder that skipped convert() fails the checks.
        assert raw.min() > 128 and raw[1] < raw[0]


def test_train_10_colours(chips_dir: Path) -> None:
    rgb = decode_rgb(chips_dir / "train_10.jpg").reshape(-1, 3).mean(axis=0)
    r, g, b = rgb
    assert g >= r >= b
    assert 30 < g < 90


@pytest.mark.parametrize("size", [32, 64, 128])
def test_draft_decode_matches_full_decode_downsized(chips_dir: Path, size: int) -> None:
    for name in ["train_0", "train_10", "file_0"]:
        path = chips_dir / f"{name}.jpg"
        small = decode_rgb(path, size)
        assert small.shape == (size, size, 3) and small.dtype == np.uint8
        full = decode_rgb(path)
        reference = np.asarray(Image.fromarray(full).resize((size, size), Image.BILINEAR))
        diff = np.abs(small.astype(np.int16) - reference.astype(np.int16)).mean()
        assert diff < 1.2, (name, size, diff)
    assert thumbnail(chips_dir / "train_0.jpg", 48).shape == (48, 48, 3)


def test_small_sizes_decode_inside_the_jpeg_decoder(chips_dir: Path, monkeypatch) -> None:
    """Draft mode: a 256 px chip wanted at 32 px is decoded at 1/8 scale, not in full."""
    from PIL import JpegImagePlugin

    decoded_sizes = []
    original_load = JpegImagePlugin.JpegImageFile.load

    def spy_load(self):
        result = original_load(self)
        decoded_sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy_load)
    for size, scale in ((32, 8), (64, 4), (128, 2), (None, 1)):
        decoded_sizes.clear()
        decode_rgb(chips_dir / "train_0.jpg", size)
        assert set(decoded_sizes) == {(256 // scale, 256 // scale)}, size


def test_tiff_reads_16_bit_without_loss(tif_dir: Path) -> None:
    tiffs = sorted(tif_dir.glob("*.tif"))
    assert len(tiffs) == 16
    bands = read_bands(tiffs[0])
    assert bands.shape == (256, 256, 4)
    assert bands.dtype == np.uint16
    assert bands.max() > 255  # Pillow would have truncated to 8 bits
    # Every band carries data.
    assert all(bands[..., i].std() > 0 for i in range(4))
    for image in (tiff_rgb(bands), tiff_false_colour(bands)):
        assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    false_colour = tiff_false_colour(bands)
    assert false_colour.min() == 0 and false_colour.max() == 255  # the stretch uses the range
    # True colour is the fixed mapping to the JPEGs' colours (tests/test_tiff_colour.py), not
    # a stretch: this clear forest chip stays as dark as its JPEG.
    assert tiff_rgb(bands).max() < 255 and tiff_rgb(bands).mean() < 80
    # False colour puts NIR first; true colour puts R first: different images.
    assert not np.array_equal(tiff_rgb(bands), tiff_false_colour(bands))
    with pytest.raises(ValueError):
        tiff_false_colour(bands[..., :3])


def test_tiff_decodes_like_a_chip(tif_dir: Path) -> None:
    path = sorted(tif_dir.glob("*.tif"))[0]
    assert decode_rgb(path).shape == (256, 256, 3)
    assert decode_rgb(path, 32).shape == (32, 32, 3)
    assert np.array_equal(decode_rgb(path), tiff_rgb(read_bands(path)))


def _png_header(path: Path, width: int, height: int) -> None:
    """A tiny PNG that declares width x height pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture
def bad_folder(tmp_path: Path, chips_dir: Path) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copyfile(chips_dir / "train_0.jpg", folder / "good_1.jpg")
    shutil.copyfile(chips_dir / "train_10.jpg", folder / "good_20.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    whole = (chips_dir / "train_0.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "text.jpg").write_text("these are not the pixels you are looking for\n")
    (folder / "notes.tif").write_text("nor these\n")
    _png_header(folder / "bomb_huge.png", 30_000, 30_000)  # Pillow's DecompressionBombError
    _png_header(folder / "bomb_warn.png", 10_000, 10_000)  # Pillow's DecompressionBombWarning
    _png_header(folder / "bomb_ours.png", 9_000, 9_000)  # below Pillow's limit, above ours
    assert MAX_PIXELS < 9_000 * 9_000
    if sys.platform != "win32":
        (folder / "loop_a.jpg").symlink_to(folder / "loop_b.jpg")
        (folder / "loop_b.jpg").symlink_to(folder / "loop_a.jpg")
        (folder / "dangling.jpg").symlink_to(folder / "nowhere.jpg")
    return folder


DECODE_REASONS = {
    "empty.jpg": "empty file (0 bytes)",
    "truncated.jpg": "cannot decode: truncated file",
    "text.jpg": "not an image",
    "notes.tif": "not a readable TIFF",
    "bomb_huge.png": "decompression bomb",
    "bomb_warn.png": "decompression bomb",
    "bomb_ours.png": "decompression bomb",
}
LISTING_REASONS = {
    "loop_a": "symbolic link loop",
    "loop_b": "symbolic link loop",
    "dangling": "broken symbolic link",
}


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_listing_reports_broken_links_and_goes_on(bad_folder: Path) -> None:
    listing = list_chips(bad_folder)
    errors = {Path(e.path).stem: e for e in listing.errors}
    assert set(errors) == set(LISTING_REASONS)
    for stem, reason in LISTING_REASONS.items():
        assert errors[stem].reason == reason
        assert str(errors[stem]) == f"{bad_folder / stem}.jpg: {reason}"
    assert "good_1" in listing.names and "good_20" in listing.names
    assert listing.names.index("good_1") < listing.names.index("good_20")


@pytest.mark.parametrize("size", [256, 32])
def test_every_bad_file_is_reported_and_the_rest_decode(bad_folder: Path, size: int) -> None:
    listing = list_chips(bad_folder)
    result = decode_all(listing.paths, size)
    assert result.names == ["good_1", "good_20"]
    assert result.images.shape == (2, size, size, 3)
    assert [p.name for p in result.paths] == ["good_1.jpg", "good_20.jpg"]
    assert np.array_equal(result.images[1], decode_rgb(bad_folder / "good_20.jpg", size))
    errors = {Path(e.path).name: e for e in result.errors}
    assert set(errors) == set(DECODE_REASONS)
    for name, reason in DECODE_REASONS.items():
        assert errors[name].reason.startswith(reason), (name, errors[name].reason)
        assert str(errors[name]).startswith(f"{bad_folder / name}: ")
        assert "\n" not in str(errors[name])


def test_each_bad_kind_raises_chip_error_alone(bad_folder: Path) -> None:
    for name, reason in DECODE_REASONS.items():
        path = bad_folder / name
        with pytest.raises(ChipError) as info:
            decode_rgb(path)
        assert info.value.path == str(path)
        assert info.value.reason.startswith(reason)
    with pytest.raises(ChipError, match="no such file"):
        decode_rgb(bad_folder / "absent.jpg")


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_decoding_a_link_loop_directly(bad_folder: Path) -> None:
    with pytest.raises(ChipError, match="symbolic link loop"):
        decode_rgb(bad_folder / "loop_a.jpg")


def test_iter_decoded_batches_in_order_with_errors(bad_folder: Path) -> None:
    paths = list_chips(bad_folder).paths
    batches = list(iter_decoded(paths, 32, batch_size=3))
    assert [len(b.names) + len(b.errors) for b in batches] == [
        min(3, len(paths) - i) for i in range(0, len(paths), 3)
    ]
    assert [n for b in batches for n in b.names] == ["good_1", "good_20"]
    assert sum(len(b.errors) for b in batches) == len(paths) - 2


def test_iter_decoded_cancels(chips_dir: Path) -> None:
    paths = list_chips(chips_dir).paths[:40]
    seen = []
    with pytest.raises(CancelledError):
        for batch in iter_decoded(paths, 32, batch_size=8, cancel=lambda: len(seen) >= 2):
            seen.append(batch)
    assert len(seen) == 2


def test_decode_all_progress_and_batch_sequential(chips_dir: Path) -> None:
    paths = list_chips(chips_dir).paths[:20]
    calls = []
    result = decode_all(paths, 32, progress=lambda d, t: calls.append((d, t)), batch_size=8)
    assert calls == [(8, 20), (16, 20), (20, 20)]
    sequential = decode_batch(paths, 32)
    assert sequential.names == result.names
    assert np.array_equal(sequential.images, result.images)


# --- TIFFs that are not Planet's analytic product ---------------------------------------------
def _real_bands(tif_dir: Path) -> np.ndarray:
    return read_bands(tif_dir / "train_10.tif")


ODD_TIFFS = {
    "three_bands.tif": (
        lambda b: b[..., :3],
        "16-bit TIFF with 3 bands, not Planet's analytic product (16-bit, 4 bands: B, G, R, NIR)",
    ),
    "five_bands.tif": (
        lambda b: np.concatenate([b, b[..., :1]], axis=2),
        "16-bit TIFF with 5 bands, not Planet's analytic product (16-bit, 4 bands: B, G, R, NIR)",
    ),
    "grey.tif": (
        lambda b: b[..., 0],
        "16-bit TIFF with 1 band, not Planet's analytic product (16-bit, 4 bands: B, G, R, NIR)",
    ),
    "eight_bit.tif": (
        lambda b: (b >> 8).astype(np.uint8),
        "8-bit TIFF with 4 bands, not Planet's analytic product (16-bit, 4 bands: B, G, R, NIR)",
    ),
    "eight_bit_rgb.tif": (
        lambda b: (b[..., [2, 1, 0]] >> 8).astype(np.uint8),
        "8-bit TIFF with 3 bands, not Planet's analytic product (16-bit, 4 bands: B, G, R, NIR)",
    ),
    "reflectance.tif": (
        lambda b: b.astype(np.float32) / 10000,
        "32-bit floating-point TIFF with 4 bands, not Planet's analytic product "
        "(16-bit, 4 bands: B, G, R, NIR)",
    ),
    "signed.tif": (
        lambda b: b.astype(np.int16),
        "16-bit signed TIFF with 4 bands, not Planet's analytic product "
        "(16-bit, 4 bands: B, G, R, NIR)",
    ),
    "all_zero.tif": (lambda b: np.zeros_like(b), "every pixel is zero (no data)"),
}


@pytest.fixture
def odd_folder(tmp_path: Path, tif_dir: Path) -> Path:
    bands = _real_bands(tif_dir)
    for name, (make, _) in ODD_TIFFS.items():
        data = make(bands)
        # Stored as Planet stores its own: RGB plus extra samples (a single band: grey).
        photometric = "rgb" if data.ndim == 3 else "minisblack"
        tifffile.imwrite(tmp_path / name, data, photometric=photometric)
    tifffile.imwrite(tmp_path / "good.tif", bands, photometric="rgb")
    # The same chip stored band by band (planar) is the same chip.
    planar = np.moveaxis(bands, -1, 0)
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="rgb", planarconfig="separate")
    return tmp_path


def test_a_tiff_that_is_not_planets_analytic_product_is_refused(odd_folder: Path) -> None:
    for name, (_, reason) in ODD_TIFFS.items():
        path = odd_folder / name
        for read in (read_bands, decode_rgb):  # the large view reads bands; the rest decode
            with pytest.raises(ChipError) as info:
                read(path)
            assert info.value.reason == reason, name
            assert str(info.value) == f"{path}: {reason}"
            assert "\n" not in str(info.value)


def test_odd_tiffs_are_reported_and_the_rest_decode(odd_folder: Path, tif_dir: Path) -> None:
    result = decode_all(list_chips(odd_folder).paths, 32)
    assert result.names == ["good", "planar"]
    assert np.array_equal(result.images[0], result.images[1])
    assert np.array_equal(result.images[0], decode_rgb(tif_dir / "train_10.tif", 32))
    assert {Path(e.path).name: e.reason for e in result.errors} == {
        name: reason for name, (_, reason) in ODD_TIFFS.items()
    }
