"""The review store: every decision written at once to SQLite, undo and redo, cached predictions.

One session per chip folder, kept in the user's data folder. Each decision is one row (chip, tag,
old, new, time) committed before the call returns, so a killed process loses nothing. Undo and
redo work over the whole history, grouped in actions (a bulk edit is one action).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.errors import ChipAuditError, SessionError
from model.paths import user_data_dir
from model.tags import TAGS

# How long a write waits for another window's write to the same session before giving up.
LOCK_TIMEOUT_S = 10.0
REVIEWED = "(reviewed)"  # pseudo-tag: marking a chip reviewed is a decision like any other
# Keys of the session's meta table.
META_FOLDER = "folder"  # the chip folder's real path
META_LABELS = "labels"  # the labels CSV in use, or "none"
META_POSITION = "position"  # the chip the reviewer was on
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action INTEGER NOT NULL,
    chip TEXT NOT NULL,
    tag TEXT NOT NULL,
    old INTEGER NOT NULL,
    new INTEGER NOT NULL,
    time REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'done'  -- done | undone | dropped (undone, then overwritten)
);
CREATE INDEX IF NOT EXISTS decisions_action ON decisions(action);
CREATE TABLE IF NOT EXISTS predictions (
    model_version TEXT NOT NULL,
    chip TEXT NOT NULL,
    probs BLOB NOT NULL,
    PRIMARY KEY (model_version, chip)
);
-- The network's pooled features per chip, from the same pass as its probabilities (the map,
-- similar chips, the neighbours' vote). float16: half the space of float32, and cosine
-- similarities move by under 1e-3, which leaves every neighbour list as float32 makes it.
CREATE TABLE IF NOT EXISTS features (
    model_version TEXT NOT NULL,
    chip TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_version, chip)
);
"""


@dataclass(frozen=True)
class Change:
    chip: str
    tag: str
    old: bool
    new: bool


def session_path_for(folder: str | os.PathLike[str]) -> Path:
    """The session file for a chip folder: user data folder, keyed by the folder's real path."""
    real = str(Path(folder).resolve())
    digest = hashlib.sha256(real.encode("utf-8")).hexdigest()[:16]
    return user_data_dir() / "sessions" / f"{Path(real).name or 'root'}-{digest}.sqlite"


