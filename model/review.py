"""A review of one chip folder: the crowd's labels, the model's predictions, the reviewer's
decisions, and the questions the review window asks of them (what to show, in what order).

Plain Python and numpy; the window in gui/ only displays what this computes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.audit import (
    chip_suspicion,
    disagreement_kinds,
    suspect_order,
    suspicion_levels,
    tag_reason,
    tag_suspicion,
)
from model.card import DEFAULT_THRESHOLD, ModelCard
from model.chips import is_tiff, list_chips
from model.errors import ChipAuditError
from model.events import EventGroup
from model.files import atomic_write_text
from model.labels import format_labels, read_labels
from model.metrics import decide, rows_a_threshold_moves
from model.neighbours import (
    Neighbours,
    disagreeing_duplicates,
    nearest,
    neighbour_share,
    unit_rows,
)
from model.session import (
    META_LABELS,
    META_POSITION,
    REVIEWED,
    Change,
    ReviewSession,
)
from model.tags import TAG_INDEX, TAGS, WEATHER_TAGS, rule_violations, violation_counts

SORTS = ("suspicion", "name", "probability")
KINDS = (
    "all",
    "disagreements",
    "model_yes_crowd_no",
    "model_no_crowd_yes",
    "violations",
    "broken",
    "near_duplicates",  # near-identical to another labelled chip whose tags differ
)
REVIEW_STATES = ("any", "unreviewed", "reviewed", "changed")
NO_LABELS = "none"  # the session's labels when the user chose to review without any
# What the review announces (model/events.py); every one is emitted on the thread that changed
# the review, which for the window is its own thread.
REVIEW_EVENTS = (
    "edited",  # changes=list[Change], rows=list[int]: decisions made, undone or redone here
    "reloaded",  # (no keywords): decisions another window wrote were picked up
    "predictions",  # rows=list[int]: probabilities and calls changed on these chips
    "model",  # card=ModelCard: another model (thresholds, cached predictions) is in use
    "broken",  # rows=list[int]: these chips turned out unreadable
)


@dataclass(frozen=True)
class ChipState:
    """Everything a view shows of one chip, read at one moment."""

    row: int
    name: str
    path: Path
    crowd_known: bool  # the labels file has a row for it
    crowd: tuple[str, ...]
    probs: np.ndarray | None  # (17,), None until predicted
    calls: np.ndarray  # (17,) bool: the model's calls (all False until predicted)
    now: np.ndarray  # (17,) bool: the tags now, crowd's with decisions applied
    thresholds: np.ndarray  # (17,)
    reviewed: bool
    changed: bool
    broken: str  # why it cannot be read, or ""
    violations: list[str]

    @property
    def tags_now(self) -> list[str]:
        return [t for t, v in zip(TAGS, self.now) if v]


@dataclass(frozen=True)
class Badges:
    """Per chip, for the grid's corner marks: all chips at once, as boolean arrays."""

    disagree: np.ndarray
    suspicion: np.ndarray  # int8 level: 0 none, 1 low, 2 medium, 3 high (model.audit)
    violation: np.ndarray
    reviewed: np.ndarray
    changed: np.ndarray
    broken: np.ndarray


@dataclass
class ChipQuery:
    """What the list shows: a filter and a sort. Empty fields mean no constraint."""

    text: str = ""
    kind: str = "all"
    reviewed: str = "any"
    tag: str | None = None  # chips that carry this tag now (crowd or reviewer)
    above_threshold: list[str] = field(default_factory=list)  # model's probability >= threshold
    sort: str = "suspicion"
    sort_tag: str | None = None  # for sort == "probability"
    rows: frozenset[int] | None = None  # only these chips (a chart's bar or cell was clicked)
    rows_label: str = ""  # what those are, for the filter bar: "clear + primary (27,668)"
    like: list[int] = field(default_factory=list)  # chips like these rows (and the rows)


def find_labels_csv(folder: str | os.PathLike[str]) -> Path | None:
    """A labels CSV in or beside the folder, offered to the user when opening it."""
    folder = Path(folder)
    candidates: list[Path] = []
    for place in (folder, folder.parent):
        try:
            candidates.extend(sorted(p for p in place.glob("*.csv") if p.is_file()))
        except OSError:
            continue
    for path in candidates:
        try:
            with path.open(encoding="utf-8-sig") as handle:
                header = handle.readline().strip().lower().replace(" ", "")
        except (OSError, UnicodeDecodeError):
            continue
        if header.startswith("image_name,tags"):
            return path
    return None


