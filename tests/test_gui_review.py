"""The review window driven as a reviewer drives it: real chips, a real (tiny) model predicting in
its thread, keys delivered as the keyboard delivers them (to the focus widget first), and the
exported CSV read back.

A mistake is planted in the crowd's labels after predicting: one tag flipped on one chip, where
the tiny model agreed with the crowd and the flip makes that chip stand out most from the rest.
The reviewer must be led to it, fix it from the keyboard, undo, redo, mark it reviewed and export
exactly one changed row.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

import gui.main_window as main_window
from gui.actions import TAG_KEYS
from gui.chip_grid import BADGE_ROLE
from gui.main_window import MainWindow
from model.audit import chip_suspicion, tag_suspicion
from model.labels import read_labels, write_labels
from model.review import ChipQuery
from model.session import ReviewSession
from model.tags import LAND_TAGS, TAG_INDEX, TAGS, WEATHER_TAGS, rule_violations

N_CHIPS = 60
NOW = 5  # the detail table's "Now" column
CROWD = 2  # its "Crowd" column


# --- the planted mistake --------------------------------------------------------------------
@dataclass
class Planted:
    names: list[str]
    truth: dict[str, tuple[str, ...]]  # the crowd's labels as published
    labels: dict[str, tuple[str, ...]]  # the same with one tag flipped on one chip
    probs: np.ndarray  # the tiny model's probabilities, rows in `names` order
    thresholds: np.ndarray
    version: str
    chip: str
    tag: str

    @property
    def wrong_value(self) -> bool:
        return self.tag in self.labels[self.chip]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _matrix(names: list[str], labels: dict[str, tuple[str, ...]]) -> np.ndarray:
    m = np.zeros((len(names), len(TAGS)), dtype=np.float32)
    for i, name in enumerate(names):
        for tag in labels[name]:
            m[i, TAG_INDEX[tag]] = 1.0
    return m


def _scores(probs: np.ndarray, crowd: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    tags_of = [[t for t, v in zip(TAGS, row) if v > 0.5] for row in crowd]
    broken_rules = np.array([len(rule_violations(t)) for t in tags_of])
    return chip_suspicion(tag_suspicion(probs, crowd, thresholds), broken_rules)


@pytest.fixture(scope="module")
def planted(
    tiny_model: Path,
    chips_dir: Path,
    chip_labels: dict[str, tuple[str, ...]],
    labelled_names: list[str],
) -> Planted:
    """Predict 60 chips the tiny model never trained on, then flip the crowd's label where the
    model agrees with the crowd and the flip makes that chip stand out most from the rest."""
    from model.classifier import Classifier
    from model.predicting import predict_paths

    names = labelled_names[N_CHIPS : 2 * N_CHIPS]
    classifier = Classifier.load(tiny_model)
    result = predict_paths(classifier, [chips_dir / f"{n}.jpg" for n in names])
    assert result.names == names and not result.errors
    probs = result.probs
    thresholds = np.asarray(classifier.card.threshold_list(), dtype=np.float32)
    crowd = _matrix(names, chip_labels)
    margin = _logit(probs) - _logit(thresholds)
    agreement = np.where(crowd > 0.5, margin, -margin)  # > 0: the model agrees with the crowd
    base = _scores(probs, crowd, thresholds)
    best, best_key = None, None
    for i, t in zip(*np.nonzero(agreement > 0)):
        flipped = crowd[i : i + 1].copy()
        flipped[0, t] = 1.0 - flipped[0, t]
        after = _scores(probs[i : i + 1], flipped, thresholds)[0]
        lead = after - np.delete(base, i).max()
        key = (lead, agreement[i, t])
        if best_key is None or key > best_key:
            best, best_key = (int(i), int(t)), key
    assert best is not None, "the tiny model agrees with the crowd on nothing"
    chip, tag = names[best[0]], TAGS[best[1]]
    labels = {n: chip_labels[n] for n in names}
    wrong = set(labels[chip]) ^ {tag}
    labels[chip] = tuple(t for t in TAGS if t in wrong)
    return Planted(
        names=names,
        truth={n: chip_labels[n] for n in names},
        labels=labels,
        probs=probs,
        thresholds=thresholds,
        version=classifier.version,
        chip=chip,
        tag=tag,
    )


# --- helpers --------------------------------------------------------------------------------
def press(window: MainWindow, keys: str) -> None:
    """Press a key sequence ("N", "Shift+P", "Ctrl+Shift+Z", "Space") as the keyboard does: to
    the window's focus widget, which may claim the key before the window's shortcuts see it."""
    combo = QKeySequence(keys)[0]
    target = QApplication.focusWidget()
    assert target is not None and target.window() is window, target
    QTest.keyClick(target, combo.key(), combo.keyboardModifiers())


def make_folder(
    root: Path, names: list[str], chips_dir: Path, link_chips, labels=None, csv_name="labels.csv"
) -> tuple[Path, Path | None]:
    """root/chips with links to the named chips; the labels CSV, if any, in root/labels/."""
    folder = root / "chips"
    link_chips(names, chips_dir, folder)
    labels_path = None
    if labels is not None:
        labels_path = root / "labels" / csv_name
        labels_path.parent.mkdir(parents=True, exist_ok=True)
        write_labels(labels_path, labels)
    return folder, labels_path


def seed_predictions(folder: Path, planted: Planted, names: list[str] | None = None) -> None:
    """Put the tiny model's predictions in the folder's session, as an earlier run would have:
    the window reuses them and starts no prediction."""
    names = names or planted.names
    rows = [planted.names.index(n) for n in names]
    session = ReviewSession.for_folder(folder)
    session.store_predictions(planted.version, names, planted.probs[rows])
    session.close()


def seed_crowd_like_calls(folder: Path, planted: Planted, tags) -> None:
    """Seed predictions in which the model calls each of `tags` exactly where the crowd has it
    (the tiny model calls nearly every tag on every chip, which would filter nothing)."""
    probs = planted.probs.copy()
    truth = _matrix(planted.names, planted.truth)
    for tag in tags:
        c, t = TAG_INDEX[tag], planted.thresholds[TAG_INDEX[tag]]
        probs[:, c] = np.where(truth[:, c] > 0.5, (1 + t) / 2, t / 2)
    session = ReviewSession.for_folder(folder)
    session.store_predictions(planted.version, planted.names, probs)
    session.close()


def wait_predicted(qtbot, window: MainWindow, n: int, timeout: int = 60_000) -> None:
    qtbot.waitUntil(
        lambda: (
            not window.predictions.running
            and window.review is not None
            and window.review.counts()["predicted"] == n
        ),
        timeout=timeout,
    )


def wait_settled(qtbot, window: MainWindow) -> None:
    """The grid shows what the filter bar asks for (the requery after predictions has run)."""
    page = window.page
    qtbot.waitUntil(
        lambda: (
            page.model is not None
            and not page.requery_pending()
            and list(page.model.order) == list(window.review.query(page.filters.query()))
        )
    )


def now_cell(window: MainWindow, tag: str) -> str:
    return window.page.detail.table.item(TAG_INDEX[tag], NOW).text()


@pytest.fixture
def new_window(qtbot, tmp_path: Path, tiny_model: Path, errors, monkeypatch):
    """new_window(): a shown, active MainWindow; every window of a test shares its settings
    (in a data folder of the test's own), with the tiny model active."""
    from model.versions import set_active_model

    monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "app-data"))
    set_active_model(tiny_model)

    def make() -> MainWindow:
        window = MainWindow()
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        return window

    return make


