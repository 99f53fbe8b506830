"""A model's thresholds and weather rule: chosen on its validation chips at the end of training,
and chosen again for a trained model when the rule improves (`retune_thresholds`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np

from model.card import ModelCard, read_card, write_card
from model.chips import list_chips
from model.errors import ChipAuditError
from model.labels import label_matrix, read_labels
from model.metrics import (
    RULES,
    THRESHOLD_RULE,
    cross_validated_thresholds,
    decide,
    pooled_summary,
    summary,
    tune_thresholds,
)
from model.tags import TAGS

DRAWS = 5  # draws of the two folds pooled in a model's validation figures


def validation_draws(y_val: np.ndarray, probs: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """Each draw's per-chip thresholds, tuned on the other fold: what a model's validation
    figures are computed from (and a comparison's bootstrap, so that both agree)."""
    return [cross_validated_thresholds(y_val, probs, 2, seed + draw) for draw in range(DRAWS)]


def choose_thresholds(
    y_val: np.ndarray, probs: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Thresholds, weather rule and honest validation metrics.

    Both weather rules are scored with thresholds cross-validated over two folds of the
    validation chips (no chip scored with a threshold fitted on it), over 5 draws of the folds;
    the rule with the better samples F2 is kept. The final thresholds are then tuned on all
    validation chips. Thresholds are tuned on the plain threshold rule, so both weather rules
    share them.
    """
    draws = validation_draws(y_val, probs, seed)
    scored = {rule: pooled_summary(y_val, probs, draws, rule == "argmax") for rule in RULES}
    rule = max(scored, key=lambda r: scored[r]["f2_samples"])
    thresholds = tune_thresholds(y_val, probs)
    tuned_in_sample = summary(y_val, decide(probs, thresholds, rule == "argmax"))
    metrics = {
        "validation": scored[rule],
        "validation_note": "thresholds cross-validated over 2 folds of the validation chips, "
        "5 draws of the folds pooled; the model's calls, which keep the tag rules",
        "threshold_rule": THRESHOLD_RULE,
        "f2_by_weather_rule": {r: round(s["f2_samples"], 4) for r, s in scored.items()},
        "validation_in_sample_f2": tuned_in_sample["f2_samples"],
    }
    return thresholds, rule, metrics


def validation_chips(
    card: ModelCard, folder: str | os.PathLike[str], labels_path: str | os.PathLike[str]
) -> tuple[list[Path], dict[str, tuple[str, ...]], dict[str, Path]]:
    """(the validation chips the card lists, in its order; the folder's labels; every chip of
    the folder by name). Every validation chip must be there with a label: else one line saying
    how many are missing, and nothing is done."""
    names = card.data.get("validation_names") or []
    labels = read_labels(labels_path)
    by_name = {p.stem: p for p in list_chips(folder).paths}
    missing = [n for n in names if n not in by_name or n not in labels]
    if missing:
        raise ChipAuditError(
            f"{folder}: {len(missing)} of the model's {len(names)} validation chips are missing "
            f"or unlabelled in {labels_path} (first: {missing[0]})"
        )
    return [by_name[n] for n in names], labels, by_name


def retune_thresholds(
    model_path: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Choose a trained model's thresholds again on its own validation chips, and rewrite its card.

    The weights, and so the version, stay as they are; the card's thresholds, weather rule and
    validation metrics are replaced. Every validation chip must be in `folder` with a label in
    `labels_path`, or nothing is written. Returns the validation metrics before and after.
    """
    from model.predicting import load_model, predict_paths
    from model.predictor import resolve_model_path

    # The card and the chips first: what is missing is said before the model loads (seconds).
    card = read_card(resolve_model_path(model_path))
    if not card.data.get("validation_names"):
        raise ChipAuditError(f"{model_path}: its card lists no validation chips to tune on")
    paths, labels, _ = validation_chips(card, folder, labels_path)
    model = load_model(model_path)
    card = model.card
    predicted = predict_paths(model, paths)
    if predicted.errors:
        raise ChipAuditError(f"{predicted.errors[0]} (a validation chip; nothing was changed)")
    probs = predicted.probs
    y_val = label_matrix(predicted.names, labels)
    thresholds, rule, metrics = choose_thresholds(y_val, probs, int(card.recipe.get("seed", 0)))
    metrics["thresholds_retuned"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    before = card.metrics.get("validation", {})
    keep = {k: v for k, v in card.metrics.items() if k == "train_seconds"}
    write_card(
        model_path,
        dataclasses.replace(
            card,
            thresholds={t: round(float(v), 4) for t, v in zip(TAGS, thresholds)},
            weather_rule=rule,
            metrics={**keep, **metrics},
        ),
    )
    return before, metrics["validation"]
