"""Find chip files in a folder and decode them to RGB arrays.

Planet JPEGs are 4-channel files that Pillow opens as CMYK; `convert("RGB")` gives the true
colours. Planet's analytic TIFFs are 16-bit with bands B, G, R, NIR; Pillow would truncate them
to 8-bit RGBA, so tifffile reads them without loss, and `model.tiff_colour` maps them to the
visual JPEGs' colours. Every failure is a ChipError naming the file.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from model.errors import ChipError, ModelError
from model.tiff_colour import shipped_mapping

CHIP_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
TIFF_EXTENSIONS = (".tif", ".tiff")
ANALYTIC_EXPECTED = "not Planet's analytic product (16-bit, 4 bands: B, G, R, NIR)"
# Planet chips are 256x256; anything near this size is not a chip but a decompression bomb.
MAX_PIXELS = 8192 * 8192

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated chip must fail, not decode grey


@dataclass(frozen=True)
class ChipListing:
    """The chips found in a folder, in natural order, and the entries that could not be used."""

    paths: list[Path]
    errors: list[ChipError]

    @property
    def names(self) -> list[str]:
        return [p.stem for p in self.paths]


def natural_key(name: str) -> list[object]:
    """train_2 sorts before train_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_chips(folder: str | os.PathLike[str]) -> ChipListing:
    """Chip files directly in `folder`, naturally sorted. Broken links are reported, not fatal.

    Works on names (strings) and makes a Path only for each chip kept: a folder of 36,000 chips
    is listed in a fraction of the time pathlib would take for every step."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ChipError(folder, "not a folder" if folder.exists() else "no such folder")
    found: list[tuple[str, str]] = []  # (file name, full path)
    errors: list[ChipError] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.lower().endswith(CHIP_EXTENSIONS) or entry.name.startswith("."):
                continue
            try:
                if entry.is_file():  # follows links: a loop or dangling link raises or is False
                    found.append((entry.name, entry.path))
                elif entry.is_symlink():
                    errors.append(ChipError(entry.path, "broken symbolic link"))
            except OSError as exc:
                errors.append(ChipError(entry.path, _os_reason(exc)))
    kept, clashes = _one_file_per_name(found)
    errors.extend(clashes)
    kept.sort(key=lambda item: natural_key(item[0]))
    errors.sort(key=lambda e: natural_key(os.path.basename(e.path)))
    return ChipListing([Path(full) for _, full in kept], errors)


def _one_file_per_name(
    found: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[ChipError]]:
    """A chip is known by its name without extension (labels, exports, the review session), so
    two files named alike (train_1.jpg and train_1.tif) would be merged into one row; keep the
    first in CHIP_EXTENSIONS order (a lower-case extension before its upper-case twin) and report
    the others."""

    def preference(item: tuple[str, str]) -> tuple[int, bool, str]:
        suffix = os.path.splitext(item[0])[1]
        return CHIP_EXTENSIONS.index(suffix.lower()), suffix != suffix.lower(), item[0]

    kept: dict[str, tuple[str, str]] = {}
    clashes: list[ChipError] = []
    for item in sorted(found, key=preference):
        first = kept.setdefault(os.path.splitext(item[0])[0], item)
        if first is not item:
            clashes.append(ChipError(item[1], f"another file, {first[0]}, has the same chip name"))
    return list(kept.values()), clashes


def _os_reason(exc: OSError) -> str:
    if exc.errno == 40:  # ELOOP
        return "symbolic link loop"
    return exc.strerror or str(exc)


def is_tiff(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(TIFF_EXTENSIONS)


def read_bands(path: str | os.PathLike[str]) -> np.ndarray:
    """A Planet analytic TIFF as (H, W, 4) uint16 in file band order (B, G, R, NIR), without
    loss. Any other TIFF (another band count, 8-bit or float, all zero) is a ChipError saying
    what it is: its colours would be wrong, and nothing would say so."""
    import tifffile  # imported here: only TIFF users pay for it

    try:
        data = tifffile.imread(os.fspath(path))
    except (OSError, ValueError, RuntimeError, tifffile.TiffFileError) as exc:
        if isinstance(exc, OSError) and exc.errno == 40:
            raise ChipError(path, "symbolic link loop") from None
        raise ChipError(path, f"not a readable TIFF ({_short(exc)})") from None
    if data.ndim == 3 and int(np.argmin(data.shape)) == 0:
        data = np.moveaxis(data, 0, -1)  # planar storage: bands first
    if data.ndim not in (2, 3):
        raise ChipError(path, f"expected one multi-band image, found shape {data.shape}")
    if data.shape[0] * data.shape[1] > MAX_PIXELS:
        raise ChipError(path, f"image of {data.shape[1]}x{data.shape[0]} is too large")
    n_bands = 1 if data.ndim == 2 else data.shape[2]
    if n_bands != 4 or data.dtype != np.uint16:
        raise ChipError(path, f"{_tiff_kind(data.dtype, n_bands)}, {ANALYTIC_EXPECTED}")
    if not data.any():
        raise ChipError(path, "every pixel is zero (no data)")
    return data


def _tiff_kind(dtype: np.dtype, n_bands: int) -> str:
    """'8-bit TIFF with 3 bands', '32-bit floating-point TIFF with 4 bands'..."""
    if dtype == np.bool_:
        depth = "1-bit"
    elif np.issubdtype(dtype, np.floating):
        depth = f"{dtype.itemsize * 8}-bit floating-point"
    elif np.issubdtype(dtype, np.signedinteger):
        depth = f"{dtype.itemsize * 8}-bit signed"
    else:
        depth = f"{dtype.itemsize * 8}-bit"
    return f"{depth} TIFF with {n_bands} band{'' if n_bands == 1 else 's'}"


def stretch(bands: np.ndarray, low: float = 2.0, high: float = 98.0) -> np.ndarray:
    """Percentile stretch per band to uint8: 16-bit sensor counts made viewable."""
    out = np.empty(bands.shape, dtype=np.uint8)
    for i in range(bands.shape[2]):
        band = bands[..., i].astype(np.float32)
        lo, hi = np.percentile(band, (low, high))
        scale = 255.0 / max(float(hi - lo), 1e-6)
        out[..., i] = np.clip((band - lo) * scale, 0, 255).astype(np.uint8)
    return out


def tiff_rgb(bands: np.ndarray) -> np.ndarray:
    """True colour from analytic B, G, R, NIR bands, as Planet's visual JPEGs show it (the
    colours the model learnt from): the fixed curves of `model.tiff_colour`, not a stretch.
    A ModelError if the shipped mapping cannot be read."""
    return shipped_mapping().apply(bands)


def tiff_false_colour(bands: np.ndarray) -> np.ndarray:
    """NIR, R, G as R, G, B: vegetation shows red, the usual false-colour composite."""
    if bands.shape[2] < 4:
        raise ValueError("false colour needs a NIR band")
    return stretch(bands[..., [3, 2, 1]])


def resize_rgb(rgb: np.ndarray, size: int) -> np.ndarray:
    """An (H, W, 3) uint8 image at size x size, as decoding resizes a TIFF's."""
    if rgb.shape[:2] == (size, size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__


def _open_image(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except FileNotFoundError:
        raise ChipError(path, "no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ChipError(path, "decompression bomb (image far larger than a chip)") from None
    except UnidentifiedImageError:
        size = path.stat().st_size if path.exists() else -1
        reason = "empty file (0 bytes)" if size == 0 else "not an image"
        raise ChipError(path, reason) from None
    except OSError as exc:
        raise ChipError(path, _os_reason(exc)) from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise ChipError(path, f"decompression bomb ({width}x{height} pixels)")
    return image


def decode_rgb(path: str | os.PathLike[str], size: int | None = None) -> np.ndarray:
    """The chip as (H, W, 3) uint8 true-colour RGB, resized to size x size when given.

    For JPEGs a small `size` uses draft mode, which decodes at 1/2, 1/4 or 1/8 scale inside the
    JPEG decoder: a 256 px chip needed at 32 px costs a fraction of a full decode.
    """
    path = Path(path)
    if is_tiff(path):
        try:
            rgb = tiff_rgb(read_bands(path))
        except ModelError as exc:  # the shipped mapping, not this chip, is at fault: say which
            raise ChipError(path, f"cannot colour it: {exc}") from None
        return rgb if size is None else resize_rgb(rgb, size)
    image = _open_image(path)
    try:
        if size is not None and image.format == "JPEG":
            image.draft(image.mode, (size, size))
        try:
            image.load()
        except Image.DecompressionBombError:
            raise ChipError(path, "decompression bomb (image far larger than a chip)") from None
        except (OSError, SyntaxError, ValueError) as exc:
            reason = _short(exc)
            if "truncated" in reason.lower():
                reason = "truncated file"
            raise ChipError(path, f"cannot decode: {reason}") from None
        rgb = image.convert("RGB")
        if size is not None and rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)
    finally:
        image.close()


def thumbnail(path: str | os.PathLike[str], size: int = 128) -> np.ndarray:
    """A square RGB thumbnail for the grid."""
    return decode_rgb(path, size)