# --- the reviewer's path through a planted mistake --------------------------------------------
def test_planted_mistake_is_found_fixed_undone_redone_and_exported(
    qtbot,
    open_and_wait,
    new_window,
    planted: Planted,
    tmp_path: Path,
    chips_dir,
    link_chips,
    errors,
    monkeypatch,
) -> None:
    folder, labels_path = make_folder(
        tmp_path, planted.names, chips_dir, link_chips, planted.labels
    )
    window = new_window()
    assert open_and_wait(window, folder, labels_path)
    wait_predicted(qtbot, window, N_CHIPS)
    wait_settled(qtbot, window)
    review, page = window.review, window.page
    row = review.index[planted.chip]
    col = TAG_INDEX[planted.tag]
    # The window's predictions are the model's (same chips, same model, same decoding).
    np.testing.assert_allclose(review.probs, planted.probs, atol=1e-4)

    # Among the first suspects, and N leads there.
    order = review.query(ChipQuery(sort="suspicion"))
    assert row in order[:3], (planted.chip, planted.tag, [review.names[i] for i in order[:5]])
    visited = []
    for _ in range(3):
        press(window, "N")
        visited.append(page.current_row())
        if visited[-1] == row:
            break
    assert visited[-1] == row, [review.names[i] for i in visited]
    assert set(visited) <= set(order[:4].tolist())

    # The detail panel shows the chip, the crowd's (wrong) value and the model's call against it.
    detail = page.detail
    assert detail.row == row and detail.title.text().startswith(planted.chip)
    crowd_text = detail.table.item(col, CROWD).text()
    assert crowd_text == ("yes" if planted.wrong_value else "·")
    assert bool(review.calls[row, col]) != planted.wrong_value
    assert now_cell(window, planted.tag) == crowd_text

    # The tag's key puts it right.
    press(window, TAG_KEYS[planted.tag])
    assert bool(review.current[row, col]) == (not planted.wrong_value)
    assert set(review.tags_now(row)) == set(planted.truth[planted.chip])
    assert review.session.decisions(planted.chip) == {planted.tag: not planted.wrong_value}
    assert now_cell(window, planted.tag) == ("· ✎" if planted.wrong_value else "yes ✎")
    fixed = "on" if not planted.wrong_value else "off"
    unfixed = "off" if fixed == "on" else "on"
    assert window.statusBar().currentMessage() == f"Set: {planted.tag} {fixed} ({planted.chip})"
    assert "changed" in detail.title.text()
    assert page.model.data(page.model.index_of(row), BADGE_ROLE)["changed"]
    assert window.actions_by_id["undo"].isEnabled()

    # Undo restores the crowd's value, redo re-applies the fix.
    press(window, "Ctrl+Z")
    assert window.statusBar().currentMessage() == f"Undid: {planted.tag} {unfixed} ({planted.chip})"
    assert bool(review.current[row, col]) == planted.wrong_value
    assert review.session.decisions(planted.chip) == {}
    assert now_cell(window, planted.tag) == crowd_text
    assert "changed" not in detail.title.text()
    assert window.actions_by_id["redo"].isEnabled()
    press(window, "Ctrl+Shift+Z")
    assert set(review.tags_now(row)) == set(planted.truth[planted.chip])
    assert now_cell(window, planted.tag) == ("· ✎" if planted.wrong_value else "yes ✎")
    assert not window.actions_by_id["redo"].isEnabled()

    # Space marks it reviewed and moves to the next chip in the grid.
    position = page.model.index_of(row).row()
    assert position + 1 < page.model.rowCount()
    following = page.model.review_row(page.model.index(position + 1))
    press(window, "Space")
    assert review.is_reviewed(row)
    assert window.statusBar().currentMessage() == f"Marked {planted.chip} reviewed"
    assert page.current_row() == following
    assert page.model.data(page.model.index_of(row), BADGE_ROLE)["reviewed"]
    assert not review.is_reviewed(following)

    # The status bar counts it.
    qtbot.waitUntil(lambda: re.search(r"\b1 reviewed\b", window.status.counts.text()) is not None)
    counts = window.status.counts.text()
    assert re.search(r"\b1 changed\b", counts), counts
    assert re.search(rf"\b{N_CHIPS} predicted\b", counts), counts

    # Export: the planted chip has the true tags back; every other row is as read.
    out = tmp_path / "out" / "corrected.csv"
    out.parent.mkdir()
    asked = []
    monkeypatch.setattr(
        main_window.QFileDialog,
        "getSaveFileName",
        lambda *args, **kwargs: (asked.append(args), (str(out), "CSV files (*.csv)"))[1],
    )
    press(window, "Ctrl+E")
    assert len(asked) == 1 and out.is_file()
    exported = read_labels(out)
    assert list(exported) == list(planted.labels)
    assert set(exported[planted.chip]) == set(planted.truth[planted.chip])
    assert set(exported[planted.chip]) != set(planted.labels[planted.chip])
    for name, tags in planted.labels.items():
        if name != planted.chip:
            assert exported[name] == tags, name
    assert errors == []


