"""Thresholds moved in a review, kept as a model version of their own: the same weights under a
new card, listed in Models and usable by `predict` and later sessions. The model they came
from, the bundled one included, is never written to."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

from model.card import ModelCard, lineage_entry, write_card
from model.errors import ModelError
from model.review import Review
from model.tags import TAGS
from model.versions import new_model_path

VALIDATION_BEFORE = "validation_at_parent_thresholds"


def thresholds_version(parent: str, thresholds: np.ndarray) -> str:
    """Time, the parent's weights hash (the weights are the same), and the thresholds' hash."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    weights = parent.rsplit("-", 1)[-1]
    digest = hashlib.sha256(np.asarray(thresholds, np.float32).tobytes()).hexdigest()[:6]
    return f"{stamp}-{weights}-t{digest}"


def validation_scores(card: ModelCard) -> dict:
    """The card's per-tag validation scores: its own, or, for a version whose thresholds were
    moved by hand, its parent's (measured at the parent's thresholds)."""
    validation = card.metrics.get("validation") or card.metrics.get(VALIDATION_BEFORE) or {}
    return validation.get("per_tag") or {}


def save_review_thresholds(review: Review, model_path: str | os.PathLike[str]) -> Path:
    """Write the review's model (at `model_path`) again with the review's thresholds as a new
    version; the review's cached predictions are stored under it too (same weights, same
    probabilities), so switching to it predicts nothing again. Returns the new model's path."""
    card = review.card
    moved = review.moved_thresholds()
    if card is None:
        raise ModelError("no model in use: there are no thresholds to save")
    if not moved:
        raise ModelError(f"model {card.version}: no threshold was moved; nothing to save")
    source = Path(model_path)
    if not source.is_file():
        raise ModelError(f"{source}: no such model file")
    thresholds = review.thresholds.astype(np.float64)
    version = thresholds_version(card.version, thresholds)
    validation = card.metrics.get("validation")
    new_card = dataclasses.replace(
        card,
        version=version,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        thresholds={tag: round(float(v), 4) for tag, v in zip(TAGS, thresholds)},
        parent=card.version,
        recipe={
            "thresholds_moved_in_review": {
                tag: {"was": round(old, 4), "now": round(new, 4)}
                for tag, (old, new) in moved.items()
            },
            "folder": str(review.folder),
            "weights": str(source),
        },
        history=[],
        # The parent's validation figures were measured at its thresholds, not these: kept
        # under a name that says so, never shown as this version's.
        metrics={VALIDATION_BEFORE: validation} if validation else {},
        ancestors=[*card.ancestors, lineage_entry(card)],
    )
    target = new_model_path()
    target.parent.mkdir(parents=True, exist_ok=False)
    try:
        shutil.copy2(source, target)  # a copy, not a link: nothing done to it reaches the source
        write_card(target, new_card)
    except OSError as exc:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise ModelError(f"{target.parent}: cannot write the model ({exc.strerror})") from None
    predicted = np.flatnonzero(review.predicted)
    if len(predicted):
        review.session.store_predictions(
            version, [review.names[i] for i in predicted], review.probs[predicted]
        )
    return target
