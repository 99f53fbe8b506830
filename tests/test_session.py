"""The review store: decisions in SQLite, undo and redo by action, cached predictions, two
connections on one file, and a process killed mid-review losing nothing."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from model.labels import read_labels
from model.paths import user_data_dir
from model.review import Review
from model.session import REVIEWED, Change, ReviewSession, session_path_for
from model.tags import TAGS

BASE = {
    "a": ("clear", "primary"),
    "b": ("haze",),
    "c": (),
}


@pytest.fixture
def session(tmp_path: Path):
    s = ReviewSession(tmp_path / "review.sqlite")
    yield s
    s.close()


def _state(s: ReviewSession) -> dict[str, list[str]]:
    return {chip: s.tags_for(chip, base) for chip, base in BASE.items()}


# --- apply, undo, redo ---------------------------------------------------------------------
def test_apply_undo_redo_over_a_sequence_of_actions(session: ReviewSession) -> None:
    states = [_state(session)]
    actions = [
        [("a", "road", True)],
        [("a", "primary", False), ("b", "water", True), ("c", "clear", True)],
        [("a", "road", False)],
        [("b", "haze", False), ("b", "cloudy", True)],
    ]
    made = []
    for action in actions:
        changes = session.apply(action, BASE)
        assert [(c.chip, c.tag, c.new) for c in changes] == action
        assert all(c.old != c.new for c in changes)
        made.append(changes)
        states.append(_state(session))
    assert states[1]["a"] == ["clear", "primary", "road"]
    assert states[2] == {"a": ["clear", "road"], "b": ["haze", "water"], "c": ["clear"]}
    assert states[4]["b"] == ["cloudy", "water"]
    assert session.can_undo() and not session.can_redo()

    # Undo walks back one whole action at a time, returning its changes reversed.
    for k in range(len(actions), 0, -1):
        undone = session.undo()
        expected = [Change(c.chip, c.tag, c.new, c.old) for c in reversed(made[k - 1])]
        assert undone == expected
        assert _state(session) == states[k - 1]
        assert session.can_redo()
    assert not session.can_undo()
    assert session.undo() == []
    assert _state(session) == states[0]

    # Redo re-applies them in their original order.
    for k in range(1, len(actions) + 1):
        assert session.redo() == made[k - 1]
        assert _state(session) == states[k]
    assert not session.can_redo()
    assert session.redo() == []


def test_new_action_after_undo_drops_the_redo_history(session: ReviewSession) -> None:
    session.apply([("a", "road", True)], BASE)
    session.apply([("a", "water", True)], BASE)
    session.apply([("b", "road", True)], BASE)
    session.undo()
    session.undo()
    assert session.can_redo()
    session.apply([("c", "haze", True)], BASE)
    assert not session.can_redo()
    assert session.redo() == []
    assert _state(session) == {"a": ["clear", "primary", "road"], "b": ["haze"], "c": ["haze"]}
    states = {(chip, tag): state for chip, tag, _, _, _, state in session.change_log()}
    assert states == {
        ("a", "road"): "done",
        ("a", "water"): "dropped",
        ("b", "road"): "dropped",
        ("c", "haze"): "done",
    }
    # Undo now skips the dropped actions: it reverts the new one, then the first.
    assert session.undo() == [Change("c", "haze", True, False)]
    assert session.undo() == [Change("a", "road", True, False)]
    assert not session.can_undo()
    # Redo brings back those two, in order, and never the dropped ones.
    assert session.redo() == [Change("a", "road", False, True)]
    assert session.redo() == [Change("c", "haze", False, True)]
    assert session.redo() == []
    assert _state(session) == {"a": ["clear", "primary", "road"], "b": ["haze"], "c": ["haze"]}


def test_no_op_changes_are_not_recorded(session: ReviewSession) -> None:
    assert session.apply([("a", "clear", True), ("c", "road", False)], BASE) == []
    assert session.change_log() == []
    assert not session.can_undo()

    made = session.apply([("a", "clear", True), ("a", "road", True), ("b", "haze", True)], BASE)
    assert made == [Change("a", "road", False, True)]
    assert session.apply([("a", "road", True)], BASE) == []
    assert len(session.change_log()) == 1

    # A no-op after an undo keeps the redo history.
    session.undo()
    assert session.apply([("a", "road", False)], BASE) == []
    assert session.can_redo()
    assert session.redo() == made


def test_reviewed_pseudo_tag(session: ReviewSession) -> None:
    assert REVIEWED not in TAGS
    session.apply([("a", REVIEWED, True)], BASE)
    assert session.is_reviewed("a") and not session.is_reviewed("b")
    assert session.reviewed_chips() == ["a"]
    assert session.decisions("a") == {}
    assert session.decided_chips() == []  # reviewed is not a tag decision
    assert session.tags_for("a", BASE["a"]) == ["clear", "primary"]
    assert not session.is_changed("a", BASE["a"])
    assert session.apply([("a", REVIEWED, True)], BASE) == []  # already reviewed: no-op

    session.apply([("a", "road", True), ("a", REVIEWED, False)], BASE)
    assert not session.is_reviewed("a")
    assert session.decided_chips() == ["a"]
    session.undo()
    assert session.is_reviewed("a") and session.decisions("a") == {}
    session.undo()
    assert not session.is_reviewed("a") and session.reviewed_chips() == []


def test_decisions_and_is_changed(session: ReviewSession) -> None:
    session.apply([("a", "primary", False), ("c", "water", True)], BASE)
    assert session.decisions("a") == {"primary": False}
    assert session.decisions("c") == {"water": True}
    assert session.decisions("b") == {}
    assert sorted(session.decided_chips()) == ["a", "c"]
    assert session.is_changed("a", BASE["a"]) and session.is_changed("c", BASE["c"])
    # Putting the crowd's value back is a decision, but no longer a change.
    session.apply([("a", "primary", True)], BASE)
    assert session.decisions("a") == {"primary": True}
    assert not session.is_changed("a", BASE["a"])
    # tags_for keeps TAGS order whatever the base's order.
    assert session.tags_for("c", ("primary", "clear")) == ["clear", "primary", "water"]


def test_change_log_rows(session: ReviewSession) -> None:
    before = time.time()
    session.apply([("a", "road", True), ("b", "haze", False)], BASE)
    session.apply([("c", REVIEWED, True)], BASE)
    after = time.time()
    session.undo()
    log = session.change_log()
    assert [row[:4] for row in log] == [
        ("a", "road", 0, 1),
        ("b", "haze", 1, 0),
        ("c", REVIEWED, 0, 1),
    ]
    assert [row[5] for row in log] == ["done", "done", "undone"]
    for row in log:
        assert len(row) == 6
        assert before - 1 <= row[4] <= after + 1
    assert log[0][4] == log[1][4]  # one action, one time


# --- predictions ---------------------------------------------------------------------------
def test_predictions_are_kept_per_model_version(session: ReviewSession) -> None:
    rng = np.random.default_rng(0)
    names = ["a", "b", "c"]
    v1 = rng.uniform(0, 1, (3, len(TAGS))).astype(np.float32)
    v2 = rng.uniform(0, 1, (2, len(TAGS))).astype(np.float32)
    session.store_predictions("v1", names, v1)
    session.store_predictions("v2", names[:2], v2)
    loaded1, loaded2 = session.load_predictions("v1"), session.load_predictions("v2")
    assert sorted(loaded1) == names and sorted(loaded2) == ["a", "b"]
    for i, n in enumerate(names):
        np.testing.assert_array_equal(loaded1[n], v1[i])
    for i, n in enumerate(names[:2]):
        np.testing.assert_array_equal(loaded2[n], v2[i])
    assert session.load_predictions("v3") == {}
    # Storing again replaces that chip's row for that version only.
    session.store_predictions("v1", ["b"], v2[1:2])
    np.testing.assert_array_equal(session.load_predictions("v1")["b"], v2[1])
    np.testing.assert_array_equal(session.load_predictions("v2")["b"], v2[1])
    np.testing.assert_array_equal(session.load_predictions("v1")["a"], v1[0])
    # float64 input is stored as float32.
    session.store_predictions("v4", ["a"], np.full((1, len(TAGS)), 0.25))
    assert session.load_predictions("v4")["a"].dtype == np.float32
    # Predictions are not decisions.
    assert session.change_log() == [] and not session.can_undo()


# --- reopening -----------------------------------------------------------------------------
def test_reopening_restores_every_decision(tmp_path: Path) -> None:
    path = tmp_path / "review.sqlite"
    first = ReviewSession(path)
    first.apply([("a", "road", True), ("a", "clear", False)], BASE)
    first.apply([("b", REVIEWED, True), ("c", "water", True)], BASE)
    first.apply([("c", "water", False)], BASE)
    first.undo()  # the last action is undone, and stays undone (redoable) after reopening
    first.set_meta("position", "b")
    first.store_predictions("v1", ["a"], np.full((1, len(TAGS)), 0.5, np.float32))
    expected = {chip: (first.decisions(chip), first.is_reviewed(chip)) for chip in BASE}
    log = first.change_log()
    first.close()

    again = ReviewSession(path)
    try:
        assert {chip: (again.decisions(chip), again.is_reviewed(chip)) for chip in BASE} == (
            expected
        )
        assert again.tags_for("a", BASE["a"]) == ["primary", "road"]
        assert again.tags_for("c", BASE["c"]) == ["water"]
        assert again.change_log() == log
        assert again.get_meta("position") == "b"
        assert again.get_meta("missing") is None
        assert list(again.load_predictions("v1")) == ["a"]
        assert again.can_redo()
        assert again.redo() == [Change("c", "water", True, False)]
        assert again.tags_for("c", BASE["c"]) == []
    finally:
        again.close()


def test_session_path_for(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (tmp_path / "link").symlink_to(one)
    path = session_path_for(one)
    assert path == session_path_for(one)
    assert path == session_path_for(str(one) + "/")
    assert path == session_path_for(tmp_path / "two" / ".." / "one")
    assert path == session_path_for(tmp_path / "link")  # keyed by the real path
    assert path != session_path_for(two)
    assert path.parent == Path(os.environ["CHIP_AUDIT_DATA"]) / "sessions"
    assert path.parent == user_data_dir() / "sessions"
    assert path.name.startswith("one-") and path.suffix == ".sqlite"
    # Same folder name elsewhere: a different session.
    other = tmp_path / "elsewhere" / "one"
    other.mkdir(parents=True)
    assert session_path_for(other) != path


def test_for_folder_records_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "chips"
    folder.mkdir()
    s = ReviewSession.for_folder(folder)
    try:
        assert s.path == session_path_for(folder)
        assert s.path.is_file()
        assert s.get_meta("folder") == str(folder.resolve())
    finally:
        s.close()


def test_every_commit_reaches_the_disk(tmp_path: Path) -> None:
    """WAL with synchronous=FULL: a commit is on disk before the call returns, so a power cut
    loses no decision (NORMAL could lose the last ones; OFF, more)."""
    s = ReviewSession.for_folder(tmp_path / "chips")
    try:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # 0 OFF, 1 NORMAL, 2 FULL
    finally:
        s.close()


def test_unusable_session_file_is_a_one_line_error(tmp_path: Path) -> None:
    from model.errors import ChipAuditError

    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(ChipAuditError) as info:
        ReviewSession(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_a_write_that_cannot_be_kept_is_an_error_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import model.session as session_module
    from model.errors import SessionError

    monkeypatch.setattr(session_module, "LOCK_TIMEOUT_S", 0.2)
    path = tmp_path / "review.sqlite"
    s = ReviewSession(path)
    s.apply([("a", "road", True)], BASE)
    holder = sqlite3.connect(path, isolation_level=None)  # another program holding the lock
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for write in (
            lambda: s.apply([("a", "water", True)], BASE),
            s.undo,
            lambda: s.store_predictions("v1", ["a"], np.zeros((1, len(TAGS)))),
        ):
            with pytest.raises(SessionError) as info:
                write()
            message = str(info.value)
            assert str(path) in message and "locked" in message and "\n" not in message
        assert s.decisions("a") == {"road": True}  # memory says only what the file has
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # The lock gone, the same session writes again, and the file holds exactly what was kept.
    assert s.apply([("a", "water", True)], BASE) == [Change("a", "water", False, True)]
    s.close()
    again = ReviewSession(path)
    assert again.decisions("a") == {"road": True, "water": True}
    assert again.undo() == [Change("a", "water", True, False)]
    again.close()


# --- two connections on one file -----------------------------------------------------------
def test_two_sessions_on_one_file_interleave_consistently(tmp_path: Path) -> None:
    path = tmp_path / "review.sqlite"
    one, two = ReviewSession(path), ReviewSession(path)
    try:
        assert not one.changed_elsewhere() and not two.changed_elsewhere()
        one.apply([("a", "road", True)], BASE)
        assert two.changed_elsewhere()
        assert not one.changed_elsewhere()  # its own write is not "elsewhere"
        two.reload()
        assert not two.changed_elsewhere()
        assert two.decisions("a") == {"road": True}

        names = [f"chip_{k}" for k in range(30)]
        for k, name in enumerate(names):
            writer, other = (one, two) if k % 2 == 0 else (two, one)
            writer.apply([(name, "water", True), (name, "clear", True)], {})
            writer.store_predictions("v1", [name], np.full((1, len(TAGS)), k, np.float32))
            assert other.changed_elsewhere()
        one.reload()
        two.reload()
        for s in (one, two):
            assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            for name in names:
                assert s.tags_for(name, ()) == ["clear", "water"]
            assert len(s.change_log()) == 1 + 2 * len(names)
            loaded = s.load_predictions("v1")
            assert sorted(loaded) == sorted(names)
            assert all(loaded[n][0] == k for k, n in enumerate(names))
        # Every action has its own number: no two writes were merged or lost.
        actions = one.db.execute("SELECT action, COUNT(*) FROM decisions GROUP BY action")
        assert sorted(count for _, count in actions) == [1] + [2] * len(names)
    finally:
        one.close()
        two.close()
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert check.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 61
    finally:
        check.close()


def test_a_stale_session_does_not_lose_the_other_windows_write(tmp_path: Path) -> None:
    """Window two has not looked since window one set a tag; its own write must still be
    judged against what the file holds, not against its stale memory."""
    path = tmp_path / "review.sqlite"
    one, two = ReviewSession(path), ReviewSession(path)
    try:
        one.apply([("a", "road", True)], BASE)
        assert two.changed_elsewhere()
        made = two.apply([("a", "road", False)], BASE)  # no reload in between
        assert made == [Change("a", "road", True, False)]
        assert two.tags_for("a", BASE["a"]) == ["clear", "primary"]
        # Now window one is stale: it still thinks road is on, and turns it on again.
        made = one.apply([("a", "road", True)], BASE)
        assert made == [Change("a", "road", False, True)]
        two.reload()
        assert two.tags_for("a", BASE["a"]) == ["clear", "primary", "road"]
        assert [row[:4] for row in one.change_log()] == [
            ("a", "road", 0, 1),
            ("a", "road", 1, 0),
            ("a", "road", 0, 1),
        ]
        # Undo in either window follows the file: the last write is reverted first.
        assert two.undo() == [Change("a", "road", True, False)]
        assert two.undo() == [Change("a", "road", False, True)]
    finally:
        one.close()
        two.close()


def test_undo_in_one_window_reverts_the_latest_action_of_either(tmp_path: Path) -> None:
    path = tmp_path / "review.sqlite"
    one, two = ReviewSession(path), ReviewSession(path)
    try:
        one.apply([("a", "road", True)], BASE)
        two.apply([("b", "water", True)], BASE)
        assert one.undo() == [Change("b", "water", True, False)]
        assert one.decisions("a") == {"road": True} and one.decisions("b") == {}
        assert two.changed_elsewhere()
        two.reload()
        assert two.can_redo()
        assert two.redo() == [Change("b", "water", False, True)]
    finally:
        one.close()
        two.close()


# --- a process killed mid-review -----------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from model.review import Review

    review = Review(sys.argv[2], sys.argv[3])
    names = review.names
    review.set_tag([0], "water", True)
    review.toggle([1, 2], "bare_ground")
    review.set_tag([3], "partly_cloudy", True)
    review.set_tag([4], "primary", False)
    review.mark_reviewed([0, 3, 5])
    review.set_tag([6], "road", True)
    review.undo()
    review.session.set_meta("position", names[5])
    print("READY", flush=True)
    time.sleep(600)
    """
)