# --- keys on one chip, on many -----------------------------------------------------------------
@pytest.fixture
def seeded_window(
    open_and_wait, new_window, planted: Planted, tmp_path: Path, chips_dir, link_chips
):
    """A window on the 60 chips with their true labels, predictions reused from the session."""
    folder, labels_path = make_folder(tmp_path, planted.names, chips_dir, link_chips, planted.truth)
    seed_predictions(folder, planted)
    window = new_window()
    assert open_and_wait(window, folder, labels_path)
    assert not window.predictions.running and window.review.counts()["predicted"] == N_CHIPS
    return window


def test_weather_key_replaces_the_other_weather_tag(
    qtbot, seeded_window: MainWindow, planted: Planted
) -> None:
    window = seeded_window
    review, page = window.review, window.page
    row = next(i for i, n in enumerate(review.names) if "clear" in planted.truth[n])
    page.select_row(row)
    before = review.tags_now(row)
    press(window, TAG_KEYS["haze"])
    now = review.tags_now(row)
    assert "haze" in now and "clear" not in now
    assert [t for t in now if t in WEATHER_TAGS] == ["haze"]
    assert set(now) - {"haze"} == set(before) - {"clear"}  # land tags untouched
    assert now_cell(window, "haze") == "yes ✎" and now_cell(window, "clear") == "· ✎"
    assert review.violations(row) == []
    # One key, one action: one undo gives the crowd's weather back.
    press(window, "Ctrl+Z")
    assert review.tags_now(row) == before
    # Shift+key takes the model's call for that tag.
    tag = next(
        t for t in (*LAND_TAGS, *WEATHER_TAGS) if review.calls[row, TAG_INDEX[t]] != (t in before)
    )
    press(window, "Shift+" + TAG_KEYS[tag])
    assert (tag in review.tags_now(row)) == bool(review.calls[row, TAG_INDEX[tag]])
    assert set(review.tags_now(row)) ^ set(before) == {tag}


