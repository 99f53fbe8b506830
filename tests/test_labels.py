"""Labels CSV: the real train_v2.csv, encoding noise, bad input, atomic writes."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from model.errors import ChipAuditError, LabelsError
from model.labels import (
    format_labels,
    label_matrix,
    parse_labels,
    read_labels,
    tag_counts,
    write_labels,
)
from model.tags import TAG_INDEX, TAGS

# From the dataset's README: occurrences, so a tag written twice in a row counts twice.
README_COUNTS = {
    "primary": 37_513,
    "clear": 28_431,
    "agriculture": 12_315,
    "road": 8_071,
    "water": 7_411,
    "partly_cloudy": 7_261,
    "cultivation": 4_547,
    "habitation": 3_660,
    "haze": 2_697,
    "cloudy": 2_089,
    "bare_ground": 862,
    "selective_logging": 340,
    "artisinal_mine": 339,
    "blooming": 332,
    "slash_burn": 209,
    "blow_down": 101,
    "conventional_mine": 100,
}


def test_reads_all_of_train_v2(train_v2_csv: Path, capsys: pytest.CaptureFixture) -> None:
    started = time.perf_counter()
    labels = read_labels(train_v2_csv)
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n  read_labels(train_v2.csv): {len(labels)} rows in {seconds * 1000:.0f} ms")
    assert len(labels) == 40_479
    assert labels["train_0"] == ("haze", "primary")
    occurrences = Counter(tag for tags in labels.values() for tag in tags)
    assert occurrences == README_COUNTS
    # tag_counts counts chips, so rows like "cultivation cultivation" count once.
    repeats = Counter(t for tags in labels.values() for t, n in Counter(tags).items() if n > 1)
    assert sum(repeats.values()) == 73
    assert tag_counts(labels) == {t: README_COUNTS[t] - repeats[t] for t in TAGS}
    assert seconds < 5.0  # a loose sanity bound, not a benchmark


def test_train_v2_writes_back_byte_for_byte(train_v2_csv: Path, tmp_path: Path) -> None:
    original = train_v2_csv.read_bytes()
    labels = read_labels(train_v2_csv)
    # The oddities that must survive: rows repeating a tag, rows not in alphabetical order.
    repeated = [n for n, t in labels.items() if len(set(t)) != len(t)]
    unsorted = [n for n, t in labels.items() if list(t) != sorted(t)]
    assert len(repeated) == 73
    assert len(unsorted) == 98
    out = tmp_path / "copy.csv"
    write_labels(out, labels)
    assert out.read_bytes() == original
    assert format_labels(labels).encode("utf-8") == original


def test_crlf_labels_write_back_byte_for_byte(labels_csv: Path, tmp_path: Path) -> None:
    """chips_labels.csv ends its lines in CRLF, unlike train_v2.csv: kept as read."""
    original = labels_csv.read_bytes()
    assert b"\r\n" in original
    out = tmp_path / "copy.csv"
    write_labels(out, read_labels(labels_csv))
    assert out.read_bytes() == original


def test_tolerates_bom_crlf_spaces_and_suffix(tmp_path: Path) -> None:
    text = (
        "\ufeffimage_name,tags\r\n"
        "train_1.jpg,  clear   primary \r\n"
        " train_2 ,haze  water\r\n"
        "train_3.JPG,cloudy\r\n"
        "\r\n"
    )
    path = tmp_path / "noisy.csv"
    path.write_bytes(text.encode("utf-8"))
    assert read_labels(path) == {
        "train_1": ("clear", "primary"),
        "train_2": ("haze", "water"),
        "train_3": ("cloudy",),
    }


def test_header_columns_may_come_in_any_order_and_case() -> None:
    labels = parse_labels("Tags,Image_Name\nclear primary,train_5\n")
    assert labels == {"train_5": ("clear", "primary")}


def test_a_chip_without_tags_is_kept() -> None:
    assert parse_labels("image_name,tags\ntrain_7,\n") == {"train_7": ()}


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad labels.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LabelsError) as info:
        read_labels(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_missing_column(tmp_path: Path) -> None:
    message = _error(tmp_path, "name,tags\ntrain_1,clear\n")
    assert "missing column image_name" in message
    message = _error(tmp_path, "image_name\ntrain_1\n")
    assert "missing column tags" in message


def test_unknown_tag_names_the_row(tmp_path: Path) -> None:
    message = _error(tmp_path, "image_name,tags\ntrain_1,clear\ntrain_2,clear forest\n")
    assert "row 3" in message and "'forest'" in message and "train_2" in message


def test_empty_name(tmp_path: Path) -> None:
    message = _error(tmp_path, "image_name,tags\ntrain_1,clear\n ,clear\n")
    assert "row 3" in message and "empty image_name" in message


@pytest.mark.parametrize("name", ["dir/train_1", "dir\\train_1", "..", "train..1"])
def test_names_that_could_escape_the_folder(tmp_path: Path, name: str) -> None:
    message = _error(tmp_path, f"image_name,tags\ntrain_0,clear\n{name},clear\n")
    assert "row 3" in message
    assert "path separator" in message or "'..'" in message


def test_duplicate_names_both_rows(tmp_path: Path) -> None:
    message = _error(tmp_path, "image_name,tags\ntrain_1,clear\ntrain_2,haze\ntrain_1.jpg,cloudy\n")
    assert "duplicate image_name train_1" in message
    assert "row 4" in message and "row 2" in message


def test_too_few_columns(tmp_path: Path) -> None:
    message = _error(tmp_path, "image_name,tags\ntrain_1\n")
    assert "row 2" in message


def test_every_bad_row_is_named_at_once(tmp_path: Path) -> None:
    text = (
        "image_name,tags\n"
        "train_1,clear primary\n"
        "train_2,Primary clear\n"  # row 3
        "train_3\n"  # row 4
        "train_4,clear\n"
        "dir/train_5,clear\n"  # row 6
        "train_4,haze\n"  # row 7
        "train_6,partly-cloudy artisanal_mine snowy_mountain\n"  # row 8: three problems
    )
    path = tmp_path / "bad labels.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LabelsError) as info:
        read_labels(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: 7 problems in 5 rows: ")
    assert info.value.problems == [
        (3, "unknown tag 'Primary' for train_2 (did you mean 'primary'?)"),
        (4, "expected 2 columns, found 1"),
        (6, "image_name 'dir/train_5' contains a path separator"),
        (7, "duplicate image_name train_4 (first on row 5)"),
        (8, "unknown tag 'partly-cloudy' for train_6 (did you mean 'partly_cloudy'?)"),
        (8, "unknown tag 'artisanal_mine' for train_6 (did you mean 'artisinal_mine'?)"),
        (8, "unknown tag 'snowy_mountain' for train_6"),
    ]
    for row, problem in info.value.problems:
        assert f"row {row}: {problem}" in message


def test_many_bad_rows_in_the_real_labels_are_listed_up_to_a_cap(
    labels_csv: Path, tmp_path: Path
) -> None:
    """chips_labels.csv with the first tag of 33 seeded rows capitalised: all 33 are found, the
    first 20 are named with their row numbers, and the rest counted."""
    lines = labels_csv.read_text(encoding="utf-8").splitlines()
    rng = np.random.default_rng(14)
    spoilt = sorted(int(i) for i in rng.choice(np.arange(1, len(lines)), 33, replace=False))
    for i in spoilt:
        name, tags = lines[i].split(",")
        first, *rest = tags.split(" ")
        lines[i] = f"{name},{' '.join([first.capitalize(), *rest])}"
    path = tmp_path / "chips_labels.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(LabelsError) as info:
        read_labels(path)
    # Row numbers count the header as row 1, as a spreadsheet does.
    assert [row for row, _ in info.value.problems] == [i + 1 for i in spoilt]
    assert all("did you mean" in problem for _, problem in info.value.problems)
    message = str(info.value)
    assert message.startswith(f"{path}: 33 bad rows: row {spoilt[0] + 1}: unknown tag ")
    assert message.count("did you mean") == 20 and message.endswith("; and 13 more")
    assert f"row {spoilt[19] + 1}:" in message and f"row {spoilt[20] + 1}:" not in message


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("image_name,tags\ntr\xe4in,clear\n".encode("latin-1"))
    with pytest.raises(LabelsError, match="not UTF-8"):
        read_labels(path)
    with pytest.raises(LabelsError, match="no such labels file"):
        read_labels(tmp_path / "absent.csv")
    with pytest.raises(LabelsError, match="folder"):
        read_labels(tmp_path)
    with pytest.raises(LabelsError, match="empty file"):
        parse_labels("")


def test_write_refuses_bad_names(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with pytest.raises(LabelsError, match="path separator"):
        write_labels(path, {"a/b": ("clear",)})
    assert not path.exists()


def test_label_matrix_counts_repeated_tags_once() -> None:
    labels = {"a": ("clear", "water", "water"), "b": ()}
    matrix = label_matrix(["b", "a"], labels)
    assert matrix.shape == (2, 17) and matrix.dtype == np.float32
    assert matrix[0].sum() == 0
    assert matrix[1].sum() == 2
    assert matrix[1, TAG_INDEX["water"]] == 1 and matrix[1, TAG_INDEX["clear"]] == 1
    assert tag_counts(labels)["water"] == 1


# --- atomic writes --------------------------------------------------------------------------
OLD = {"train_1": ("clear", "primary"), "train_2": ("haze",)}
NEW = {"train_1": ("cloudy",), "train_2": ("haze", "water"), "train_3": ("clear",)}


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_crash_at_rename_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "labels.csv"
    write_labels(path, OLD)
    before = path.read_bytes()

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(ChipAuditError, match="cannot write") as info:
        write_labels(path, NEW)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
    assert _only(tmp_path) == ["labels.csv"]


def test_interrupt_mid_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "labels.csv"
    write_labels(path, OLD)
    before = path.read_bytes()

    def killed(fd):
        raise KeyboardInterrupt  # arrives after part of the text is in the temp file

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        write_labels(path, NEW)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert read_labels(path) == OLD
    assert _only(tmp_path) == ["labels.csv"]
    write_labels(path, NEW)
    assert read_labels(path) == NEW
    assert _only(tmp_path) == ["labels.csv"]


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_temp_file_beside_the_target_and_the_folder_synced_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
) -> None:
    """The rename is atomic only within one file system, hence the temp file in the target's
    folder; the rename itself is durable only once that folder is synced."""
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "labels.csv"
    write_labels(path, OLD)
    if relative:
        monkeypatch.chdir(folder)
    events: list[tuple] = []
    real_mkstemp, real_fsync, real_replace = tempfile.mkstemp, os.fsync, os.replace

    def mkstemp(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        events.append(("temp", Path(name).resolve()))
        return fd, name

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        events.append(("fsync", "folder" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        real_fsync(fd)

    def replace(src, dst) -> None:
        real_replace(src, dst)
        events.append(("replace", Path(src).resolve(), Path(dst).resolve()))

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_labels(Path("labels.csv") if relative else path, NEW)
    monkeypatch.undo()

    assert read_labels(path) == NEW
    temp = events[0][1]
    assert temp.parent == folder.resolve() and temp.name.startswith(".labels.csv.")
    assert events == [
        ("temp", temp),
        ("fsync", "file", path.stat().st_ino),  # the new text, before it replaces the old
        ("replace", temp, path.resolve()),
        ("fsync", "folder", folder.stat().st_ino),  # then the rename
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_rewrite_keeps_the_files_permissions(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    write_labels(path, OLD)
    os.chmod(path, 0o640)
    write_labels(path, NEW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.csv"
    write_labels(fresh, NEW)
    umask = os.umask(0o022)
    os.umask(umask)
    # A new file gets the usual permissions, not mkstemp's private 0600.
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_every_tag_is_writable_and_readable(tmp_path: Path) -> None:
    labels = {f"train_{i}": (tag,) for i, tag in enumerate(TAGS)}
    path = tmp_path / "all.csv"
    write_labels(path, labels)
    assert read_labels(path) == labels