def _wait_for_line(proc: subprocess.Popen, wanted: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip("\n"))
            if seen[-1] == wanted:
                return seen
        elif proc.poll() is not None:
            break
    proc.kill()
    _, err = proc.communicate(timeout=10)
    pytest.fail(f"child never said {wanted}: stdout {seen}, stderr {err[-2000:]}")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_decisions_survive_kill_9(
    tmp_path: Path,
    repo_root: Path,
    chips_dir: Path,
    chip_labels: dict[str, tuple[str, ...]],
    labelled_names: list[str],
    link_chips,
) -> None:
    names = labelled_names[:8]
    folder = tmp_path / "chips"
    link_chips(names, chips_dir, folder)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "image_name,tags\n" + "".join(f"{n},{' '.join(chip_labels[n])}\n" for n in names)
    )
    env = dict(os.environ)  # CHIP_AUDIT_DATA, set by conftest: the child's sessions are ours
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(repo_root), str(folder), str(labels)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait_for_line(proc, "READY", timeout=120)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    crowd = {n: set(chip_labels[n]) for n in names}
    weather = {"clear", "partly_cloudy", "haze", "cloudy"}
    expected = {n: set(t) for n, t in crowd.items()}
    expected[names[0]].add("water")
    bare = "bare_ground" not in crowd[names[1]]  # the first chip decides the toggle
    for n in names[1:3]:
        (expected[n].add if bare else expected[n].discard)("bare_ground")
    expected[names[3]] = (expected[names[3]] - weather) | {"partly_cloudy"}
    expected[names[4]].discard("primary")
    # names[6]'s road was undone

    review = Review(folder)  # no labels given: the session remembers them
    try:
        assert review.labels_path == labels.resolve()
        assert review.names == names
        for i, n in enumerate(names):
            assert set(review.tags_now(i)) == expected[n], n
        assert [review.is_reviewed(i) for i in range(len(names))] == [
            i in (0, 3, 5) for i in range(len(names))
        ]
        assert review.session.get_meta("position") == names[5]
        assert review.session.can_redo()  # the undone road, still redoable
        assert review.session.change_log()[-1][:4] == (names[6], "road", 0, 1)

        out = tmp_path / "corrected.csv"
        review.export_labels(out)
        exported = read_labels(out)
        assert list(exported) == names
        for n in names:
            assert set(exported[n]) == expected[n], n
        changed = [n for n in names if expected[n] != crowd[n]]
        assert len(changed) >= 4
        raw_rows = dict(line.split(",", 1) for line in out.read_text().splitlines()[1:])
        for n in changed:
            assert raw_rows[n].split() == sorted(expected[n])
    finally:
        review.close()