def test_a_decision_the_session_file_refuses_is_reported_and_not_shown_as_made(
    qtbot, seeded_window: MainWindow, errors
) -> None:
    window = seeded_window
    review, page = window.review, window.page
    row = next(i for i in range(N_CHIPS) if "road" not in review.tags_now(i))
    page.select_row(row)
    before = review.current.copy()
    # Another program holds the session file's write lock; waiting for it is cut short.
    review.session.db.execute("PRAGMA busy_timeout = 200")
    holder = sqlite3.connect(review.session.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for keys in (TAG_KEYS["road"], "Shift+Return", "Space"):
            press(window, keys)
            title, message, _hint = errors[-1]
            assert title == "Decision not saved"
            assert str(review.session.path) in message and "\n" not in message
            np.testing.assert_array_equal(review.current, before)
            assert now_cell(window, "road") == "·"
            assert page.current_row() == row  # Space did not move on
        assert len(errors) == 3
        assert window.statusBar().currentMessage().startswith("Not saved")
        assert not window.actions_by_id["undo"].isEnabled()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    press(window, TAG_KEYS["road"])  # the lock gone, the same key is kept
    assert "road" in review.tags_now(row) and len(errors) == 3
    assert review.session.decisions(review.names[row]) == {"road": True}


def test_a_key_applies_to_every_selected_chip(
    qtbot, seeded_window: MainWindow, planted: Planted
) -> None:
    window = seeded_window
    review, page = window.review, window.page
    # A land tag the first chip lacks and some other chip has: the current chip decides "on".
    tag = next(
        t
        for t in ("water", "road", "habitation", "cultivation", "bare_ground")
        if t not in planted.truth[review.names[0]]
        and any(t in planted.truth[n] for n in review.names[1:])
    )
    has = [i for i in range(1, N_CHIPS) if tag in review.tags_now(i)][:1]
    lacks = [i for i in range(1, N_CHIPS) if tag not in review.tags_now(i)][:2]
    rows = [0, *has, *lacks]
    page.select_row(0)
    selection = page.grid.selectionModel()
    for i in rows[1:]:
        selection.select(page.model.index_of(i), QItemSelectionModel.SelectionFlag.Select)
    assert sorted(page.selected_rows()) == sorted(rows)
    assert f"keys act on all {len(rows)} selected chips" in page.detail.title.text()
    before = review.current.copy()

    press(window, TAG_KEYS[tag])
    assert window.statusBar().currentMessage() == f"Set: {tag} on ({len(rows) - len(has)} chips)"
    col = TAG_INDEX[tag]
    assert all(review.current[i, col] == 1.0 for i in rows)
    others = [i for i in range(N_CHIPS) if i not in rows]
    np.testing.assert_array_equal(review.current[others], before[others])
    np.testing.assert_array_equal(np.delete(review.current, col, axis=1), np.delete(before, col, 1))
    assert review.counts()["changed"] == len(rows) - len(has)
    press(window, "Ctrl+Z")  # one action for the whole selection
    np.testing.assert_array_equal(review.current, before)


def test_next_suspect_shows_a_chip_the_model_call_filter_hides(
    qtbot, open_and_wait, new_window, planted: Planted, tmp_path: Path, chips_dir, link_chips
) -> None:
    folder, labels_path = make_folder(tmp_path, planted.names, chips_dir, link_chips, planted.truth)
    seed_crowd_like_calls(folder, planted, LAND_TAGS)  # so a "Model calls" filter hides chips
    window = new_window()
    assert open_and_wait(window, folder, labels_path)
    wait_settled(qtbot, window)
    review, page = window.review, window.page
    # A chip to stand on, the suspect N goes to from there, and a tag the model calls on the
    # first but not on the second: filtering on it keeps where we stand and hides the suspect.
    calls = review.calls
    start, suspect, tag = next(
        (row, after, t)
        for row in range(len(review.names))
        if (after := review.next_suspect(row)) is not None
        for t in LAND_TAGS
        if calls[row, TAG_INDEX[t]] and not calls[after, TAG_INDEX[t]]
    )
    page.select_row(start)
    page.filters.model_actions[tag].setChecked(True)
    assert page.current_row() == start
    assert not page.model.index_of(suspect).isValid()  # hidden
    press(window, "N")
    assert page.current_row() == suspect
    assert page.model.index_of(suspect).isValid()


# --- a broken chip ------------------------------------------------------------------------------
def test_a_zero_byte_chip_shows_as_broken_and_the_rest_are_predicted(
    qtbot,
    open_and_wait,
    new_window,
    planted: Planted,
    tmp_path: Path,
    chips_dir,
    link_chips,
    errors,
) -> None:
    names = planted.names[:12]
    folder, labels_path = make_folder(
        tmp_path, names, chips_dir, link_chips, {n: planted.truth[n] for n in names}
    )
    (folder / "zz_empty.jpg").write_bytes(b"")
    window = new_window()
    assert open_and_wait(window, folder, labels_path)
    review, page = window.review, window.page
    assert len(review.names) == len(names) + 1
    wait_predicted(qtbot, window, len(names))
    row = review.index["zz_empty"]
    assert "zz_empty" in review.broken  # reported by the prediction thread
    assert review.predicted.sum() == len(names) and not review.predicted[row]
    qtbot.waitUntil(lambda: page.model.data(page.model.index_of(row), BADGE_ROLE)["broken"])
    assert not any(
        page.model.data(page.model.index_of(i), BADGE_ROLE)["broken"]
        for i in range(len(review.names))
        if i != row
    )
    qtbot.waitUntil(lambda: "1 unreadable" in window.status.counts.text())
    page.select_row(row)
    assert page.detail.image.label.text().startswith("Cannot show this chip")
    assert "cannot be read" in page.detail.title.text()
    model_column = [page.detail.table.item(r, 4).text() for r in range(len(TAGS))]
    assert model_column == ["✗"] * len(TAGS)  # not "…", which means "not predicted yet"
    assert errors == []


# --- coming back --------------------------------------------------------------------------------
def test_reopening_restores_decisions_position_and_lists_the_folder(
    qtbot, open_and_wait, new_window, planted: Planted, tmp_path: Path, chips_dir, link_chips
) -> None:
    folder, labels_path = make_folder(tmp_path, planted.names, chips_dir, link_chips, planted.truth)
    seed_predictions(folder, planted)
    first = new_window()
    assert open_and_wait(first, folder, labels_path)
    review = first.review
    a, b, c = 5, 7, 11
    first.page.select_row(a)
    tag = "water" if "water" not in review.tags_now(a) else "road"
    press(first, TAG_KEYS[tag])
    first.page.select_row(b)
    press(first, "Space")
    first.page.select_row(c)
    decided = review.tags_now(a)
    first.page.requery_soon()  # as when a prediction has just finished
    first.close()
    # What was pending must not reach the closed session: the page let go of it.
    assert first.page.review is None and not first.page.requery_pending()

    second = new_window()
    assert second.stack.currentWidget() is second.start_page
    recent = second.start_page.recent
    assert recent.count() == 1
    assert recent.item(0).data(Qt.ItemDataRole.UserRole) == str(folder.resolve())
    recent.setFocus()
    QTest.keyClick(recent, Qt.Key.Key_Return)  # the labels are not beside the folder: the
    qtbot.waitUntil(lambda: second.review is not None)  # session remembers them
    review = second.review
    assert second.stack.currentWidget() is second.page
    # The reviewer is told that nothing was lost.
    assert (
        second.statusBar().currentMessage() == "Resumed: 1 reviewed, 1 changed (1 decision kept)."
    )
    assert review.labels_path == labels_path.resolve()
    assert review.tags_now(a) == decided and tag in decided
    assert review.is_reviewed(b) and not review.is_reviewed(a)
    assert second.page.current_row() == c
    assert second.page.detail.title.text().startswith(planted.names[c])
    assert review.counts()["predicted"] == N_CHIPS and not second.predictions.running


# --- bad labels, no labels -----------------------------------------------------------------------
def test_labels_with_an_unknown_tag_give_one_line_and_leave_the_app_usable(
    qtbot, open_and_wait, seeded_window: MainWindow, planted: Planted, tmp_path: Path, choices
) -> None:
    window = seeded_window
    review = window.review
    bad = tmp_path / "bad" / "bad_labels.csv"
    bad.parent.mkdir()
    first = planted.names[0]
    bad.write_text(f"image_name,tags\n{first},clear primary\n{planted.names[1]},clear volcano\n")
    assert not open_and_wait(window, review.folder, bad)  # answered Cancel
    assert len(choices.asked) == 1
    title, message, options = choices.asked[0]
    assert "\n" not in message and "bad_labels.csv" in message and "volcano" in message
    assert options == ["Open without labels", "Choose another labels CSV…"]
    # The open review goes on as before.
    assert window.review is review and window.stack.currentWidget() is window.page
    assert review.labels_path is not None and review.labels_path.name == "labels.csv"
    row = window.page.current_row()
    before = review.tags_now(row)
    press(window, TAG_KEYS["road"])
    assert set(review.tags_now(row)) ^ set(before) == {"road"}


def test_a_bad_labels_file_found_beside_the_folder_is_no_dead_end(
    qtbot,
    open_and_wait,
    new_window,
    planted: Planted,
    tmp_path: Path,
    chips_dir,
    link_chips,
    choices,
    monkeypatch,
) -> None:
    """A labels CSV found by itself beside the folder has an unknown tag: the folder still
    opens, without labels or with another CSV the user picks."""
    folder, _ = make_folder(tmp_path, planted.names, chips_dir, link_chips)
    (tmp_path / "found.csv").write_text(
        f"image_name,tags\n{planted.names[0]},clear foo_tag\n", encoding="utf-8"
    )
    good = tmp_path / "elsewhere" / "good.csv"
    good.parent.mkdir()
    write_labels(good, planted.truth)
    window = new_window()

    choices.answer = "Open without labels"
    outcome = []
    window.review_opened.connect(outcome.append)
    assert not open_and_wait(window, folder)
    assert "found.csv" in choices.asked[-1][1] and "foo_tag" in choices.asked[-1][1]
    qtbot.waitUntil(lambda: len(outcome) == 1, timeout=60_000)
    review = window.review
    assert review.folder == folder and review.labels_path is None
    assert window.stack.currentWidget() is window.page

    # Ctrl+L now reaches the file dialog; and a fresh open of the folder, refused again, can
    # go on with another CSV.
    monkeypatch.setattr(
        main_window.QFileDialog,
        "getOpenFileName",
        lambda *args, **kwargs: (str(good), "CSV files (*.csv)"),
    )
    press(window, "Ctrl+L")
    qtbot.waitUntil(lambda: len(outcome) == 2, timeout=60_000)
    assert window.review.labels_path == good
    assert window.review.counts()["labelled"] == len(planted.names)


def test_a_folder_without_labels_opens_for_triage_and_filters_by_model_call(
    qtbot,
    open_and_wait,
    new_window,
    planted: Planted,
    tmp_path: Path,
    chips_dir,
    link_chips,
    errors,
    monkeypatch,
) -> None:
    folder, _ = make_folder(tmp_path / "field", planted.names, chips_dir, link_chips)

    def carrying(tag: str) -> set[str]:
        return {n for n in planted.names if tag in planted.truth[n]}

    first = "agriculture"
    second = max(
        (t for t in LAND_TAGS if t != first), key=lambda t: len(carrying(t) - carrying(first))
    )
    assert 0 < len(carrying(first)) < N_CHIPS and carrying(second) - carrying(first)
    seed_crowd_like_calls(folder, planted, (first, second))
    window = new_window()
    assert open_and_wait(window, folder)
    review, page = window.review, window.page
    assert review.labels_path is None and review.counts()["labelled"] == 0
    assert page.notice.isVisible() and "No labels" in page.notice.text.text()
    assert review.counts()["predicted"] == N_CHIPS and not window.predictions.running
    assert len(page.model.order) == N_CHIPS

    def shown() -> set[str]:
        return {review.names[int(i)] for i in page.model.order}

    actions = page.filters.model_actions
    actions[first].setChecked(True)
    assert page.filters.model_says.text() == f"Model calls any of: {first}"
    assert shown() == carrying(first)
    # The status bar says how many of the folder's chips the grid shows.
    assert f"{N_CHIPS} chips · {len(carrying(first))} shown" in window.status.counts.text()
    # The menu stays open while ticks are set, so several tags go in one visit.
    menu = page.filters.model_says.menu()
    menu.popup(page.filters.model_says.mapToGlobal(page.filters.model_says.rect().bottomLeft()))
    qtbot.waitUntil(menu.isVisible)
    QTest.mouseClick(
        menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(actions[second]).center()
    )
    assert actions[second].isChecked() and menu.isVisible()
    menu.hide()
    assert shown() == carrying(first) | carrying(second)  # either call

    # File > export of the chips shown writes those, in folder order, and says how many.
    out = tmp_path / "shown.csv"
    monkeypatch.setattr(
        main_window.QFileDialog,
        "getSaveFileName",
        lambda *args, **kwargs: (str(out), "CSV files (*.csv)"),
    )
    window.actions_by_id["export_predictions_shown"].trigger()
    written = read_labels(out)
    assert list(written) == [n for n in planted.names if n in shown()]
    assert window.statusBar().currentMessage() == f"Wrote {len(written)} chips to {out}"

    actions[first].setChecked(False)
    actions[second].setChecked(False)
    assert shown() == set(planted.names)
    assert page.filters.model_says.text() == "Model calls: (no filter)"
    assert f"{N_CHIPS} chips · {N_CHIPS} labelled" not in window.status.counts.text()
    assert " shown" not in window.status.counts.text()
    assert errors == []

    # Nothing to write is said, and nothing is written: no labels and no tag set here.
    empty = tmp_path / "empty.csv"
    monkeypatch.setattr(
        main_window.QFileDialog,
        "getSaveFileName",
        lambda *args, **kwargs: (str(empty), "CSV files (*.csv)"),
    )
    press(window, "Ctrl+E")
    assert not empty.exists()
    assert len(errors) == 1 and "nothing to write" in errors[0][1]


# --- pause and cancel ----------------------------------------------------------------------------
def test_pause_resume_and_cancel_keep_what_was_predicted(
    qtbot,
    open_and_wait,
    new_window,
    chips_dir,
    labelled_names: list[str],
    tmp_path: Path,
    link_chips,
    errors,
    monkeypatch,
) -> None:
    names = labelled_names[:800]
    folder, _ = make_folder(tmp_path, names, chips_dir, link_chips)
    window = new_window()
    # The end of a prediction touches widgets: it must be announced on the main thread,
    # whichever way the prediction ended.
    ended_on = []
    window.predictions.ended.connect(
        lambda message: ended_on.append(
            (message, threading.current_thread() is threading.main_thread())
        )
    )
    done_reported = []
    window.predictions.progress.connect(lambda done, total, rate: done_reported.append(done))
    assert open_and_wait(window, folder)
    status = window.status
    assert window.predictions.running and status.pause_button.isVisible()

    def predicted() -> int:
        return int(window.review.predicted.sum())

    qtbot.waitUntil(lambda: predicted() > 0, timeout=60_000)
    status.pause_button.click()
    assert status.pause_button.isChecked() and status.pause_button.text() == "Resume"
    # A batch already in the network may still land; then the worker holds and nothing comes.
    job = window.predictions.job
    qtbot.waitUntil(lambda: job.holding, timeout=60_000)
    qtbot.waitUntil(lambda: predicted() == done_reported[-1])  # that last batch delivered
    held = predicted()
    assert job.holding and window.predictions.running  # still held after the events ran
    assert predicted() == held < len(names)

    status.pause_button.click()
    assert status.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: predicted() > held, timeout=30_000)
    status.cancel_button.click()
    assert not window.predictions.running
    kept = predicted()
    assert held < kept < len(names), "finished before it could be cancelled"
    # Nothing of the cancelled run lands afterwards, even what was already on its way.
    qtbot.waitUntil(lambda: job.cancelled.is_set() and not job.holding)
    assert predicted() == kept
    assert ended_on == [("Prediction cancelled.", True)]
    assert "cancelled" in window.statusBar().currentMessage()
    assert not status.cancel_button.isVisible()
    # What was predicted stays, on screen and in the session.
    stored = window.review.session.load_predictions(window.review.card.version)
    assert len(stored) == kept
    assert set(stored) == {n for n, p in zip(window.review.names, window.review.predicted) if p}

    # The app goes on: keys work, and predicting again does only the rest.
    row = window.page.current_row()
    press(window, TAG_KEYS["road"])
    assert "road" in window.review.tags_now(row)
    totals = []
    window.predictions.started.connect(totals.append)
    press(window, "Ctrl+P")
    qtbot.waitUntil(lambda: len(totals) > 0, timeout=30_000)
    assert totals == [len(names) - kept]
    window.predictions.cancel()
    qtbot.waitUntil(lambda: not window.predictions.running, timeout=30_000)
    assert errors == []


