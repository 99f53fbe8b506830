"""Thresholds moved in a review: the calls, marks and suspicion follow at once; a chart's rows
filter the grid; "Save thresholds" writes a new version and leaves its source alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from model.card import ModelCard, read_card, write_card
from model.review import ChipQuery, Review
from model.tags import TAG_INDEX, TAGS
from model.threshold_versions import VALIDATION_BEFORE, save_review_thresholds, validation_scores
from model.versions import list_models

NAMES = [f"chip_{i}" for i in range(6)]
ROAD = TAG_INDEX["road"]


@pytest.fixture
def review(tmp_path: Path, synthetic_chips):
    synthetic_chips(tmp_path / "chips", NAMES)
    # Every chip: clear primary; chips 0 and 1 also road.
    rows = [f"{n},clear primary{' road' if i < 2 else ''}" for i, n in enumerate(NAMES)]
    (tmp_path / "labels.csv").write_text("image_name,tags\n" + "\n".join(rows) + "\n")
    review = Review(tmp_path / "chips", tmp_path / "labels.csv")
    card = ModelCard(
        version="20260101-000000-abcdef12",
        created="2026-01-01T00:00:00+00:00",
        input_size=32,
        thresholds=dict.fromkeys(TAGS, 0.5),
        metrics={"validation": {"per_tag": {"road": {"f1": 0.7}}}},
    )
    review.set_model(card)
    probs = np.zeros((6, len(TAGS)), np.float32)
    probs[:, TAG_INDEX["clear"]] = 0.9
    probs[:, TAG_INDEX["primary"]] = 0.9
    probs[:, ROAD] = [0.9, 0.3, 0.6, 0.2, 0.1, 0.05]
    review.add_predictions(NAMES, probs, card.version)
    yield review
    review.close()


def test_moving_a_threshold_changes_calls_marks_and_order(review: Review) -> None:
    heard = []
    review.events.model.connect(lambda card: heard.append(card))
    assert review.calls[:, ROAD].tolist() == [True, False, True, False, False, False]
    yes_no, no_yes = review.disagreements()
    assert np.flatnonzero(no_yes[:, ROAD]).tolist() == [1]  # crowd road, model 0.3 < 0.5
    assert np.flatnonzero(yes_no[:, ROAD]).tolist() == [2]
    first = review.query(ChipQuery())[:2].tolist()
    assert set(first) == {1, 2}

    review.set_threshold("road", 0.25)
    assert heard == [review.card]
    assert review.calls[:, ROAD].tolist() == [True, True, True, False, False, False]
    yes_no, no_yes = review.disagreements()
    assert not no_yes[:, ROAD].any()
    assert np.flatnonzero(yes_no[:, ROAD]).tolist() == [2]
    assert review.query(ChipQuery())[0] == 2  # chip 1 no longer doubted
    assert review.suspicion()[1] == 0
    assert review.moved_thresholds() == {"road": (0.5, 0.25)}
    review.set_threshold("road", 0.25)  # no move, no notice
    assert len(heard) == 1


def test_query_by_rows_keeps_the_other_filters_and_the_order(review: Review) -> None:
    rows = review.query(ChipQuery(rows=frozenset({0, 3, 5}), sort="name"))
    assert rows.tolist() == [0, 3, 5]
    rows = review.query(ChipQuery(rows=frozenset({0, 3, 5}), text="chip_3"))
    assert rows.tolist() == [3]
    assert review.query(ChipQuery(rows=frozenset())).tolist() == []


def test_save_thresholds_writes_a_new_version_and_keeps_the_source(review, tmp_path) -> None:
    source = tmp_path / "source" / "model.keras"
    source.parent.mkdir()
    source.write_bytes(b"weights stand-in: copied byte for byte, never read here")
    write_card(source, review.card)
    before = (
        hashlib.sha256(source.read_bytes()).hexdigest(),
        source.with_suffix(".json").read_text(),
    )
    with pytest.raises(Exception, match="no threshold was moved"):
        save_review_thresholds(review, source)

    review.set_threshold("road", 0.25)
    saved = save_review_thresholds(review, source)
    assert (
        hashlib.sha256(source.read_bytes()).hexdigest(),
        source.with_suffix(".json").read_text(),
    ) == before
    assert saved.read_bytes() == source.read_bytes()
    card = read_card(saved)
    assert card.version != review.card.version and card.parent == review.card.version
    assert card.thresholds["road"] == 0.25 and card.thresholds["clear"] == 0.5
    assert card.recipe["thresholds_moved_in_review"] == {"road": {"was": 0.5, "now": 0.25}}
    assert "validation" not in card.metrics and VALIDATION_BEFORE in card.metrics
    assert validation_scores(card) == {"road": {"f1": 0.7}}
    assert saved in [entry.path for entry in list_models()]

    # Same weights, same probabilities: the review switched to it predicts nothing again.
    assert review.set_model(card) == len(NAMES)
    assert review.calls[:, ROAD].tolist() == [True, True, True, False, False, False]
    assert review.moved_thresholds() == {}


def test_weak_tags_are_those_under_f1_0_3_on_the_bundled_card(bundled_model) -> None:
    import json

    from model.trust import tag_trust

    raw = json.loads(bundled_model.with_suffix(".json").read_text())["metrics"]["validation"]
    by_hand = {tag for tag, s in raw["per_tag"].items() if s["f1"] < 0.3}
    assert by_hand == {"bare_ground", "selective_logging", "blooming", "slash_burn", "blow_down"}
    trust = tag_trust(read_card(bundled_model))
    assert {tag for tag, t in trust.items() if t.weak} == by_hand
    assert trust["road"].f1 == pytest.approx(raw["per_tag"]["road"]["f1"])
    assert "silence" in trust["blooming"].describe("blooming")
    assert "silence" not in trust["road"].describe("road")


@pytest.mark.parametrize("argmax", [False, True])
def test_recomputing_only_the_rows_a_move_can_change_equals_deciding_all(argmax) -> None:
    from model.metrics import decide, rows_a_threshold_moves

    rng = np.random.default_rng(7)
    probs = rng.random((4_000, len(TAGS))) ** rng.uniform(0.3, 3, len(TAGS))
    probs[:, TAG_INDEX["cloudy"]] = rng.random(4_000) ** 0.4  # cloudy often first
    thresholds = rng.uniform(0.1, 0.8, len(TAGS))
    calls = decide(probs, thresholds, argmax)
    for tag in range(len(TAGS)):
        for new in (0.05, 0.33, 0.61, 0.95):
            old = thresholds[tag]
            moved = thresholds.copy()
            moved[tag] = new
            rows = rows_a_threshold_moves(probs, moved, tag, old, argmax)
            partial = calls.copy()
            partial[rows] = decide(probs[rows], moved, argmax)
            np.testing.assert_array_equal(partial, decide(probs, moved, argmax), err_msg=TAGS[tag])
