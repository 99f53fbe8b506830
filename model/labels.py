"""Labels CSV in the train_v2.csv format: `image_name,tags`, tags space-separated.

Reading is lenient about encoding noise (BOM, CRLF, repeated spaces, a `.jpg` suffix) and
strict about meaning (unknown tags, bad names, duplicates). Writing is atomic.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from model.errors import LabelsError
from model.files import atomic_write_text
from model.tags import TAG_INDEX, TAGS

HEADER = ("image_name", "tags")
CHIP_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
MAX_LISTED = 20  # bad rows named in one message; the rest are counted


class Labels(dict[str, tuple[str, ...]]):
    """Chip name -> tags as written, in file order; remembers the file's line ending so that
    writing an unchanged file back gives the same bytes (train_v2.csv uses LF, chips_labels.csv
    CRLF)."""

    newline: str = "\n"


def clean_name(raw: str) -> str:
    """The chip's stem: surrounding spaces and a known image suffix removed."""
    name = raw.strip()
    lower = name.lower()
    for suffix in CHIP_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _name_problem(name: str) -> str | None:
    if not name:
        return "empty image_name"
    if "/" in name or "\\" in name:
        return f"image_name {name!r} contains a path separator"
    if ".." in name:
        return f"image_name {name!r} contains '..'"
    return None


def read_labels(path: str | os.PathLike[str]) -> Labels:
    """Chip name -> tags in the order the file gives them.

    Raises LabelsError naming the file, the row and the problem.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LabelsError(f"{path}: no such labels file") from None
    except IsADirectoryError:
        raise LabelsError(f"{path}: is a folder, not a labels CSV") from None
    except OSError as exc:
        raise LabelsError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelsError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_labels(text, source=str(path))


def suggest_tag(unknown: str) -> str | None:
    """The known tag an unknown one most likely means ("Primary", "partly-cloudy",
    "artisanal_mine"), or None when nothing is close."""
    key = unknown.strip().lower().replace("-", "_")
    close = difflib.get_close_matches(key, TAGS, n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown_tag_problem(tag: str, name: str) -> str:
    # A tag differing only in case is still rejected, with the fix: untouched rows are written
    # back exactly as read, so "Primary" accepted here would reach every tool downstream that
    # matches the exact strings of train_v2.csv.
    guess = suggest_tag(tag)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    return f"unknown tag {tag!r} for {name}{hint}"


def parse_labels(text: str, source: str = "<labels>") -> Labels:
    """Parse CSV text; `source` names the file in error messages.

    Every bad row is found before anything is raised, so that one LabelsError names them all
    (the first MAX_LISTED with their row numbers, then how many more).
    """
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise LabelsError(f"{source}: empty file, expected the header 'image_name,tags'") from None
    missing = [h for h in HEADER if h not in header]
    if missing:
        raise LabelsError(
            f"{source}: missing column {' and '.join(missing)} (header must be 'image_name,tags')"
        )
    name_col, tags_col = header.index("image_name"), header.index("tags")
    width = max(name_col, tags_col) + 1

    labels = Labels()
    first_line_end = text.find("\n")
    if first_line_end > 0 and text[first_line_end - 1] == "\r":
        labels.newline = "\r\n"
    first_row: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    for row_number, row in enumerate(reader, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank lines, including a trailing one
        if len(row) < width:
            problems.append((row_number, f"expected 2 columns, found {len(row)}"))
            continue
        name = clean_name(row[name_col])
        problem = _name_problem(name)
        if problem:
            problems.append((row_number, problem))
            continue
        tags = tuple(row[tags_col].split())
        unknown = [tag for tag in tags if tag not in TAG_INDEX]
        problems.extend((row_number, _unknown_tag_problem(tag, name)) for tag in unknown)
        # 73 rows of train_v2.csv repeat a tag ("cultivation cultivation"): kept as written so
        # that an unchanged file writes back byte for byte; everything downstream uses sets.
        if name in first_row:
            # Two rows for one chip: we cannot know which is right, so the user decides.
            problems.append(
                (row_number, f"duplicate image_name {name} (first on row {first_row[name]})")
            )
            continue
        first_row[name] = row_number
        if not unknown:
            labels[name] = tags
    if problems:
        raise LabelsError(problems_message(source, problems), problems)
    return labels


def problems_message(source: str, problems: list[tuple[int, str]]) -> str:
    """One line: the file, then each bad row's number and problem, at most MAX_LISTED of them."""
    listed = "; ".join(f"row {row}: {problem}" for row, problem in problems[:MAX_LISTED])
    more = len(problems) - MAX_LISTED
    if len(problems) == 1:
        return f"{source}: {listed}"
    rows = len({row for row, _ in problems})
    head = f"{rows} bad rows"
    if rows != len(problems):
        head = f"{len(problems)} problems in {rows} rows"
    tail = f"; and {more} more" if more > 0 else ""
    return f"{source}: {head}: {listed}{tail}"


def format_labels(labels: Mapping[str, Iterable[str]], newline: str | None = None) -> str:
    """The CSV text, rows in the mapping's order; line ends as read (LF for a new table)."""
    end = newline or getattr(labels, "newline", "\n")
    lines = ["image_name,tags"]
    lines.extend(f"{name},{' '.join(tags)}" for name, tags in labels.items())
    return end.join(lines) + end


def write_labels(path: str | os.PathLike[str], labels: Mapping[str, Iterable[str]]) -> None:
    """Write atomically: a crash mid-write leaves the old file or the new one, never half."""
    for name in labels:
        problem = _name_problem(name)
        if problem:
            raise LabelsError(f"{path}: {problem}")
    atomic_write_text(path, format_labels(labels))


def label_matrix(names: Iterable[str], labels: Mapping[str, Iterable[str]]) -> np.ndarray:
    """(n_chips, 17) float32 0/1 targets in TAGS order for the named chips."""
    names = list(names)
    matrix = np.zeros((len(names), len(TAGS)), dtype=np.float32)
    for row, name in enumerate(names):
        for tag in labels[name]:
            matrix[row, TAG_INDEX[tag]] = 1.0
    return matrix


def tag_counts(labels: Mapping[str, Iterable[str]]) -> dict[str, int]:
    counts = dict.fromkeys(TAGS, 0)
    for tags in labels.values():
        for tag in set(tags):
            counts[tag] += 1
    return counts