def empty_features(n_chips: int, width: int) -> np.ndarray:
    """A review's table of pooled features before any prediction: NaN, float16 (as stored).
    For 36,000 chips it is 37 MB to fill, 50-150 ms: the prediction thread makes it ahead of
    the first batch, so the window does not (Review.add_predictions' `blank`)."""
    return np.full((n_chips, width), np.nan, dtype=np.float16)


class Review:
    """State of one review. Indices are positions in `names` (folder order)."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        labels_path: str | os.PathLike[str] | None = None,
        session: ReviewSession | None = None,
        find_labels: bool = False,
        no_labels: bool = False,
    ) -> None:
        """Labels: `labels_path` if given; else the ones this folder's session used last (or
        none, if the user chose none); else, with `find_labels`, a labels CSV found in or beside
        the folder (`labels_found` says so). `no_labels` reviews without, and remembers that."""
        self.folder = Path(folder)
        self.events = EventGroup(*REVIEW_EVENTS)
        listing = list_chips(self.folder)
        self.paths = listing.paths
        self.names = [p.stem for p in self.paths]
        self.index = {n: i for i, n in enumerate(self.names)}
        # Once, here (off the window's thread when the app opens a folder): over 36,000 paths
        # it took 60-290 ms, asked on the window's thread as the folder was shown.
        self._has_tiffs = any(is_tiff(p) for p in self.paths)
        self.broken: dict[str, str] = {Path(e.path).stem: e.reason for e in listing.errors}
        self.session = session or ReviewSession.for_folder(self.folder)
        self.labels_found = False
        stored = self.session.get_meta(META_LABELS) or ""
        if no_labels:
            self.session.set_meta(META_LABELS, NO_LABELS)
        elif labels_path is None and stored and stored != NO_LABELS and Path(stored).is_file():
            labels_path = stored
        elif labels_path is None and stored != NO_LABELS and find_labels:
            labels_path = find_labels_csv(self.folder)
            self.labels_found = labels_path is not None
        self.labels_path = Path(labels_path) if labels_path and not no_labels else None
        self.crowd: dict[str, tuple[str, ...]] = (
            read_labels(self.labels_path) if self.labels_path else {}
        )
        if self.labels_path:
            self.session.set_meta(META_LABELS, str(self.labels_path.resolve()))
        n = len(self.names)
        self.has_label = np.array([name in self.crowd for name in self.names], dtype=bool)
        self.crowd_matrix = np.zeros((n, len(TAGS)), dtype=np.float32)
        for i, name in enumerate(self.names):
            for tag in self.crowd.get(name, ()):
                self.crowd_matrix[i, TAG_INDEX[tag]] = 1.0
        self.current = self.crowd_matrix.copy()  # the tags now: crowd's with decisions applied
        self.reviewed = np.zeros(n, dtype=bool)
        self.decided = np.zeros(n, dtype=bool)  # the reviewer set some tag on this chip
        self._replay_session()
        self.probs = np.full((n, len(TAGS)), np.nan, dtype=np.float32)
        self.calls = np.zeros((n, len(TAGS)), dtype=bool)
        self.card: ModelCard | None = None
        self.thresholds = np.full(len(TAGS), DEFAULT_THRESHOLD, dtype=np.float32)
        self._violation_counts: np.ndarray | None = None
        self._tag_suspicion: np.ndarray | None = None
        self._suspicion: np.ndarray | None = None
        self._badges: Badges | None = None
        # The network's pooled features per chip (float16, as stored), NaN until predicted.
        self.features: np.ndarray | None = None
        self._unit: np.ndarray | None = None  # the features scaled to length 1, for cosine
        self._comparable: np.ndarray | None = None  # rows of _unit that are not all zero
        self._duplicates: list[tuple[int, int, float]] | None = None
        self._look_alikes: Neighbours | None = None  # kept until the features change

    def close(self) -> None:
        """Close the session; subscribers are dropped so nothing reaches a closed review."""
        self.events.disconnect_all()
        self.session.close()

    def __len__(self) -> int:
        return len(self.names)

    def _changed(self) -> None:
        self._violation_counts = None
        self._tag_suspicion = None
        self._suspicion = None
        self._badges = None
        self._duplicates = None

    # --- model -------------------------------------------------------------------------
    def set_model(self, card: ModelCard) -> int:
        """Use this model's thresholds and its cached predictions; returns how many were cached."""
        self.card = card
        self.thresholds = np.asarray(card.threshold_list(), dtype=np.float32)
        self.probs[:] = np.nan
        cached = self.session.load_predictions(card.version)
        names = [n for n in cached if n in self.index]
        if names:
            self._put(names, np.stack([cached[n] for n in names]))
        self.features = None
        self._unit = None
        self._comparable = None
        self._look_alikes = None
        stored = self.session.load_features(card.version)
        with_features = [n for n in stored if n in self.index]
        if with_features:
            self._put_features(with_features, np.stack([stored[n] for n in with_features]))
        self.calls = self._decide(self.probs)
        self._changed()
        self.events.model.emit(card=card)
        self.events.predictions.emit(rows=list(range(len(self.names))))
        return len(names)

    def set_threshold(self, tag: str, value: float) -> None:
        """Move one tag's threshold for this review (the card is untouched): the model's calls,
        disagreement marks and suspicion follow, and views redraw on the `model` notice."""
        i = TAG_INDEX[tag]
        old = float(self.thresholds[i])
        if self.thresholds[i] == np.float32(value):
            return
        self.thresholds[i] = value
        rule = self.card.weather_rule == "argmax" if self.card else False
        # Only the rows whose calls can change: a drag's step stays within a frame's time.
        # NaN rows (not predicted) are never selected: their calls stay all False.
        rows = rows_a_threshold_moves(self.probs, self.thresholds, i, old, rule)
        self.calls[rows] = self._decide(self.probs[rows])
        self._changed()
        self.events.model.emit(card=self.card)

    def moved_thresholds(self) -> dict[str, tuple[float, float]]:
        """Tags whose threshold here differs from the card's: tag -> (card's, this review's)."""
        if self.card is None:
            return {}
        card = np.asarray(self.card.threshold_list(), dtype=np.float32)
        return {
            tag: (float(card[i]), float(self.thresholds[i]))
            for i, tag in enumerate(TAGS)
            if card[i] != self.thresholds[i]
        }

    def unpredicted_paths(self) -> list[Path]:
        missing = np.flatnonzero(np.isnan(self.probs[:, 0])).tolist()
        return [self.paths[i] for i in missing if self.names[i] not in self.broken]

    def add_predictions(
        self,
        names: list[str],
        probs: np.ndarray,
        version: str,
        features: np.ndarray | None = None,
        blank: np.ndarray | None = None,
    ) -> list[int]:
        """Take a batch of predictions made by model `version` (with the pooled features of the
        same pass, if given), save it in the session (the one writer of predictions) and announce
        it; returns the rows it touched. A batch from any other model than the one in use is
        refused (empty list): it must never be shown. `blank`: an `empty_features` table for
        this review, made ahead by the caller's worker, used if a new table is needed."""
        if self.card is None or version != self.card.version:
            return []
        self.session.store_predictions(version, names, probs)
        if features is not None:
            self.session.store_features(version, names, features)
            self._put_features(names, features, blank)
        rows = self._put(names, probs)
        self.events.predictions.emit(rows=rows)
        return rows

    def _put(self, names: list[str], probs: np.ndarray) -> list[int]:
        rows = [self.index[n] for n in names if n in self.index]
        keep = [k for k, n in enumerate(names) if n in self.index]
        self.probs[rows] = probs[keep]
        self.calls[rows] = self._decide(self.probs[rows])
        self._changed()
        return rows

    def _put_features(
        self, names: list[str], features: np.ndarray, blank: np.ndarray | None = None
    ) -> None:
        features = np.asarray(features, dtype=np.float16)
        if self.features is None or self.features.shape[1] != features.shape[1]:
            shape = (len(self.names), features.shape[1])
            fits = blank is not None and blank.shape == shape and blank.dtype == np.float16
            self.features = blank if fits else empty_features(*shape)
        rows = [self.index[n] for n in names if n in self.index]
        keep = [k for k, n in enumerate(names) if n in self.index]
        self.features[rows] = features[keep]
        self._duplicates = None
        self._look_alikes = None
        # Kept up to date row by row: a batch must not cost a pass over every chip's features
        # (np.zeros is lazily mapped, so a 36,000 x 512 table costs nothing until filled).
        if self._unit is None or self._unit.shape != self.features.shape:
            self._unit = np.zeros(self.features.shape, dtype=np.float32)
            self._comparable = np.zeros(len(self.names), dtype=bool)
        self._unit[rows] = unit_rows(self.features[rows])
        self._comparable[rows] = self._unit[rows].any(axis=1)

    def unit_features(self) -> np.ndarray | None:
        """The features scaled to length 1 (float32; zero rows where none), kept until more
        features arrive: a question about one chip then costs one product."""
        if self.features is not None and self._unit is None:
            self._unit = unit_rows(self.features)
            self._comparable = self._unit.any(axis=1)
        return self._unit

    def comparable(self) -> np.ndarray:
        """Which chips can be compared with others: they have features, and not all zero (kept
        with the unit features, so a question about one chip does not check every chip)."""
        if self.unit_features() is None or self._comparable is None:
            return np.zeros(len(self.names), dtype=bool)
        return self._comparable

    @property
    def has_features(self) -> np.ndarray:
        """Which chips have features from the model in use."""
        if self.features is None:
            return np.zeros(len(self.names), dtype=bool)
        return ~np.isnan(self.features[:, 0])

    def similar(self, rows: Iterable[int], k: int = 10) -> Neighbours:
        """Each row's k most alike chips (cosine on the features), among chips with features."""
        rows = np.asarray(list(rows), dtype=np.int64)
        if self.features is None:
            return nearest(np.zeros((len(self.names), 1), np.float32), k, rows)
        return nearest(self.unit_features(), k, rows, self.comparable(), unit=True)

    def near_duplicates(self, k: int = 5) -> list[tuple[int, int, float]]:
        """Labelled chips near-identical to another labelled chip whose tags now differ: pairs
        (row, row, similarity), most alike first. The neighbour search is the slow part (about
        100 s for 36,000 chips on 2 cores): it is kept until the features change, so an edit
        only compares tags again; `find_look_alikes` runs it ahead, off the window's thread."""
        if self._duplicates is None:
            look_alikes = self.find_look_alikes(k)
            self._duplicates = (
                []
                if look_alikes is None
                else disagreeing_duplicates(look_alikes, self.current, self.has_label)
            )
        return self._duplicates

    def look_alikes_ready(self) -> bool:
        return self._look_alikes is not None or not (self.has_features & self.has_label).any()

    def find_look_alikes(self, k: int = 5) -> Neighbours | None:
        """Each labelled chip's k most alike labelled chips (None with fewer than two). Reads
        only the features, so it may run on another thread while the reviewer works."""
        if self._look_alikes is None:
            labelled = self.comparable() & self.has_label
            have = np.flatnonzero(labelled)
            if len(have) < 2:
                return None
            found = nearest(self.unit_features(), k, have, labelled, unit=True)
            full = Neighbours(
                np.full((len(self.names), k), -1, np.int64),
                np.full((len(self.names), k), -np.inf, np.float32),
            )
            full.index[have], full.similarity[have] = found.index, found.similarity
            self._look_alikes = full
        return self._look_alikes

    def neighbour_shares(self, rows: Iterable[int], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(share (m, 17), count (m,)): for each row, the share of its k most alike labelled
        chips that carry each tag now, and how many such chips it has (0 without features)."""
        rows = np.asarray(list(rows), dtype=np.int64)
        if self.features is None:
            return np.full((len(rows), len(TAGS)), np.nan, np.float32), np.zeros(len(rows), int)
        labelled = self.comparable() & self.has_label
        found = nearest(self.unit_features(), k, rows, labelled, unit=True)
        return neighbour_share(found, self.current)

    def explain(
        self, i: int, share: np.ndarray | None = None, count: int | None = None, k: int = 10
    ) -> dict[str, str]:
        """Why each of the chip's suspect tags is suspect, most suspect first, in words: the
        model's probability and what its k most alike labelled chips say ("model 0.03; 9 of 10
        similar chips lack it"). `share` and `count` (one row of `neighbour_shares`) save the
        search when many chips are explained at once."""
        scores = tag_suspicion(self.probs[i : i + 1], self.current[i : i + 1], self.thresholds)[0]
        if not self.has_label[i] or not scores.any():
            return {}
        if share is None:
            shares, counts = self.neighbour_shares([i], k)
            share, count = shares[0], int(counts[0])
        return {
            TAGS[t]: tag_reason(
                TAGS[t], float(self.probs[i, t]), bool(self.current[i, t] > 0.5), share, count
            )
            for t in np.argsort(-scores, kind="stable")
            if scores[t] > 0
        }

    def _decide(self, probs: np.ndarray) -> np.ndarray:
        rule = self.card.weather_rule == "argmax" if self.card else False
        return decide(np.nan_to_num(probs, nan=0.0), self.thresholds, rule) & ~np.isnan(probs)

    def mark_broken(self, name: str, reason: str) -> None:
        if self.broken.get(name) == reason:
            return
        self.broken[name] = reason
        self._changed()
        i = self.index.get(name)
        self.events.broken.emit(rows=[i] if i is not None else [])

    @property
    def predicted(self) -> np.ndarray:
        return ~np.isnan(self.probs[:, 0])

    # --- what views read ------------------------------------------------------------------
    def chip(self, i: int) -> ChipState:
        name = self.names[i]
        predicted = not np.isnan(self.probs[i, 0])
        return ChipState(
            row=i,
            name=name,
            path=self.paths[i],
            crowd_known=bool(self.has_label[i]),
            crowd=self.crowd_tags(i),
            probs=self.probs[i].copy() if predicted else None,
            calls=self.calls[i].copy(),
            now=self.current[i] > 0.5,
            thresholds=self.thresholds.copy(),
            reviewed=bool(self.reviewed[i]),
            changed=self.is_changed(i),
            broken=self.broken.get(name, ""),
            violations=self.violations(i),
        )

    def badges(self) -> Badges:
        """The grid's marks for every chip, computed once per change."""
        if self._badges is None:
            yes_no, no_yes = self.disagreements()
            broken = np.zeros(len(self.names), dtype=bool)
            for name in self.broken:
                i = self.index.get(name)
                if i is not None:
                    broken[i] = True
            self._badges = Badges(
                disagree=(yes_no | no_yes).any(axis=1),
                suspicion=self.suspicion_levels(),
                violation=self.violation_counts() > 0,
                reviewed=self.reviewed.copy(),
                changed=(self.current != self.crowd_matrix).any(axis=1),
                broken=broken,
            )
        return self._badges

    def row_of(self, name: str) -> int | None:
        return self.index.get(name)

    @property
    def position(self) -> str | None:
        """The chip the reviewer was last on (kept in the session)."""
        return self.session.get_meta(META_POSITION)

    @position.setter
    def position(self, name: str) -> None:
        self.session.set_meta(META_POSITION, name)

    def can_undo(self) -> bool:
        return self.session.can_undo()

    def can_redo(self) -> bool:
        return self.session.can_redo()

    def labels_summary(self) -> str:
        """Which labels are in use, in one phrase, for the notice above the grid."""
        if self.labels_path is None:
            return "No labels"
        return (
            f"the labels in {self.labels_path} ({len(self.crowd):,} rows, "
            f"{int(self.has_label.sum()):,} of {len(self.names):,} chips labelled)"
        )

    def has_tiffs(self) -> bool:
        return self._has_tiffs

    def tiff_note(self, model_path: str | os.PathLike[str] | None = None) -> str:
        """What the reviewer should know about `model_path`'s calls here, or "" (no TIFFs)."""
        if not self.has_tiffs():
            return ""
        from model.tiff_colour import tiff_notice

        return tiff_notice(model_path)

    def retrain_chip_count(self) -> int:
        """Chips a retrain on this review learns from: labelled ones, and unlabelled ones the
        reviewer tagged."""
        return int(self.has_label.sum()) + int((self.decided & ~self.has_label).sum())

    # --- per chip ----------------------------------------------------------------------
    def tags_now(self, i: int) -> list[str]:
        return [t for t, v in zip(TAGS, self.current[i]) if v > 0.5]

    def crowd_tags(self, i: int) -> tuple[str, ...]:
        return self.crowd.get(self.names[i], ())

    def violations(self, i: int) -> list[str]:
        if not self.has_label[i] and not self.decided[i]:
            return []  # nothing claimed yet: a field team's new chip breaks no rule
        return rule_violations(self.tags_now(i))

    def violation_counts(self) -> np.ndarray:
        """Broken rules per chip, as `violations` counts them, for all chips at once."""
        if self._violation_counts is None:
            counts = violation_counts(self.current)
            counts[~self.has_label & ~self.decided] = 0
            self._violation_counts = counts
        return self._violation_counts.copy()

    def is_reviewed(self, i: int) -> bool:
        return bool(self.reviewed[i])

    def is_changed(self, i: int) -> bool:
        return bool(np.any(self.current[i] != self.crowd_matrix[i]))

    def tag_suspicion(self) -> np.ndarray:
        """How suspect each crowd tag is (chips x tags), computed once per change: the order
        and the grid's marks both read it."""
        if self._tag_suspicion is None:
            self._tag_suspicion = tag_suspicion(self.probs, self.current, self.thresholds)
        return self._tag_suspicion

    def suspicion(self) -> np.ndarray:
        if self._suspicion is None:
            n_viol = self.violation_counts()
            scores = chip_suspicion(self.tag_suspicion(), n_viol)
            # Unlabelled chips have no crowd to doubt; only their broken rules count.
            scores[~self.has_label] = n_viol[~self.has_label]
            self._suspicion = scores
        return self._suspicion

    def suspicion_levels(self) -> np.ndarray:
        """How suspect each chip's tags are: 0 none, 1 low, 2 medium, 3 high
        (`model.audit.LEVEL_MEANINGS` says what each means); 0 for unlabelled chips."""
        levels = suspicion_levels(chip_suspicion(self.tag_suspicion()))
        levels[~self.has_label] = 0
        return levels

    def disagreements(self) -> tuple[np.ndarray, np.ndarray]:
        yes_no, no_yes = disagreement_kinds(self.calls, self.current)
        unknown = ~self.predicted | ~self.has_label
        yes_no[unknown] = False
        no_yes[unknown] = False
        return yes_no, no_yes

    # --- the list ------------------------------------------------------------------------
    def query(self, q: ChipQuery) -> np.ndarray:
        """Indices of the chips the list shows, in display order."""
        n = len(self.names)
        keep = np.ones(n, dtype=bool)
        if q.text:
            needle = q.text.lower()
            keep &= np.array([needle in name.lower() for name in self.names], dtype=bool)
        if q.kind != "all":
            yes_no, no_yes = self.disagreements()
            if q.kind == "disagreements":
                keep &= (yes_no | no_yes).any(axis=1)
            elif q.kind == "model_yes_crowd_no":
                keep &= yes_no.any(axis=1)
            elif q.kind == "model_no_crowd_yes":
                keep &= no_yes.any(axis=1)
            elif q.kind == "violations":
                keep &= self.violation_counts() > 0
            elif q.kind == "broken":
                keep &= np.array([name in self.broken for name in self.names], dtype=bool)
            elif q.kind == "near_duplicates":
                twins = np.zeros(n, dtype=bool)
                for a, b, _ in self.near_duplicates():
                    twins[[a, b]] = True
                keep &= twins
        if q.reviewed != "any":
            if q.reviewed == "reviewed":
                keep &= self.reviewed
            elif q.reviewed == "unreviewed":
                keep &= ~self.reviewed
            elif q.reviewed == "changed":
                keep &= (self.current != self.crowd_matrix).any(axis=1)
        if q.tag:
            keep &= self.current[:, TAG_INDEX[q.tag]] > 0.5
        if q.above_threshold:
            cols = [TAG_INDEX[t] for t in q.above_threshold]
            keep &= self.calls[:, cols].any(axis=1)
        if q.rows is not None:
            chosen = np.zeros(n, dtype=bool)
            chosen[[i for i in q.rows if 0 <= i < n]] = True
            keep &= chosen
        if q.like:
            like = np.zeros(n, dtype=bool)
            like[q.like] = True
            found = self.similar(q.like).index
            like[found[found >= 0]] = True
            keep &= like
        rows = np.flatnonzero(keep)
        if q.sort == "suspicion":
            return rows[suspect_order(self.suspicion()[rows])]
        if q.sort == "probability":
            tags = [q.sort_tag] if q.sort_tag else (q.above_threshold or [])
            if tags:
                cols = [TAG_INDEX[t] for t in tags]
                p = np.nan_to_num(self.probs[rows][:, cols], nan=-1.0).max(axis=1)
                return rows[np.argsort(-p, kind="stable")]
        return rows  # folder order is natural name order

    def next_suspect(self, after: int | None) -> int | None:
        """The most suspect unreviewed chip other than `after`."""
        scores = self.suspicion()
        for i in suspect_order(scores):
            if i != after and scores[i] > 0 and not self.is_reviewed(int(i)):
                return int(i)
        return None

    # --- editing -------------------------------------------------------------------------
    def _base(self, names: list[str]) -> dict[str, tuple[str, ...]]:
        return {n: self.crowd.get(n, ()) for n in names}

    def set_tag(self, rows: list[int], tag: str, value: bool) -> list[Change]:
        """Set one tag on many chips, as one undoable action. A weather tag turned on replaces
        the chip's other weather tag: exactly one per chip."""
        changes = []
        for i in rows:
            name = self.names[i]
            changes.append((name, tag, value))
            if value and tag in WEATHER_TAGS:
                changes.extend((name, other, False) for other in WEATHER_TAGS if other != tag)
        return self._apply(changes)

    def toggle(self, rows: list[int], tag: str) -> list[Change]:
        """Toggle on the first selected chip decides the value for all of them."""
        if not rows:
            return []
        value = not bool(self.current[rows[0], TAG_INDEX[tag]] > 0.5)
        return self.set_tag(rows, tag, value)

    def accept_model(self, rows: list[int], tags: list[str] | None = None) -> list[Change]:
        """Take the model's call for the given tags (all 17 by default) on predicted chips.

        A weather tag the model calls replaces the chip's other weather tags, as in `set_tag`,
        unless those are being taken from the model too (all 17: the model's calls as they are).
        """
        taken = tags or list(TAGS)
        changes = []
        for i in rows:
            if not self.predicted[i]:
                continue
            for tag in taken:
                value = bool(self.calls[i, TAG_INDEX[tag]])
                changes.append((self.names[i], tag, value))
                if value and tag in WEATHER_TAGS:
                    others = (w for w in WEATHER_TAGS if w != tag and w not in taken)
                    changes.extend((self.names[i], other, False) for other in others)
        return self._apply(changes)

    def mark_reviewed(self, rows: list[int], value: bool = True) -> list[Change]:
        return self._apply([(self.names[i], REVIEWED, value) for i in rows])

    def undo(self) -> list[Change]:
        """Revert the session's latest action, whichever window made it (see `last_move_own`)."""
        self._sync()
        return self._after(self.session.undo())

    def redo(self) -> list[Change]:
        self._sync()
        return self._after(self.session.redo())

    def last_move_own(self) -> bool:
        """Whether the last undo or redo moved an action made in this review (this window)."""
        return self.session.moved_own_action()

    def _sync(self) -> None:
        # Before the session reloads itself (undo, redo do): else what another window wrote
        # since we last looked would never reach `current`, nor the export.
        if self.session.changed_elsewhere():
            self.reload_session()

    def reload_session(self) -> None:
        """Pick up what another window wrote to the same session."""
        self.session.reload()
        self.current = self.crowd_matrix.copy()
        self.reviewed[:] = False
        self.decided[:] = False
        self._replay_session()
        self._changed()
        self.events.reloaded.emit()

    def _replay_session(self) -> None:
        for chip in self.session.decided_chips() + self.session.reviewed_chips():
            self._refresh_current(chip)

    def _apply(self, changes: list[tuple[str, str, bool]]) -> list[Change]:
        self._sync()
        names = sorted({c[0] for c in changes})
        return self._after(self.session.apply(changes, self._base(names)))

    def _after(self, made: list[Change]) -> list[Change]:
        for chip in {c.chip for c in made}:
            self._refresh_current(chip)
        self._changed()
        if made:
            self.events.edited.emit(changes=made, rows=self.rows_of(made))
        return made

    def _refresh_current(self, chip: str) -> None:
        i = self.index.get(chip)
        if i is None:
            return
        now = self.session.tags_for(chip, self.crowd.get(chip, ()))
        self.reviewed[i] = self.session.is_reviewed(chip)
        self.decided[i] = bool(self.session.decisions(chip))
        self.current[i] = 0.0
        for tag in now:
            self.current[i, TAG_INDEX[tag]] = 1.0

    def rows_of(self, changes: list[Change]) -> list[int]:
        return sorted({self.index[c.chip] for c in changes if c.chip in self.index})

    # --- counts and export ---------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        changed = int((self.current != self.crowd_matrix).any(axis=1).sum())
        return {
            "chips": len(self.names),
            "labelled": int(self.has_label.sum()),
            "predicted": int(self.predicted.sum()),
            "reviewed": int(self.reviewed.sum()),
            "changed": changed,
            "suspects": int(((self.suspicion_levels() > 0) & ~self.reviewed).sum()),
            "broken": len(self.broken),
        }

    def resumed(self) -> dict[str, int]:
        """What this folder's session holds, for 'Resumed: 17 reviewed, 13 changed' on opening
        it again: chips marked reviewed, chips whose tags differ from the crowd's, and the
        reviewer's tag decisions in effect (one per chip and tag; undone ones not counted)."""
        chips = self.session.decided_chips()
        return {
            "reviewed": int(self.reviewed.sum()),
            "changed": int((self.current != self.crowd_matrix).any(axis=1).sum()),
            "decisions": sum(len(self.session.decisions(chip)) for chip in chips),
        }

    def corrected_labels(
        self, include_model_for_unlabelled: bool = False
    ) -> dict[str, list[str] | tuple[str, ...]]:
        """Every labelled row (reviewer's tags where decided, crowd's elsewhere, in the CSV's
        order), then unlabelled chips the reviewer tagged, then, only if asked, the model's
        tags for the other unlabelled chips."""
        out: dict[str, list[str] | tuple[str, ...]] = {}
        for name, tags in self.crowd.items():
            i = self.index.get(name)
            if i is not None and self.is_changed(i):
                out[name] = sorted(self.tags_now(i))
            else:
                out[name] = tags  # untouched rows are written back exactly as read
        for i, name in enumerate(self.names):
            if name in self.crowd:
                continue
            if self.decided[i]:
                out[name] = sorted(self.tags_now(i))
            elif include_model_for_unlabelled and self.predicted[i]:
                out[name] = sorted(t for t, c in zip(TAGS, self.calls[i]) if c)
        return out

    def export_labels(
        self,
        path: str | os.PathLike[str],
        include_model_for_unlabelled: bool = False,
        only: Iterable[int] | None = None,
    ) -> int:
        """Write the corrected labels (of the chips at rows `only`, if given: "the chips shown");
        refuses to write a file with no row."""
        self._sync()  # the session is the record: include what another window decided
        labels = self.corrected_labels(include_model_for_unlabelled)
        if only is not None:
            keep = {self.names[i] for i in only}
            labels = {name: tags for name, tags in labels.items() if name in keep}
        if not labels:
            raise ChipAuditError(
                f"{path}: nothing to write: no chip here has a label or a tag set by you"
                + (" among those shown" if only is not None else "")
            )
        atomic_write_text(path, format_labels(labels, getattr(self.crowd, "newline", "\n")))
        return len(labels)

    def export_change_log(self, path: str | os.PathLike[str]) -> int:
        rows = self.session.change_log()
        if not rows:
            raise ChipAuditError(f"{path}: nothing to write: no decision made in this review yet")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["image_name", "tag", "old", "new", "time", "state"])
        for chip, tag, old, new, when, state in rows:
            stamp = dt.datetime.fromtimestamp(when, dt.timezone.utc).isoformat(timespec="seconds")
            writer.writerow([chip, tag, old, new, stamp, state])
        atomic_write_text(path, buffer.getvalue())
        return len(rows)

    def export_predictions(
        self, path: str | os.PathLike[str], only: Iterable[int] | None = None
    ) -> int:
        """The model's tags per predicted chip (of the rows `only`, if given), as a labels CSV
        (the field team's export); refuses to write a file with no row."""
        rows = range(len(self.names)) if only is None else sorted(set(only))
        labels = {
            self.names[i]: sorted(t for t, c in zip(TAGS, self.calls[i]) if c)
            for i in rows
            if self.predicted[i]
        }
        if not labels:
            raise ChipAuditError(
                f"{path}: nothing to write: no chip"
                + (" shown" if only is not None else "")
                + " has the model's prediction yet"
            )
        atomic_write_text(path, format_labels(labels))
        return len(labels)


def open_review(
    folder: str | os.PathLike[str],
    labels_path: str | os.PathLike[str] | None = None,
    use_labels: bool = True,
    card: ModelCard | None = None,
) -> Review:
    """Everything opening a folder takes, for a background thread: list the chips, read the
    labels (given, remembered by the session, or found in or beside the folder), open the session,
    and take `card`'s cached predictions."""
    review = Review(folder, labels_path, find_labels=True, no_labels=not use_labels)
    try:
        if card is not None:
            review.set_model(card)
    except BaseException:
        review.close()
        raise
    return review
