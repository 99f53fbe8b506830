"""`python main.py audit`: every labelled chip with its suspicion and reasons, in the same order
and with the same scores as the review window's "Most suspect first"."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from command_line import loaded_tensorflow, run_watching_imports

from model.classifier import Classifier
from model.labels import read_labels, write_labels
from model.predicting import predict_paths
from model.review import ChipQuery, Review
from model.tags import TAG_INDEX, TAGS

REPO_ROOT = Path(__file__).resolve().parent.parent


def _audit(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", "audit", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory, labelled_names, labelled_folder, chip_labels):
    """60 real chips and their crowd labels, one of them with 'haze' for its 'clear', and one
    unlabelled chip."""
    root = tmp_path_factory.mktemp("audit")
    names = labelled_names[200:260]
    folder, labels = labelled_folder(root, names)
    crowd = read_labels(labels)
    victim = next(n for n in names if "clear" in crowd[n])
    crowd[victim] = tuple("haze" if t == "clear" else t for t in crowd[victim])
    del crowd[names[-1]]
    write_labels(labels, crowd)
    return folder, labels, victim, names[-1]


@pytest.fixture(scope="module")
def audited(planted, bundled_model: Path, tmp_path_factory) -> tuple[str, str]:
    """(the suspects CSV `audit --out` wrote, what it said on stderr): one run for the tests
    that read it (each run loads TensorFlow and the model: 10-15 s)."""
    folder, labels, *_ = planted
    out = tmp_path_factory.mktemp("audited") / "suspects.csv"
    result = _audit(folder, "--labels", labels, "--model", bundled_model, "--out", out)
    assert result.returncode == 0, result.stderr
    return out.read_text(), result.stderr


def test_audit_order_and_scores_equal_the_reviews(
    planted, audited, bundled_classifier: Classifier
) -> None:
    folder, labels, victim, unlabelled = planted
    written, said = audited
    rows = list(csv.DictReader(io.StringIO(written)))
    assert "audited 59 labelled chips" in said

    # The window's way: a review of the folder, predictions added batch by batch, its query.
    review = Review(folder, labels)
    try:
        review.set_model(bundled_classifier.card)
        version = bundled_classifier.card.version
        predict_paths(
            bundled_classifier,
            review.unpredicted_paths(),
            on_batch=lambda n, p, f: review.add_predictions(n, p, version, f),
            features=True,
            batch_size=16,
        )
        order = [review.names[i] for i in review.query(ChipQuery(sort="suspicion"))]
        assert [r["image_name"] for r in rows] == [n for n in order if n != unlabelled]
        scores = review.suspicion()
        probs, crowd, thresholds = review.probs, review.current, review.thresholds
    finally:
        review.close()

    # The scores, by hand: each crowd tag's log-odds distance beyond its threshold against it;
    # a chip's worst tag, plus 0.01 for each other, plus 1 per broken rule.
    def logit(p):
        p = np.clip(p, 1e-4, 1 - 1e-4)
        return np.log(p / (1 - p))

    by_name = {r["image_name"]: r for r in rows}
    for name in order:
        if name == unlabelled:
            continue
        i = review.index[name]
        margin = logit(probs[i]) - logit(thresholds)
        against = np.clip(np.where(crowd[i] > 0.5, -margin, margin), 0, None)
        weather = int(crowd[i, [TAG_INDEX[t] for t in TAGS[:4]]].sum())
        cloudy_land = crowd[i, TAG_INDEX["cloudy"]] > 0.5 and crowd[i, 4:].any()
        rules = int(weather != 1) + int(bool(cloudy_land))
        expected = against.max() + 0.01 * (against.sum() - against.max()) + rules
        assert float(by_name[name]["suspicion"]) == pytest.approx(expected, abs=2e-4)
        assert float(by_name[name]["suspicion"]) == pytest.approx(scores[i], abs=1e-4)

    # The planted mistake is found near the top, for the right reason.
    top = [r["image_name"] for r in rows[:3]]
    assert victim in top, (victim, top)
    reasons = by_name[victim]["reasons"]
    assert "clear: model" in reasons and "similar chips have it" in reasons
    assert by_name[victim]["suspect_tags"].split()[:2] in (["clear", "haze"], ["haze", "clear"])


def test_audit_json_is_the_same_list(planted, audited, bundled_model: Path) -> None:
    folder, labels, victim, _ = planted
    as_json = _audit(folder, "--labels", labels, "--model", bundled_model, "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = list(csv.DictReader(io.StringIO(audited[0])))
    items = json.loads(as_json.stdout)
    assert [i["image_name"] for i in items] == [r["image_name"] for r in rows]
    assert [i["suspicion"] for i in items] == pytest.approx([float(r["suspicion"]) for r in rows])
    first = items[0]
    assert set(first) == {
        "image_name",
        "suspicion",
        "level",
        "tags",
        "suspect_tags",
        "broken_rules",
    }
    assert all(set(t) == {"tag", "reason"} for item in items for t in item["suspect_tags"])


def test_audit_of_a_missing_labels_file_is_one_line(planted, tmp_path: Path) -> None:
    folder, *_ = planted
    result = run_watching_imports("audit", folder, "--labels", tmp_path / "nope.csv")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and "nope.csv" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not loaded_tensorflow(result)  # the labels are read before the model loads
