"""Predict a folder end to end (decode, resize, classify) and score it against labels."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model.chips import CHIP_EXTENSIONS, list_chips
from model.decoding import iter_decoded
from model.errors import ChipAuditError, ChipError
from model.files import atomic_write_text
from model.labels import format_labels, label_matrix, read_labels
from model.metrics import rule_summary
from model.tags import TAGS, from_vector, sort_tags
from model.wording import count

if TYPE_CHECKING:
    from model.predictor import Predictor, Say

Progress = Callable[[int, int], None]
CancelFlag = Callable[[], bool]


@dataclass
class FolderPrediction:
    names: list[str]
    probs: np.ndarray  # (n, 17)
    calls: np.ndarray  # (n, 17) bool
    errors: list[ChipError] = field(default_factory=list)
    seconds: float = 0.0
    model_version: str = ""

    @property
    def chips_per_s(self) -> float:
        return len(self.names) / self.seconds if self.seconds > 0 else 0.0


def predict_paths(
    classifier: Predictor,
    paths: list[Path],
    tta: bool = False,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    on_batch: Callable[..., None] | None = None,
    batch_size: int = 64,
    features: bool = False,
) -> FolderPrediction:
    """Decode a batch ahead in threads while the network works on the current one.

    `on_batch(names, probs)` gets each batch as it comes; with `features`, `on_batch(names,
    probs, features)` also gets the pooled features of the same forward pass (no TTA then)."""
    started = time.monotonic()
    names: list[str] = []
    chunks: list[np.ndarray] = []
    errors: list[ChipError] = []
    done = 0
    for batch in iter_decoded(paths, classifier.input_size, batch_size, cancel):
        if features:
            probs, pooled = classifier.predict_batch_with_features(batch.images)
        else:
            probs = classifier.predict_batch(batch.images, tta)
        names.extend(batch.names)
        chunks.append(probs)
        errors.extend(batch.errors)
        done += len(batch.names) + len(batch.errors)
        if on_batch is not None:
            on_batch(batch.names, probs, pooled) if features else on_batch(batch.names, probs)
        if progress is not None:
            progress(done, len(paths))
    probs = np.concatenate(chunks) if chunks else np.zeros((0, len(TAGS)), np.float32)
    return FolderPrediction(
        names,
        probs,
        classifier.decide(probs),
        errors,
        time.monotonic() - started,
        classifier.version,
    )


def load_model(
    model_path: str | os.PathLike[str] | None = None,
    precision: str = "fp32",
    say: Say | None = None,
) -> Predictor:
    """The named model, or the active one (the app's choice, else the bundled model), at the
    precision asked for (`model.predictor.open_predictor`: the one function every caller uses)."""
    from model.predictor import open_predictor

    return open_predictor(model_path, precision, say)


def predict_folder(
    folder: str | os.PathLike[str],
    model_path: str | os.PathLike[str] | None = None,
    tta: bool = False,
    progress: Progress | None = None,
    precision: str = "fp32",
    say: Say | None = None,
) -> FolderPrediction:
    listing = list_chips(folder)
    if not listing.paths and not listing.errors:
        raise ChipAuditError(f"{folder}: no chip files ({', '.join(CHIP_EXTENSIONS)}) in it")
    classifier = load_model(model_path, precision, say)
    result = predict_paths(classifier, listing.paths, tta, progress)
    result.errors[:0] = listing.errors
    if hasattr(progress, "close"):
        progress.close()
    return result


def write_predictions(
    result: FolderPrediction,
    out: str | os.PathLike[str] | None,
    probs_out: str | os.PathLike[str] | None = None,
) -> None:
    """Tags as a labels CSV (stdout when `out` is None); probabilities as a second CSV."""
    text = format_labels({n: sort_tags(from_vector(c)) for n, c in zip(result.names, result.calls)})
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
    if probs_out is not None:
        lines = ["image_name," + ",".join(TAGS)]
        lines.extend(
            name + "," + ",".join(f"{p:.5f}" for p in row)
            for name, row in zip(result.names, result.probs)
        )
        atomic_write_text(probs_out, "\n".join(lines) + "\n")


def evaluate_folder(
    folder: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
    model_path: str | os.PathLike[str] | None = None,
    tta: bool = False,
    progress: Progress | None = None,
    precision: str = "fp32",
    say: Say | None = None,
) -> dict[str, Any]:
    """The per-tag table and samples F1/F2 of the model on the labelled chips of a folder.

    Chips without a label and labels without a chip are counted, not fatal.
    """
    labels = read_labels(labels_path)
    listing = list_chips(folder)
    labelled = [p for p in listing.paths if p.stem in labels]
    if not labelled:  # scores of nothing would print as a table of zeros
        n = len(listing.paths)
        why = f"none of its {count(n, 'chip')} has a row in {labels_path}"
        if n == 1:
            why = f"its only chip has no row in {labels_path}"
        elif n == 0:
            why = "no chip files in it"
        raise ChipAuditError(f"{folder}: nothing to score ({why})")
    on_disk = {p.stem for p in listing.paths}
    classifier = load_model(model_path, precision, say)
    report, result = score_paths(classifier, labelled, labels, tta, progress)
    if hasattr(progress, "close"):
        progress.close()
    report.update(
        model=str(classifier.path),
        model_version=classifier.version,
        precision=classifier.precision,
        n_unlabelled_chips=len(listing.paths) - len(labelled),
        n_labels_without_chip=len([n for n in labels if n not in on_disk]),
        errors=[str(e) for e in listing.errors + result.errors],
    )
    return report


def score_paths(
    classifier: Predictor,
    paths: list[Path],
    labels: dict[str, tuple[str, ...]],
    tta: bool = False,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
) -> tuple[dict[str, Any], FolderPrediction]:
    """Predict labelled chips and score the model's calls (its own thresholds and weather rule)
    against labels, with the plain threshold rule's samples F2 beside them."""
    result = predict_paths(classifier, paths, tta, progress, cancel)
    thresholds = classifier.card.threshold_list()
    report: dict[str, Any] = rule_summary(
        label_matrix(result.names, labels),
        result.probs,
        np.asarray(thresholds, dtype=np.float32),  # as the classifier compares them
        classifier.card.weather_rule == "argmax",
    )
    for i, tag in enumerate(TAGS):
        report["per_tag"][tag]["threshold"] = thresholds[i]
    report.update(tta=tta, chips_per_s=result.chips_per_s, seconds=result.seconds)
    return report, result