def test_escape_in_the_name_filter_gives_the_keys_back_to_the_grid(
    qtbot, seeded_window: MainWindow
) -> None:
    window = seeded_window
    review, page = window.review, window.page
    page.filters.search.setFocus()
    QTest.keyClicks(page.filters.search, "train")
    assert page.filters.search.text() == "train"  # letters typed there are a filter, not tags
    assert not review.session.can_undo()
    press(window, "Escape")
    assert QApplication.focusWidget() is page.grid
    row = page.current_row()
    before = "water" in review.tags_now(row)
    press(window, TAG_KEYS["water"])
    assert ("water" in review.tags_now(row)) is not before


def test_a_first_visit_lands_on_the_top_suspect_once_predictions_are_in(
    qtbot, seeded_window: MainWindow
) -> None:
    window = seeded_window
    review, page = window.review, window.page
    scores = review.suspicion()
    top = int(np.argmax(scores))
    qtbot.waitUntil(lambda: page.current_row() == top, timeout=5_000)  # re-sorted, then moved
    assert int(page.model.order[0]) == top and scores[top] > 0
    # Once the reviewer has moved on, a later re-sort keeps their chip.
    elsewhere = int(page.model.order[3])
    page.select_row(elsewhere)
    page.requery_soon()
    qtbot.waitUntil(lambda: not page.requery_pending())
    assert page.current_row() == elsewhere


