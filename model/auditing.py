"""The audit of a labelled folder from the command line: every labelled chip with its suspicion
and its suspect tags, each with the reason, most suspect first.

One code path with the app: a Review of the folder, its predictions added as the window adds
them, ordered by the review's own "Most suspect first" query. The review's session is in memory:
the audit is of the labels file as it is, and leaves the app's sessions alone.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.audit import LEVEL_NAMES
from model.predicting import Progress, load_model, predict_paths
from model.review import ChipQuery, Review
from model.session import ReviewSession


@dataclass(frozen=True)
class Suspect:
    name: str
    suspicion: float
    level: str  # none, low, medium, high (model.audit.LEVEL_MEANINGS)
    tags: tuple[str, ...]  # the crowd's
    reasons: dict[str, str]  # suspect tag -> why, most suspect first
    broken_rules: tuple[str, ...]


def suspects(review: Review, k: int = 10) -> list[Suspect]:
    """The review's labelled chips in its "Most suspect first" order, with their reasons."""
    order = [int(i) for i in review.query(ChipQuery(sort="suspicion")) if review.has_label[i]]
    scores = review.suspicion()
    levels = review.suspicion_levels()
    shares, counts = review.neighbour_shares(order, k)
    return [
        Suspect(
            name=review.names[i],
            suspicion=float(scores[i]),
            level=LEVEL_NAMES[int(levels[i])],
            tags=tuple(review.tags_now(i)),
            reasons=review.explain(i, shares[row], int(counts[row])),
            broken_rules=tuple(review.violations(i)),
        )
        for row, i in enumerate(order)
    ]


def audit_folder(
    folder: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    model_path: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    k: int = 10,
) -> tuple[list[Suspect], list]:
    """(suspects, chips that could not be read): predict the folder with the model (the active
    one by default) and rank its labelled chips as the app does."""
    # The folder and its labels first: a mistake there is said before the model loads (seconds).
    review = Review(folder, labels, session=ReviewSession(":memory:"))
    try:
        classifier = load_model(model_path)
        review.set_model(classifier.card)
        version = classifier.card.version
        result = predict_paths(
            classifier,
            review.unpredicted_paths(),
            progress=progress,
            on_batch=lambda names, probs, features: review.add_predictions(
                names, probs, version, features
            ),
            features=True,
        )
        for error in result.errors:
            review.mark_broken(Path(error.path).stem, error.reason)
        return suspects(review, k), list(result.errors)
    finally:
        review.close()


def suspects_csv(found: list[Suspect]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image_name", "suspicion", "level", "tags", "suspect_tags", "reasons"])
    for s in found:
        writer.writerow(
            [
                s.name,
                f"{s.suspicion:.4f}",
                s.level,
                " ".join(s.tags),
                " ".join(s.reasons),
                "; ".join(
                    [f"{tag}: {why}" for tag, why in s.reasons.items()]
                    + [f"rule: {rule}" for rule in s.broken_rules]
                ),
            ]
        )
    return buffer.getvalue()


def suspects_json(found: list[Suspect]) -> str:
    return json.dumps(
        [
            {
                "image_name": s.name,
                "suspicion": round(s.suspicion, 4),
                "level": s.level,
                "tags": list(s.tags),
                "suspect_tags": [{"tag": t, "reason": why} for t, why in s.reasons.items()],
                "broken_rules": list(s.broken_rules),
            }
            for s in found
        ]
    )


def level_counts(found: list[Suspect]) -> dict[str, int]:
    values, counts = np.unique([s.level for s in found], return_counts=True)
    return {name: int(dict(zip(values, counts)).get(name, 0)) for name in LEVEL_NAMES}