def test_undo_says_whose_action_it_reverts(tmp_path: Path) -> None:
    """Two windows on one session: undo covers the whole history, and says whether the action
    it reverted was made through this connection (this window) or another."""
    path = tmp_path / "s.sqlite"
    mine, other = ReviewSession(path), ReviewSession(path)
    base = {"train_1": ("clear", "primary")}
    mine.apply([("train_1", "road", True)], base)
    other.apply([("train_1", "water", True)], base)
    undone = mine.undo()  # the latest action is the other window's
    assert [(c.tag, c.new) for c in undone] == [("water", False)]
    assert not mine.moved_own_action()
    undone = mine.undo()
    assert [(c.tag, c.new) for c in undone] == [("road", False)]
    assert mine.moved_own_action()
    redone = other.redo()
    assert [(c.tag, c.new) for c in redone] == [("road", True)]
    assert not other.moved_own_action()
    # A session file from before actions had an origin opens, and its actions are nobody's.
    old = tmp_path / "old.sqlite"
    legacy = sqlite3.connect(old)
    legacy.executescript(
        "CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, action INTEGER NOT NULL,"
        " chip TEXT NOT NULL, tag TEXT NOT NULL, old INTEGER NOT NULL, new INTEGER NOT NULL,"
        " time REAL NOT NULL, state TEXT NOT NULL DEFAULT 'done');"
        "INSERT INTO decisions(action, chip, tag, old, new, time) VALUES (1,'a','road',0,1,0);"
    )
    legacy.commit()
    legacy.close()
    reopened = ReviewSession(old)
    assert [(c.tag, c.new) for c in reopened.undo()] == [("road", False)]
    assert not reopened.moved_own_action()
    for session in (mine, other, reopened):
        session.close()