def test_a_reviewer_back_on_the_first_chip_stays_there_when_the_run_ends(
    qtbot, open_and_wait, new_window, planted: Planted, tmp_path: Path, chips_dir, link_chips
) -> None:
    """A first visit starts on the chip that sorts first before predictions and moves to the top
    suspect when the run ends, unless the reviewer went elsewhere: also where they went
    elsewhere and came back to that first chip (it is theirs now)."""
    folder, labels_path = make_folder(tmp_path, planted.names, chips_dir, link_chips, planted.truth)
    window = new_window()
    assert open_and_wait(window, folder, labels_path)
    page = window.page
    assert window.predictions.running  # the run's end is still to come
    first = page.current_row()
    page.select_row(int(page.model.order[1]))  # elsewhere, and back, before the run ends
    page.select_row(first)
    wait_predicted(qtbot, window, N_CHIPS)
    wait_settled(qtbot, window)
    assert int(page.model.order[0]) != first, "the top suspect is the first chip: no test"
    assert page.current_row() == first


def test_grid_marks_say_how_suspect_each_chip_is(
    qtbot, open_and_wait, new_window, planted: Planted, tmp_path: Path, chips_dir, link_chips
) -> None:
    """The red mark is graded by the review's suspicion levels (none, low, medium, high): with a
    model sure of the true tags, the chip with the planted mistake is marked (medium or high)
    and the rest not at all; the status bar counts as suspects exactly the chips marked; the
    tooltip says the odds."""
    from model.audit import LEVEL_MEANINGS

    folder, labels_path = make_folder(
        tmp_path, planted.names, chips_dir, link_chips, planted.labels
    )
    sure = np.where(_matrix(planted.names, planted.truth) > 0.5, 0.999, 0.001).astype(np.float32)
    session = ReviewSession.for_folder(folder)
    session.store_predictions(planted.version, planted.names, sure)
    session.close()
    window = new_window()
    assert open_and_wait(window, folder, labels_path)
    wait_settled(qtbot, window)
    review, page = window.review, window.page
    levels = review.suspicion_levels()
    row = review.index[planted.chip]
    assert levels[row] >= 2 and int(levels.sum()) == int(levels[row])  # that chip alone
    shown = [
        page.model.data(page.model.index_of(i), BADGE_ROLE)["suspicion"]
        for i in range(len(review.names))
    ]
    assert shown == [int(v) for v in levels]
    qtbot.waitUntil(lambda: "· 1 suspects" in window.status.counts.text())
    tooltip = page.model.data(page.model.index_of(row), Qt.ItemDataRole.ToolTipRole)
    assert "suspect: " + LEVEL_MEANINGS[int(levels[row])] in tooltip
