"""A review and its export on small made-up chips and hand-written labels: these run without the
Planet data, and each case is one whose right answer is known by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference import calls_by_hand

from model.card import ModelCard
from model.chips import decode_rgb
from model.classifier import Classifier
from model.predicting import predict_paths
from model.review import ChipQuery, Review
from model.tags import TAG_INDEX, TAGS, from_vector, rule_violations

# Labelled chips and the rules each breaks, counted by hand; "fresh" has no label at all.
RULE_CASES = {
    "fine": ("clear", "primary"),
    "two_weather": ("clear", "haze", "primary"),
    "no_weather": ("primary", "road"),
    "cloudy_land": ("cloudy", "primary", "water"),
    "cloudy_haze_road": ("cloudy", "haze", "road"),
    "three_weather": ("clear", "haze", "partly_cloudy"),
    "only_cloudy": ("cloudy",),
    "no_tags": (),
}
RULES_BROKEN = {
    "fine": 0,
    "two_weather": 1,
    "no_weather": 1,
    "cloudy_land": 1,
    "cloudy_haze_road": 2,
    "three_weather": 1,
    "only_cloudy": 0,
    "no_tags": 1,
    "fresh": 0,  # nothing claimed yet: a field team's new chip breaks no rule
}


def labels_text(rows: dict[str, tuple[str, ...]], newline: str = "\n") -> str:
    lines = ["image_name,tags", *(f"{name},{' '.join(tags)}" for name, tags in rows.items())]
    return newline.join(lines) + newline


@pytest.fixture
def rules_review(tmp_path: Path, synthetic_chips):
    synthetic_chips(tmp_path / "chips", [*RULE_CASES, "fresh"])
    labels = tmp_path / "labels.csv"
    labels.write_text(labels_text(RULE_CASES), encoding="utf-8")
    review = Review(tmp_path / "chips", labels)
    yield review
    review.close()


def card(version: str = "synthetic") -> ModelCard:
    return ModelCard(version=version, created="2026-01-01T00:00:00+00:00", input_size=32)


def test_violation_counts_are_the_rules_each_chip_breaks(rules_review: Review) -> None:
    review = rules_review
    counts = review.violation_counts()
    assert dict(zip(review.names, counts.tolist())) == RULES_BROKEN
    for i, name in enumerate(review.names):
        expected = len(rule_violations(RULE_CASES[name])) if name in RULE_CASES else 0
        assert counts[i] == expected == len(review.violations(i)), name

    # The filter, the suspicion order and the next suspect all follow the same counts.
    broken = [i for i, n in enumerate(review.names) if RULES_BROKEN[n] > 0]
    assert [int(i) for i in review.query(ChipQuery(kind="violations", sort="name"))] == broken
    np.testing.assert_array_equal(review.suspicion(), counts)  # no predictions yet
    assert review.next_suspect(None) == review.index["cloudy_haze_road"]
    # Suspects are chips the model doubts (levels low and up); broken rules are marked apart.
    assert review.counts()["suspects"] == 0

    # Edits change the counts: a weather key repairs two weather tags; a land tag on the
    # unlabelled chip makes it a claim without a weather tag; cloudy over land breaks a rule.
    review.set_tag([review.index["two_weather"]], "partly_cloudy", True)
    review.set_tag([review.index["fresh"]], "road", True)
    review.set_tag([review.index["fine"]], "cloudy", True)
    after = dict(zip(review.names, review.violation_counts().tolist()))
    assert after == {**RULES_BROKEN, "two_weather": 0, "fresh": 1, "fine": 1}
    for i in range(len(review.names)):
        assert after[review.names[i]] == len(review.violations(i))


# --- export: rows set back to the crowd's are the crowd's rows, byte for byte ---------------
# CRLF line ends; tags out of alphabetical order and one repeated: rows a rewrite would change.
CROWD_ROWS = {
    "chip_1": ("primary", "clear"),
    "chip_2": ("water", "clear", "primary", "water"),
    "chip_3": ("haze", "primary"),
    "chip_4": ("primary", "partly_cloudy", "road"),
    "gone_5": ("primary", "clear"),  # a row whose chip is not in the folder
}


@pytest.fixture
def crowd_csv(tmp_path: Path, synthetic_chips) -> Path:
    synthetic_chips(tmp_path / "chips", ["chip_1", "chip_2", "chip_3", "chip_4", "new_6"])
    path = tmp_path / "labels.csv"
    path.write_bytes(labels_text(CROWD_ROWS, "\r\n").encode("utf-8"))
    return path


def test_rows_edited_then_set_back_export_byte_for_byte(crowd_csv: Path, tmp_path: Path) -> None:
    review = Review(tmp_path / "chips", crowd_csv)
    try:
        one, two, three, four = (review.index[f"chip_{k}"] for k in (1, 2, 3, 4))
        review.set_tag([one], "road", True)
        review.set_tag([one], "road", False)  # decided, and back to the crowd's tags
        review.toggle([two], "water")
        review.toggle([two], "water")
        review.set_tag([four], "haze", True)  # replaces partly_cloudy...
        review.set_tag([four], "partly_cloudy", True)  # ...which comes back, haze off
        review.mark_reviewed([one, two, three])
        assert review.decided[[one, two, four]].all()
        assert review.counts()["changed"] == 0

        out = tmp_path / "out.csv"
        assert review.export_labels(out) == len(CROWD_ROWS)
        assert out.read_bytes() == crowd_csv.read_bytes()

        # One real change: that row alone is rewritten (tags sorted, the file's CRLF kept).
        review.set_tag([three], "water", True)
        review.export_labels(out)
        expected = crowd_csv.read_bytes().replace(
            b"chip_3,haze primary\r\n", b"chip_3,haze primary water\r\n"
        )
        assert out.read_bytes() == expected
    finally:
        review.close()


def test_rows_set_back_by_undo_export_byte_for_byte(crowd_csv: Path, tmp_path: Path) -> None:
    review = Review(tmp_path / "chips", crowd_csv)
    try:
        review.set_tag([review.index["chip_2"]], "road", True)
        review.undo()
        review.set_tag([review.index["new_6"]], "clear", True)  # an unlabelled chip, decided
        out = tmp_path / "out.csv"
        assert review.export_labels(out) == len(CROWD_ROWS) + 1
        assert out.read_bytes() == crowd_csv.read_bytes() + b"new_6,clear\r\n"
    finally:
        review.close()


# --- predictions from the bundled model on made-up chips, one of them unreadable -------------
def test_predictions_reach_the_right_chips_and_a_broken_chip_is_reported(
    tmp_path: Path, synthetic_chips, bundled_classifier: Classifier
) -> None:
    names = [f"chip_{k}" for k in range(9)]
    paths = synthetic_chips(tmp_path / "chips", names)
    bad = paths[4]
    bad.write_bytes(bad.read_bytes()[:-200])  # its header whole, its pixels cut short
    labels = tmp_path / "labels.csv"
    labels.write_text(labels_text({n: ("clear", "primary") for n in names}), encoding="utf-8")
    review = Review(tmp_path / "chips", labels)
    try:
        assert review.names == names
        review.set_model(bundled_classifier.card)
        result = predict_paths(
            bundled_classifier,
            review.unpredicted_paths(),
            on_batch=lambda names, probs: review.add_predictions(
                names, probs, bundled_classifier.card.version
            ),
            batch_size=4,
        )
        assert [Path(e.path).name for e in result.errors] == [bad.name]
        for error in result.errors:
            review.mark_broken(Path(error.path).stem, error.reason)
        assert review.broken["chip_4"] == "cannot decode: truncated file"
        assert review.predicted.tolist() == [n != "chip_4" for n in names]
        assert review.unpredicted_paths() == []
        assert [int(i) for i in review.query(ChipQuery(kind="broken"))] == [4]

        # Each chip's row holds that chip's own prediction, made here one chip at a time.
        for i, path in enumerate(paths):
            if i == 4:
                assert np.isnan(review.probs[i]).all()
                continue
            alone = bundled_classifier.predict(decode_rgb(path, 32)[None])[0]
            np.testing.assert_allclose(review.probs[i], alone, atol=1e-5)
        thresholds = np.array(bundled_classifier.card.threshold_list())
        predicted = review.predicted
        argmax = bundled_classifier.card.weather_rule == "argmax"
        expected = calls_by_hand(review.probs[predicted], thresholds, argmax)
        assert [set(from_vector(row)) for row in review.calls[predicted]] == expected
        # The made-up chips differ, and so do the model's answers about them.
        assert len({row.tobytes() for row in review.probs[predicted]}) == len(names) - 1
    finally:
        review.close()


def test_model_and_crowd_disagreements_on_synthetic_probabilities(rules_review: Review) -> None:
    review = rules_review
    model_card = card()
    review.set_model(model_card)
    probs = np.where(review.crowd_matrix > 0.5, 0.9, 0.05).astype(np.float32)
    fine, no_weather = review.index["fine"], review.index["no_weather"]
    probs[fine, TAG_INDEX["water"]] = 0.95  # the model sees water the crowd did not tag
    probs[no_weather, TAG_INDEX["road"]] = 0.01  # and no road where the crowd saw one
    skip = review.index["fresh"]
    rows = [i for i in range(len(review.names)) if i != skip]
    review.add_predictions([review.names[i] for i in rows], probs[rows], model_card.version)
    yes_no, no_yes = review.disagreements()
    # By hand: the model's calls keep the tag rules (one weather tag; no land beside cloudy),
    # so chips whose crowd tags break a rule disagree with the model there too.
    calls = calls_by_hand(probs, review.thresholds, model_card.weather_rule == "argmax")
    expected_yes_no, expected_no_yes = set(), set()
    for i in rows:
        if not review.has_label[i]:
            continue
        crowd = set(review.crowd_tags(i))
        expected_yes_no |= {(i, t) for t in calls[i] - crowd}
        expected_no_yes |= {(i, t) for t in crowd - calls[i]}
    assert {(int(i), TAGS[j]) for i, j in zip(*np.nonzero(yes_no))} == expected_yes_no
    assert {(int(i), TAGS[j]) for i, j in zip(*np.nonzero(no_yes))} == expected_no_yes
    assert (fine, "water") in expected_yes_no and (no_weather, "road") in expected_no_yes
    # Suspicion: log-odds against the 0.2 threshold, plus one per broken rule.
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    scores = review.suspicion()
    assert scores[fine] == pytest.approx(logit(0.95) - logit(0.2), rel=1e-4)
    assert scores[no_weather] == pytest.approx(logit(0.2) - logit(0.01) + 1.0, rel=1e-4)
    assert scores[review.index["cloudy_haze_road"]] == pytest.approx(2.0)
    assert scores[skip] == 0.0