class ReviewSession:
    """Decisions per chip and tag over a base of crowd labels; persisted as they happen."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # Who writes through this connection (one window's review): each action records it, so
        # an undo can say whether it reverts this window's action or another's.
        self.origin = uuid.uuid4().hex
        self.moved_origin: str | None = None  # the origin of the action the last undo/redo moved
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A review is opened on a background thread and then used on the window's thread
            # only: one thread at a time, never two at once.
            self.db = sqlite3.connect(
                self.path, timeout=LOCK_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(decisions)")}
            if "origin" not in columns:  # a session written before actions had an origin
                self.db.execute("ALTER TABLE decisions ADD COLUMN origin TEXT")
        except sqlite3.DatabaseError as exc:
            raise ChipAuditError(f"{self.path}: cannot open review session ({exc})") from None
        except OSError as exc:
            raise ChipAuditError(f"{self.path}: cannot create review session ({exc})") from None
        self._decided: dict[str, dict[str, bool]] = {}
        self._data_version = -1
        self.reload()

    @classmethod
    def for_folder(cls, folder: str | os.PathLike[str]) -> ReviewSession:
        session = cls(session_path_for(folder))
        if session.get_meta(META_FOLDER) is None:
            session.set_meta(META_FOLDER, str(Path(folder).resolve()))
        return session

    def close(self) -> None:
        self.db.close()

    # --- state ---------------------------------------------------------------------------
    def reload(self) -> None:
        """Rebuild the in-memory state by replaying the done decisions in order."""
        decided: dict[str, dict[str, bool]] = {}
        rows = self.db.execute(
            "SELECT chip, tag, new FROM decisions WHERE state='done' ORDER BY id"
        )
        for chip, tag, new in rows:
            decided.setdefault(chip, {})[tag] = bool(new)
        self._decided = decided
        self._data_version = self._current_data_version()

    def _current_data_version(self) -> int:
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def changed_elsewhere(self) -> bool:
        """True when another connection (a second window) wrote since we last looked."""
        return self._current_data_version() != self._data_version

    def decisions(self, chip: str) -> dict[str, bool]:
        """The reviewer's explicit value per tag for this chip (the reviewed flag excluded)."""
        return {t: v for t, v in self._decided.get(chip, {}).items() if t != REVIEWED}

    def is_reviewed(self, chip: str) -> bool:
        return self._decided.get(chip, {}).get(REVIEWED, False)

    def decided_chips(self) -> list[str]:
        return [c for c in self._decided if self.decisions(c)]

    def reviewed_chips(self) -> list[str]:
        return [c for c in self._decided if self.is_reviewed(c)]

    def tags_for(self, chip: str, base: Iterable[str]) -> list[str]:
        """The chip's tags after the reviewer's decisions, applied over `base`, in TAGS order."""
        current = set(base)
        for tag, value in self.decisions(chip).items():
            if value:
                current.add(tag)
            else:
                current.discard(tag)
        return [t for t in TAGS if t in current]

    def is_changed(self, chip: str, base: Iterable[str]) -> bool:
        return set(self.tags_for(chip, base)) != set(base)

    # --- editing -------------------------------------------------------------------------
    def apply(
        self, changes: Iterable[tuple[str, str, bool]], base_of: dict[str, Iterable[str]]
    ) -> list[Change]:
        """Set (chip, tag) to value for each change, as one undoable action; no-ops dropped.

        `base_of` gives each chip's tags before any decision (the crowd's, or none).
        """
        changes = list(changes)
        now = time.time()
        with self._transaction():
            # Under the write lock: judge each change against the file, not against a memory
            # that another window's write has made stale (its change would be lost as a no-op).
            if self.changed_elsewhere():
                self.reload()
            made: list[Change] = []
            for chip, tag, value in changes:
                if tag == REVIEWED:
                    old = self.is_reviewed(chip)
                else:
                    old = tag in self.tags_for(chip, base_of.get(chip, ()))
                if old != bool(value):
                    made.append(Change(chip, tag, old, bool(value)))
            if not made:
                return []
            action = self._next_action()
            self.db.execute("UPDATE decisions SET state='dropped' WHERE state='undone'")
            self.db.executemany(
                "INSERT INTO decisions(action, chip, tag, old, new, time, origin)"
                " VALUES (?,?,?,?,?,?,?)",
                [(action, c.chip, c.tag, int(c.old), int(c.new), now, self.origin) for c in made],
            )
        for c in made:
            self._decided.setdefault(c.chip, {})[c.tag] = c.new
        self._data_version = self._current_data_version()
        return made

    def undo(self) -> list[Change]:
        """Revert the latest done action; returns its changes reversed (new -> old)."""
        return self._move("done", "undone", "MAX")

    def redo(self) -> list[Change]:
        return self._move("undone", "done", "MIN")

    def can_undo(self) -> bool:
        return (
            self.db.execute("SELECT 1 FROM decisions WHERE state='done' LIMIT 1").fetchone()
            is not None
        )

    def can_redo(self) -> bool:
        return (
            self.db.execute("SELECT 1 FROM decisions WHERE state='undone' LIMIT 1").fetchone()
            is not None
        )

    def _move(self, from_state: str, to_state: str, pick: str) -> list[Change]:
        with self._transaction():
            row = self.db.execute(
                f"SELECT {pick}(action) FROM decisions WHERE state=?", (from_state,)
            ).fetchone()
            if row is None or row[0] is None:
                return []
            action = row[0]
            found = self.db.execute(
                "SELECT chip, tag, old, new, origin FROM decisions WHERE action=? AND state=?"
                " ORDER BY id",
                (action, from_state),
            ).fetchall()
            self.db.execute(
                "UPDATE decisions SET state=? WHERE action=? AND state=?",
                (to_state, action, from_state),
            )
        self.reload()
        self.moved_origin = found[0][4] if found else None
        rows = [r[:4] for r in found]
        if to_state == "undone":
            return [Change(c, t, bool(n), bool(o)) for c, t, o, n in reversed(rows)]
        return [Change(c, t, bool(o), bool(n)) for c, t, o, n in rows]

    def moved_own_action(self) -> bool:
        """Whether the last undo or redo moved an action made through this connection (False:
        another window's, or an earlier run's)."""
        return self.moved_origin == self.origin

    def _next_action(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(action), 0) + 1 FROM decisions").fetchone()
        return int(row[0])

    def _transaction(self):
        return _Transaction(self.db, self.path)

    def change_log(self) -> list[tuple[str, str, int, int, float, str]]:
        """Every decision ever made: chip, tag, old, new, time, state."""
        return self.db.execute(
            "SELECT chip, tag, old, new, time, state FROM decisions ORDER BY id"
        ).fetchall()

    # --- metadata ------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # --- cached predictions --------------------------------------------------------------
    def store_predictions(self, model_version: str, names: list[str], probs: np.ndarray) -> None:
        rows = [
            (model_version, n, np.asarray(p, np.float32).tobytes()) for n, p in zip(names, probs)
        ]
        with self._transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO predictions(model_version, chip, probs) VALUES (?,?,?)",
                rows,
            )

    def load_predictions(self, model_version: str) -> dict[str, np.ndarray]:
        rows = self.db.execute(
            "SELECT chip, probs FROM predictions WHERE model_version=?", (model_version,)
        )
        return {chip: np.frombuffer(blob, dtype=np.float32) for chip, blob in rows}

    def store_features(self, model_version: str, names: list[str], features: np.ndarray) -> None:
        """Each chip's pooled features, kept as float16 (see the table's note)."""
        rows = [
            (model_version, n, np.asarray(f, np.float16).tobytes()) for n, f in zip(names, features)
        ]
        with self._transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO features(model_version, chip, vector) VALUES (?,?,?)",
                rows,
            )

    def load_features(self, model_version: str) -> dict[str, np.ndarray]:
        rows = self.db.execute(
            "SELECT chip, vector FROM features WHERE model_version=?", (model_version,)
        )
        return {chip: np.frombuffer(blob, dtype=np.float16) for chip, blob in rows}


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: a second window waits for the lock instead of interleaving.

    A write that fails (the file locked past the timeout, a full disk) is rolled back and raised
    as a SessionError naming the file, so the caller can tell the reviewer it was not kept; the
    in-memory state is only updated after a commit.
    """

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    def _failed(self, exc: sqlite3.Error) -> SessionError:
        return SessionError(f"{self.path}: review session not written ({exc})")

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error as commit_error:
                exc = commit_error
        if self.db.in_transaction:
            # Should this fail too, SQLite drops the transaction itself: report the cause.
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise self._failed(exc) from None
