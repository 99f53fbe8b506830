"""A review of a folder of real chips: crowd labels, predictions (real from the tiny model, or
synthetic where an exact expectation is needed), the list's filters and sorts, editing, export."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from model.card import ModelCard, read_card
from model.chips import natural_key
from model.classifier import Classifier
from model.errors import LabelsError
from model.labels import label_matrix, read_labels, write_labels
from model.metrics import decide, threshold_calls
from model.paths import BUNDLED_MODEL
from model.predicting import predict_paths
from model.review import ChipQuery, Review, find_labels_csv
from model.session import REVIEWED, Change
from model.tags import TAG_INDEX, TAGS, WEATHER_TAGS, from_vector, rule_violations

UNLABELLED = ("test_0", "test_1", "file_0")
# Rows of the real CSV written unusually: tags not in alphabetical order; a repeated tag.
ODD_ROWS = ("train_6074", "train_13019")
YES, NO = 0.9, 0.05  # synthetic probabilities: clearly above / below the 0.2 threshold


# --- the folder, its labels, the model card -------------------------------------------------
@pytest.fixture(scope="module")
def picked(labelled_names: list[str]) -> list[str]:
    """38 labelled chips: the first 36 in natural order and the two odd rows."""
    assert all(n in labelled_names for n in ODD_ROWS)
    return labelled_names[:36] + list(ODD_ROWS)


@pytest.fixture(scope="module")
def raw_rows(labels_csv: Path) -> dict[str, str]:
    """Each chip's row of the real labels CSV exactly as written, without its line end."""
    lines = labels_csv.read_bytes().decode("utf-8-sig").splitlines()
    return {line.split(",", 1)[0]: line for line in lines[1:] if line}


@pytest.fixture(scope="module")
def chip_without_file(labelled_names: list[str]) -> str:
    """A labelled chip whose row is in our CSV but whose file is not in the folder."""
    return labelled_names[100]


@pytest.fixture(scope="module")
def csv_order(raw_rows: dict[str, str], picked: list[str], chip_without_file: str) -> list[str]:
    wanted = set(picked) | {chip_without_file}
    return [n for n in raw_rows if n in wanted]  # the real file's (lexical) order


@pytest.fixture(scope="module")
def csv_text(raw_rows: dict[str, str], csv_order: list[str]) -> str:
    return "image_name,tags\n" + "".join(raw_rows[n] + "\n" for n in csv_order)


@pytest.fixture
def folder(tmp_path: Path, chips_dir: Path, link_chips, picked: list[str]) -> Path:
    out = tmp_path / "chips"
    link_chips(picked + list(UNLABELLED), chips_dir, out)
    return out


@pytest.fixture
def labels_file(tmp_path: Path, csv_text: str) -> Path:
    path = tmp_path / "labels.csv"  # beside the chip folder
    path.write_bytes(csv_text.encode("utf-8"))
    return path


@pytest.fixture
def review(folder: Path, labels_file: Path):
    r = Review(folder, labels_file)
    yield r
    r.close()


@pytest.fixture(scope="module")
def card(tiny_model: Path) -> ModelCard:
    """The tiny model's card with thresholds we know: 0.2, but 0.1 for blow_down; each tag
    decided on its own."""
    thresholds = dict.fromkeys(TAGS, 0.2)
    thresholds["blow_down"] = 0.1
    return dataclasses.replace(
        read_card(tiny_model), thresholds=thresholds, weather_rule="threshold"
    )


@pytest.fixture(scope="module")
def classifier(tiny_model: Path) -> Classifier:
    return Classifier.load(tiny_model)


def agreeing_probs(review: Review) -> np.ndarray:
    """Synthetic predictions that agree with the crowd everywhere (unlabelled: clear primary)."""
    probs = np.where(review.crowd_matrix > 0.5, YES, NO).astype(np.float32)
    unlabelled = ~review.has_label
    probs[unlabelled] = NO
    probs[np.ix_(unlabelled, [TAG_INDEX["clear"], TAG_INDEX["primary"]])] = YES
    return probs


def inject(review: Review, card: ModelCard, probs: np.ndarray, skip: tuple[int, ...] = ()) -> None:
    review.set_model(card)
    rows = [i for i in range(len(review.names)) if i not in skip]
    review.add_predictions([review.names[i] for i in rows], probs[rows], card.version)


def rows_where(review: Review, has: str | None = None, lacks: str | None = None) -> list[int]:
    """Labelled rows whose current tags include `has` and exclude `lacks`."""
    return [
        i
        for i in range(len(review.names))
        if review.has_label[i]
        and (has is None or has in review.tags_now(i))
        and (lacks is None or lacks not in review.tags_now(i))
    ]


def q(review: Review, **kwargs) -> list[int]:
    return [int(i) for i in review.query(ChipQuery(**kwargs))]


# --- opening --------------------------------------------------------------------------------
def test_opens_a_folder_with_its_labels(
    review: Review,
    picked: list[str],
    labels_file: Path,
    chip_labels: dict[str, tuple[str, ...]],
    chip_without_file: str,
) -> None:
    assert review.names == sorted(picked + list(UNLABELLED), key=natural_key)
    assert review.names.index("train_3") < review.names.index("train_10")
    assert review.labels_path == labels_file
    assert review.session.get_meta("labels") == str(labels_file.resolve())
    assert chip_without_file in review.crowd and chip_without_file not in review.index
    for i, name in enumerate(review.names):
        assert review.has_label[i] == (name not in UNLABELLED)
        assert review.crowd_tags(i) == chip_labels.get(name, ())
        assert review.tags_now(i) == [t for t in TAGS if t in chip_labels.get(name, ())]
        claimed = chip_labels.get(name)
        assert review.violations(i) == (rule_violations(claimed) if claimed else [])
    assert np.isnan(review.probs).all()
    assert review.unpredicted_paths() == review.paths
    n_violating = sum(bool(rule_violations(chip_labels[n])) for n in picked)
    assert review.counts() == {
        "chips": len(picked) + len(UNLABELLED),
        "labelled": len(picked),
        "predicted": 0,
        "reviewed": 0,
        "changed": 0,
        "suspects": n_violating,
        "broken": 0,
    }


def test_unlabelled_folder_and_remembered_labels(folder: Path, labels_file: Path) -> None:
    first = Review(folder, labels_file)
    first.set_tag([0], "water", True)
    first.close()
    # Opened again without naming the labels: the session's labels and decisions come back.
    again = Review(folder)
    try:
        assert again.labels_path == labels_file.resolve()
        assert "water" in again.tags_now(0) and again.is_changed(0)
    finally:
        again.close()
    # With the remembered labels gone, the folder opens unlabelled.
    labels_file.unlink()
    bare = Review(folder)
    try:
        assert bare.labels_path is None and bare.crowd == {}
        assert not bare.has_label.any()
        assert bare.tags_now(0) == ["water"]  # the decision stands, over no crowd tags
        assert bare.violation_counts()[0] == 1  # a decided chip with no weather tag
        assert bare.violation_counts()[1:].sum() == 0  # nothing claimed on the others
    finally:
        bare.close()


# --- predictions ----------------------------------------------------------------------------
def test_real_predictions_from_the_tiny_model(
    review: Review, classifier: Classifier, tiny_model: Path
) -> None:
    card = read_card(tiny_model)
    assert review.set_model(card) == 0
    touched: list[int] = []
    result = predict_paths(
        classifier,
        review.unpredicted_paths(),
        on_batch=lambda names, probs: touched.extend(
            review.add_predictions(names, probs, card.version)
        ),
        batch_size=16,
    )
    assert not result.errors
    assert result.names == review.names
    assert sorted(touched) == list(range(len(review.names)))
    assert review.predicted.all() and review.unpredicted_paths() == []
    np.testing.assert_allclose(review.probs, result.probs, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(review.calls, classifier.decide(result.probs))

    scores = review.suspicion()
    assert np.isfinite(scores).all() and (scores >= 0).all()
    order = q(review)
    assert sorted(order) == list(range(len(review.names)))
    assert np.all(np.diff(scores[order]) <= 0)
    yes_no, no_yes = review.disagreements()
    crowd = review.crowd_matrix > 0.5
    labelled = review.has_label
    np.testing.assert_array_equal(yes_no[labelled], (review.calls & ~crowd)[labelled])
    np.testing.assert_array_equal(no_yes[labelled], (~review.calls & crowd)[labelled])
    assert not yes_no[~labelled].any() and not no_yes[~labelled].any()

    # The batches were saved in the session: a second review of the folder reuses them.
    again = Review(review.folder)
    try:
        assert again.set_model(card) == len(review.names)
        np.testing.assert_array_equal(again.probs, review.probs)
        assert again.unpredicted_paths() == []
        # Another model version has none cached.
        assert again.set_model(dataclasses.replace(card, version="other")) == 0
        assert not again.predicted.any()
    finally:
        again.close()


def test_a_chip_that_fails_to_decode_is_marked_broken(
    tmp_path: Path,
    chips_dir: Path,
    link_chips,
    labelled_names: list[str],
    chip_labels: dict[str, tuple[str, ...]],
    classifier: Classifier,
    tiny_model: Path,
) -> None:
    names = labelled_names[:8]
    bad = names[3]
    folder = tmp_path / "chips"
    link_chips([n for n in names if n != bad], chips_dir, folder)
    data = (chips_dir / f"{bad}.jpg").read_bytes()
    (folder / f"{bad}.jpg").write_bytes(data[: len(data) // 3])  # truncated
    (folder / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    labels = tmp_path / "labels.csv"
    write_labels(labels, {n: chip_labels[n] for n in names})

    review = Review(folder, labels)
    try:
        assert review.names == names  # the dangling link is not a chip...
        assert list(review.broken) == ["gone"]  # ...but it is reported
        review.set_model(read_card(tiny_model))
        version = review.card.version
        result = predict_paths(
            classifier,
            review.unpredicted_paths(),
            on_batch=lambda names, probs: review.add_predictions(names, probs, version),
        )
        assert [Path(e.path).stem for e in result.errors] == [bad]
        for error in result.errors:
            review.mark_broken(Path(error.path).stem, error.reason)
        assert "truncated" in review.broken[bad]
        bad_row = review.index[bad]
        assert review.predicted.sum() == len(names) - 1 and not review.predicted[bad_row]
        assert review.unpredicted_paths() == []  # a broken chip is not asked for again
        assert q(review, kind="broken") == [bad_row]
        counts = review.counts()
        assert counts["broken"] == 2 and counts["predicted"] == len(names) - 1
        # The rest go on: the broken chip can still be reviewed and exported.
        tag = next(t for t in ("road", "water", "bare_ground") if t not in chip_labels[bad])
        review.set_tag([bad_row], tag, True)
        out = tmp_path / "out.csv"
        assert review.export_labels(out) == len(names)
        assert tag in read_labels(out)[bad]
    finally:
        review.close()


# --- the list: filters --------------------------------------------------------------------
def test_query_text(review: Review) -> None:
    expected = [i for i, n in enumerate(review.names) if "train_1" in n]
    assert 0 < len(expected) < len(review.names)
    assert q(review, text="TRAIN_1", sort="name") == expected
    assert q(review, text="test_", sort="name") == [review.index[n] for n in ("test_0", "test_1")]
    assert q(review, text="no such chip") == []
    assert q(review, text="", sort="name") == list(range(len(review.names)))


def test_query_kinds(review: Review, card: ModelCard) -> None:
    probs = agreeing_probs(review)
    no_yes_row = rows_where(review, has="primary")[0]  # the model misses a crowd tag
    yes_no_row = rows_where(review, lacks="road")[1]  # the model sees a tag the crowd missed
    assert no_yes_row != yes_no_row
    probs[no_yes_row, TAG_INDEX["primary"]] = 0.01
    probs[yes_no_row, TAG_INDEX["road"]] = 0.95
    unpredicted = rows_where(review, has="primary")[2]
    probs[unpredicted, TAG_INDEX["primary"]] = 0.01  # would disagree, but is never predicted
    unlabelled = review.index["test_0"]
    probs[unlabelled, TAG_INDEX["water"]] = 0.95  # no crowd to disagree with
    inject(review, card, probs, skip=(unpredicted,))

    assert q(review, kind="all", sort="name") == list(range(len(review.names)))
    assert q(review, kind="model_yes_crowd_no") == [yes_no_row]
    assert q(review, kind="model_no_crowd_yes") == [no_yes_row]
    assert q(review, kind="disagreements", sort="name") == sorted([no_yes_row, yes_no_row])
    assert q(review, kind="disagreements", text=review.names[yes_no_row]) == [yes_no_row]
    violating = [i for i in range(len(review.names)) if rule_violations(review.crowd_tags(i))]
    violating = [i for i in violating if review.has_label[i]]
    assert q(review, kind="violations", sort="name") == violating
    assert q(review, kind="broken") == []

    # Violations: a chip left with no weather tag, and one made cloudy over its land tags.
    no_weather = rows_where(review, has="clear")[3]
    review.set_tag([no_weather], "clear", False)
    cloudy = rows_where(review, has="agriculture")[0]
    review.set_tag([cloudy], "cloudy", True)
    assert review.violations(no_weather) == ["no weather tag"]
    assert review.violations(cloudy)[0].startswith("cloudy with land tags: ")
    assert q(review, kind="violations", sort="name") == sorted({*violating, no_weather, cloudy})
    counts = review.violation_counts()
    assert [len(review.violations(i)) for i in range(len(review.names))] == list(counts)
    # The reviewer's tags are what the model is compared with now.
    assert yes_no_row in q(review, kind="model_yes_crowd_no")
    review.set_tag([yes_no_row], "road", True)
    assert yes_no_row not in q(review, kind="model_yes_crowd_no")

    broken = review.index["test_1"]
    review.mark_broken("test_1", "cannot decode: truncated file")
    assert q(review, kind="broken") == [broken]


def test_query_review_states(review: Review) -> None:
    review.mark_reviewed([1, 4])
    water_row = rows_where(review, lacks="water")[5]
    road_row = rows_where(review, lacks="road")[6]
    review.set_tag([water_row], "water", True)
    review.set_tag([road_row], "road", True)
    everyone = list(range(len(review.names)))
    assert q(review, reviewed="any", sort="name") == everyone
    assert q(review, reviewed="reviewed", sort="name") == [1, 4]
    assert q(review, reviewed="unreviewed", sort="name") == [i for i in everyone if i not in (1, 4)]
    assert q(review, reviewed="changed", sort="name") == sorted([water_row, road_row])
    # Setting the crowd's value back is no longer a change; reviewing is never one.
    review.set_tag([road_row], "road", False)
    assert q(review, reviewed="changed") == [water_row]
    review.mark_reviewed([1], False)
    assert q(review, reviewed="reviewed") == [4]


def test_query_tag_and_above_threshold(review: Review, card: ModelCard) -> None:
    with_water = [i for i in range(len(review.names)) if "water" in review.crowd_tags(i)]
    assert 0 < len(with_water) < len(review.names)
    assert q(review, tag="water", sort="name") == with_water
    add, remove = rows_where(review, lacks="water")[0], with_water[0]
    review.set_tag([add], "water", True)
    review.set_tag([remove], "water", False)
    assert q(review, tag="water", sort="name") == sorted(set(with_water) - {remove} | {add})

    rng = np.random.default_rng(3)
    probs = rng.uniform(0, 0.4, (len(review.names), len(TAGS))).astype(np.float32)
    blow = TAG_INDEX["blow_down"]
    probs[:, blow] = 0.05
    rare = review.index["train_9"]
    probs[rare, blow] = 0.15  # above blow_down's own 0.1 threshold, below the usual 0.2
    unpredicted = 0
    probs[unpredicted] = 0.99  # would be above every threshold, but is never predicted
    inject(review, card, probs, skip=(unpredicted,))

    # The model's calls (what it would write), which keep the tag rules: a chip it calls cloudy
    # has no land tag even where one is above its threshold.
    cols = [TAG_INDEX["road"], TAG_INDEX["water"]]
    calls = decide(probs, review.thresholds, weather_argmax=False)
    expected = [i for i in range(len(review.names)) if i != unpredicted and calls[i, cols].any()]
    assert 0 < len(expected) < len(review.names) - 1
    assert q(review, above_threshold=["road", "water"], sort="name") == expected
    assert q(review, above_threshold=["blow_down"]) == [rare]
    assert q(review, above_threshold=["blow_down"], tag="water") == (
        [rare] if "water" in review.tags_now(rare) else []
    )


# --- the list: sorts ----------------------------------------------------------------------
def test_sorts(review: Review, card: ModelCard) -> None:
    n = len(review.names)
    assert q(review, sort="name") == list(range(n))
    assert review.names == sorted(review.names, key=natural_key)

    rng = np.random.default_rng(4)
    probs = rng.uniform(0, 1, (n, len(TAGS))).astype(np.float32)
    probs[5:8, TAG_INDEX["water"]] = 0.5  # a tie: kept in folder order
    unpredicted = (2, 9)
    inject(review, card, probs, skip=unpredicted)

    by_water = q(review, sort="probability", sort_tag="water")
    p = review.probs[by_water, TAG_INDEX["water"]]
    assert sorted(by_water) == list(range(n))
    assert by_water[-2:] == list(unpredicted)  # not predicted: last, in folder order
    assert np.all(np.diff(p[:-2]) <= 0)
    assert [i for i in by_water if i in (5, 6, 7)] == [5, 6, 7]

    tags = ["road", "haze"]
    by_max = q(review, sort="probability", above_threshold=tags)
    cols = [TAG_INDEX[t] for t in tags]
    assert set(by_max) == set(q(review, above_threshold=tags))
    top = review.probs[by_max][:, cols].max(axis=1)
    assert np.all(np.diff(top) <= 0)
    assert q(review, sort="probability") == list(range(n))  # no tag named: folder order

    scores = review.suspicion()
    by_suspicion = q(review, sort="suspicion")
    assert sorted(by_suspicion) == list(range(n))
    assert np.all(np.diff(scores[by_suspicion]) <= 0)
    for value in np.unique(scores):
        same = [i for i in by_suspicion if scores[i] == value]
        assert same == sorted(same)
    # A filtered list keeps the same order.
    subset = q(review, text="train_1", sort="suspicion")
    assert subset == [i for i in by_suspicion if "train_1" in review.names[i]]


# --- the planted mistake ------------------------------------------------------------------
def test_a_planted_mistake_comes_first(
    tmp_path: Path,
    folder: Path,
    raw_rows: dict[str, str],
    csv_order: list[str],
    chip_labels: dict[str, tuple[str, ...]],
    picked: list[str],
    card: ModelCard,
) -> None:
    victim = [n for n in picked if "primary" in chip_labels[n]][17]
    planted = tmp_path / "planted.csv"
    rows = []
    for name in csv_order:
        if name == victim:
            rows.append(f"{name},{' '.join(t for t in chip_labels[name] if t != 'primary')}")
        else:
            rows.append(raw_rows[name])
    planted.write_text("image_name,tags\n" + "\n".join(rows) + "\n")

    review = Review(folder, planted)
    try:
        m = review.index[victim]
        assert "primary" not in review.tags_now(m)
        # The model saw the truth: the real labels, primary included, at 0.99 for the victim.
        truth = np.array(
            [[t in chip_labels.get(n, ("clear", "primary")) for t in TAGS] for n in review.names]
        )
        probs = np.where(truth, YES, NO).astype(np.float32)
        probs[m, TAG_INDEX["primary"]] = 0.99
        weak = [r for r in rows_where(review, lacks="water") if r != m][2:4]  # slight doubts
        probs[weak, TAG_INDEX["water"]] = 0.25
        inject(review, card, probs)

        scores = review.suspicion()
        assert scores[m] > 0 and all(scores[w] > 0 for w in weak)
        assert np.count_nonzero(scores) == 3
        assert int(np.argmax(review.tag_suspicion()[m])) == TAG_INDEX["primary"]
        assert q(review)[:3] == [m, *weak]
        assert review.next_suspect(None) == m
        assert review.next_suspect(m) == weak[0]  # equal scores: folder order
        # Only the planted mistake counts as a suspect: 0.99 against a 0.2 threshold is 5.98 in
        # log-odds (medium); 0.25 is 0.29, a doubt no stronger than right tags get.
        assert review.suspicion_levels()[[m, *weak]].tolist() == [2, 0, 0]
        assert review.counts()["suspects"] == 1

        # Reviewed chips are skipped; accepting the model's call clears the doubt.
        review.mark_reviewed([m])
        assert review.next_suspect(None) == weak[0]
        assert review.counts()["suspects"] == 0
        review.undo()
        changes = review.accept_model([m], ["primary"])
        assert changes == [Change(victim, "primary", False, True)]
        assert review.suspicion()[m] == 0
        assert review.next_suspect(None) == weak[0]
        assert review.next_suspect(weak[0]) == weak[1]
        assert review.next_suspect(weak[1]) == weak[0]
        review.mark_reviewed(weak)
        assert review.next_suspect(None) is None
    finally:
        review.close()


# --- editing ------------------------------------------------------------------------------
def _weather(review: Review, i: int) -> list[str]:
    return [t for t in review.tags_now(i) if t in WEATHER_TAGS]


def test_set_weather_tag_replaces_the_other_in_one_action(review: Review) -> None:
    i = rows_where(review, has="clear")[0]
    before = review.current.copy()
    changes = review.set_tag([i], "haze", True)
    assert {(c.tag, c.old, c.new) for c in changes} == {
        ("haze", False, True),
        ("clear", True, False),
    }
    assert _weather(review, i) == ["haze"] and review.violations(i) == []
    assert review.rows_of(changes) == [i]
    assert review.session.can_undo()
    undone = review.undo()
    assert len(undone) == 2
    np.testing.assert_array_equal(review.current, before)
    assert not review.session.can_undo()
    review.redo()
    assert _weather(review, i) == ["haze"]

    # Many chips with different weather: each ends with exactly the new one, in one action.
    rows = [
        rows_where(review, has="clear")[1],
        rows_where(review, has="partly_cloudy")[0],
        rows_where(review, has="cloudy")[0],
        i,  # already haze: only its no-ops, nothing recorded for it
    ]
    before = review.current.copy()
    changes = review.set_tag(rows, "haze", True)
    assert review.rows_of(changes) == sorted(rows[:3])
    for r in rows:
        assert _weather(review, r) == ["haze"]
    review.undo()
    np.testing.assert_array_equal(review.current, before)

    # Turning a weather tag off takes only that tag away.
    review.set_tag([i], "haze", False)
    assert _weather(review, i) == [] and review.violations(i) == ["no weather tag"]


def test_toggle_on_a_multi_selection(review: Review) -> None:
    has_road = rows_where(review, has="road")[0]
    lack_road = rows_where(review, lacks="road")[:2]
    before = review.current.copy()
    road = TAG_INDEX["road"]

    changes = review.toggle([lack_road[0], has_road, lack_road[1]], "road")
    assert sorted(review.rows_of(changes)) == sorted(lack_road)  # the first chip decides: on
    assert all(review.current[r, road] == 1 for r in [*lack_road, has_road])
    after_first = review.current.copy()

    changes = review.toggle([has_road, lack_road[0]], "road")  # first has road: both off
    assert review.rows_of(changes) == sorted([has_road, lack_road[0]])
    assert review.current[has_road, road] == 0 and review.current[lack_road[0], road] == 0
    assert review.current[lack_road[1], road] == 1

    review.undo()
    np.testing.assert_array_equal(review.current, after_first)
    review.undo()
    np.testing.assert_array_equal(review.current, before)
    assert review.toggle([], "road") == []

    # Toggling a weather tag on is a set_tag: it replaces the chip's weather.
    clear_row = rows_where(review, has="clear")[0]
    review.toggle([clear_row], "partly_cloudy")
    assert _weather(review, clear_row) == ["partly_cloudy"]


def test_accept_model(review: Review, card: ModelCard) -> None:
    rng = np.random.default_rng(5)
    probs = rng.uniform(0, 0.45, (len(review.names), len(TAGS))).astype(np.float32)
    unpredicted = 4
    inject(review, card, probs, skip=(unpredicted,))
    predicted = review.predicted.copy()
    assert not predicted[unpredicted] and predicted.sum() == len(review.names) - 1
    before = review.current.copy()
    everyone = list(range(len(review.names)))
    water = TAG_INDEX["water"]

    changes = review.accept_model(everyone, ["water"])
    calls_water = review.calls[:, water].astype(np.float32)
    np.testing.assert_array_equal(review.current[predicted, water], calls_water[predicted])
    others = [c for c in range(len(TAGS)) if c != water]
    np.testing.assert_array_equal(review.current[:, others], before[:, others])
    np.testing.assert_array_equal(review.current[unpredicted], before[unpredicted])
    assert len(changes) == int((before[predicted, water] != calls_water[predicted]).sum()) > 0
    assert {c.tag for c in changes} == {"water"}
    review.undo()
    np.testing.assert_array_equal(review.current, before)

    changes = review.accept_model(everyone)
    np.testing.assert_array_equal(review.current[predicted] > 0.5, review.calls[predicted])
    np.testing.assert_array_equal(review.current[unpredicted], before[unpredicted])
    assert review.undo() == [Change(c.chip, c.tag, c.new, c.old) for c in reversed(changes)]
    np.testing.assert_array_equal(review.current, before)
    assert review.accept_model([unpredicted]) == []


def test_accepting_the_models_weather_tag_replaces_the_crowds(
    review: Review, card: ModelCard
) -> None:
    # Every chip: the model calls haze only, so taking its haze must leave haze alone.
    probs = np.full((len(review.names), len(TAGS)), NO, dtype=np.float32)
    probs[:, TAG_INDEX["haze"]] = YES
    inject(review, card, probs)
    i = rows_where(review, has="clear")[0]
    changes = review.accept_model([i], ["haze"])
    assert {(c.tag, c.old, c.new) for c in changes} == {
        ("haze", False, True),
        ("clear", True, False),
    }
    assert _weather(review, i) == ["haze"] and review.violations(i) == []
    review.undo()
    assert _weather(review, i) == ["clear"]

    # Taking a weather tag the model does not call only turns that tag off.
    review.accept_model([i], ["cloudy"])
    assert _weather(review, i) == ["clear"]


def test_mark_reviewed(review: Review) -> None:
    changes = review.mark_reviewed([0, 2, 3])
    assert {(c.chip, c.tag) for c in changes} == {(review.names[i], REVIEWED) for i in (0, 2, 3)}
    assert [review.is_reviewed(i) for i in range(4)] == [True, False, True, True]
    assert review.counts()["reviewed"] == 3 and review.counts()["changed"] == 0
    assert not any(review.is_changed(i) for i in range(len(review.names)))
    assert review.mark_reviewed([0, 2]) == []  # already reviewed
    assert len(review.mark_reviewed([2, 3], False)) == 2
    assert list(np.flatnonzero(review.reviewed)) == [0]
    review.undo()
    assert list(np.flatnonzero(review.reviewed)) == [0, 2, 3]


def test_undo_and_redo_through_the_review(review: Review) -> None:
    snapshots = [(review.current.copy(), review.reviewed.copy())]
    steps = [
        lambda: review.set_tag([rows_where(review, lacks="water")[0]], "water", True),
        lambda: review.toggle([1, 2, 3], "bare_ground"),
        lambda: review.mark_reviewed([5, 6]),
        lambda: review.set_tag([7], "haze", True),
    ]
    for step in steps:
        assert step()
        snapshots.append((review.current.copy(), review.reviewed.copy()))
    for k in range(len(steps), 0, -1):
        changes = review.undo()
        assert changes
        np.testing.assert_array_equal(review.current, snapshots[k - 1][0])
        np.testing.assert_array_equal(review.reviewed, snapshots[k - 1][1])
    assert review.undo() == [] and review.counts()["changed"] == 0
    for k in range(1, len(steps) + 1):
        review.redo()
        np.testing.assert_array_equal(review.current, snapshots[k][0])
        np.testing.assert_array_equal(review.reviewed, snapshots[k][1])
    assert review.redo() == []
    # Undo, then a new edit: the redo history is gone.
    review.undo()
    review.set_tag([8], "road", not bool(review.current[8, TAG_INDEX["road"]]))
    assert review.redo() == [] and not review.session.can_redo()


def test_reopening_says_what_the_session_held(folder: Path, labels_file: Path) -> None:
    first = Review(folder, labels_file)
    assert first.resumed() == {"reviewed": 0, "changed": 0, "decisions": 0}
    with_clear = rows_where(first, has="clear")[:3]
    first.set_tag(with_clear[:2], "haze", True)  # haze on, clear off: 2 decisions a chip
    first.set_tag([with_clear[2]], "water", "water" not in first.tags_now(with_clear[2]))
    first.mark_reviewed([0, 1, 2, with_clear[0]])
    first.mark_reviewed([2], False)  # taken back
    first.toggle([5], "road")  # a toggle...
    first.undo()  # ...undone: not a decision any more
    first.close()

    again = Review(folder, labels_file)
    try:
        reviewed = {0, 1, with_clear[0]}
        assert again.resumed() == {"reviewed": len(reviewed), "changed": 3, "decisions": 5}
        assert {i for i in range(len(again.names)) if again.is_reviewed(i)} == reviewed
    finally:
        again.close()


def test_a_second_window_on_the_same_folder(folder: Path, labels_file: Path) -> None:
    one, two = Review(folder, labels_file), Review(folder)
    try:
        x, y, z = rows_where(one, lacks="water")[:3]
        two.set_tag([x], "water", True)
        one.set_tag([z], "water", True)  # an edit picks up what the other window wrote
        assert "water" in one.tags_now(x)

        two.set_tag([y], "water", True)
        two.set_tag([x], "road", not bool(two.current[x, TAG_INDEX["road"]]))
        one.undo()  # undoes the latest action of either window: two's road on x
        assert "water" in one.tags_now(y)  # and still sees two's other edit
        expected_x = [t for t in TAGS if t in set(one.crowd_tags(x)) | {"water"}]
        assert one.tags_now(x) == expected_x
        out = folder.parent / "out.csv"
        one.export_labels(out)
        exported = read_labels(out)
        assert all("water" in exported[one.names[r]] for r in (x, y, z))

        # Exporting right after the other window's edit, with no edit here in between.
        w = rows_where(one, lacks="water")[0]
        two.set_tag([w], "water", True)
        one.export_labels(out)
        assert "water" in read_labels(out)[one.names[w]]
    finally:
        one.close()
        two.close()


# --- export -------------------------------------------------------------------------------
def test_export_unchanged_is_the_labels_file_byte_for_byte(
    review: Review, labels_file: Path, tmp_path: Path
) -> None:
    review.mark_reviewed([0, 1])  # reviewing changes no row
    out = tmp_path / "out.csv"
    assert review.export_labels(out) == len(review.crowd)
    assert out.read_bytes() == labels_file.read_bytes()


def test_export_labels(
    review: Review,
    card: ModelCard,
    tmp_path: Path,
    raw_rows: dict[str, str],
    csv_order: list[str],
    chip_labels: dict[str, tuple[str, ...]],
) -> None:
    unsorted, repeated = ODD_ROWS
    assert raw_rows[unsorted].split(",")[1].split() != sorted(chip_labels[unsorted])
    probs = agreeing_probs(review)
    probs[review.index["test_1"], TAG_INDEX["water"]] = 0.95
    inject(review, card, probs, skip=(review.index["file_0"],))

    drop_primary = rows_where(review, has="primary")[4]
    changed_names = {unsorted, review.names[drop_primary]}
    review.set_tag([review.index[unsorted]], "water", True)
    review.set_tag([drop_primary], "primary", False)
    review.set_tag([review.index["test_0"]], "haze", True)  # an unlabelled chip, decided
    review.set_tag([review.index["test_0"]], "road", True)
    road_back = [
        r for r in rows_where(review, lacks="road") if review.names[r] not in changed_names
    ][0]
    review.set_tag([road_back], "road", True)
    review.set_tag([road_back], "road", False)  # decided, but back to the crowd's
    changed = changed_names

    out = tmp_path / "corrected.csv"
    assert review.export_labels(out) == len(csv_order) + 1
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "image_name,tags" and lines[-1] == ""
    rows = lines[1:-1]
    assert [r.split(",")[0] for r in rows] == [*csv_order, "test_0"]
    for name, row in zip(csv_order, rows):
        if name in changed:
            tags = row.split(",")[1].split()
            assert tags == sorted(tags)
            assert tags == sorted(review.tags_now(review.index[name]))
        else:
            assert row == raw_rows[name]  # the crowd's row, untouched
    assert f"{repeated},{' '.join(chip_labels[repeated])}" in rows  # the repeated tag kept
    assert "water" in rows[csv_order.index(unsorted)]
    assert "primary" not in rows[csv_order.index(review.names[drop_primary])].split(",")[1]
    assert rows[-1] == "test_0,haze road"

    # Read back as labels, and usable for training: every name a chip or a crowd row.
    exported = read_labels(out)
    assert set(exported) <= set(review.names) | set(review.crowd)
    in_folder = [n for n in review.names if n in exported]
    matrix = label_matrix(in_folder, exported)
    assert matrix.shape == (len(in_folder), len(TAGS))
    assert matrix[in_folder.index("test_0")].sum() == 2

    # The model's tags for the other unlabelled chips, only when asked, only where predicted.
    out2 = tmp_path / "with_model.csv"
    assert review.export_labels(out2, include_model_for_unlabelled=True) == len(csv_order) + 2
    with_model = read_labels(out2)
    assert with_model["test_1"] == ("clear", "primary", "water")
    assert with_model["test_0"] == ("haze", "road")  # the reviewer's tags, not the model's
    assert "file_0" not in with_model  # not predicted
    assert out2.read_text().startswith(out.read_text().rsplit("test_0,", 1)[0])


def test_export_keeps_crlf_rows_content(
    review: Review, tmp_path: Path, labels_csv: Path, raw_rows: dict[str, str], picked: list[str]
) -> None:
    """The real chips_labels.csv ends its lines in CRLF: the export keeps CRLF, and every row
    but the corrected one comes back byte for byte."""
    crlf = tmp_path / "crlf.csv"
    wanted = set(picked)
    crlf.write_bytes(
        b"image_name,tags\r\n"
        + b"".join(raw_rows[n].encode() + b"\r\n" for n in raw_rows if n in wanted)
    )
    other = Review(review.folder, crlf)
    try:
        r = rows_where(other)[0]
        other.set_tag([r], "water", not bool(other.current[r, TAG_INDEX["water"]]))
        out = tmp_path / "out.csv"
        other.export_labels(out)
        assert out.read_bytes().count(b"\r\n") == crlf.read_bytes().count(b"\r\n")
        exported = out.read_bytes().split(b"\r\n")
        source = crlf.read_bytes().split(b"\r\n")
        assert len(exported) == len(source)
        differ = [(a, b) for a, b in zip(source, exported) if a != b]
        assert len(differ) == 1 and differ[0][0].startswith(other.names[r].encode() + b",")
    finally:
        other.close()


def test_export_change_log(review: Review, tmp_path: Path) -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    review.set_tag([0], "water", not bool(review.current[0, TAG_INDEX["water"]]))
    review.set_tag([1], "haze", True)
    review.mark_reviewed([2])
    review.undo()
    after = dt.datetime.now(dt.timezone.utc)
    out = tmp_path / "log.csv"
    log = review.session.change_log()
    assert review.export_change_log(out) == len(log) >= 3
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["image_name", "tag", "old", "new", "time", "state"]
    assert len(rows) == len(log) + 1
    for row, entry in zip(rows[1:], log):
        assert row[:4] == [entry[0], entry[1], str(entry[2]), str(entry[3])]
        assert row[5] == entry[5]
        when = dt.datetime.fromisoformat(row[4])
        assert when.utcoffset() == dt.timedelta(0)
        assert before <= when <= after
    assert rows[-1][1] == REVIEWED and rows[-1][5] == "undone"
    assert {r[5] for r in rows[1:-1]} == {"done"}


def test_export_predictions(review: Review, card: ModelCard, tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    probs = rng.uniform(0, 0.5, (len(review.names), len(TAGS))).astype(np.float32)
    skip = (0, 10)
    inject(review, card, probs, skip=skip)
    out = tmp_path / "predictions.csv"
    kept = [n for i, n in enumerate(review.names) if i not in skip]
    assert review.export_predictions(out) == len(kept)
    exported = read_labels(out)
    assert list(exported) == kept
    calls = decide(probs, review.thresholds, weather_argmax=False)
    for name in kept:
        i = review.index[name]
        assert list(exported[name]) == sorted(from_vector(calls[i]))
        assert rule_violations(exported[name]) == []
    text = out.read_text()
    assert all(list(tags) == sorted(tags) for tags in exported.values()) and text.endswith("\n")


@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason=f"no bundled model at {BUNDLED_MODEL}")
def test_nothing_written_from_the_models_calls_breaks_a_rule(
    review: Review, tmp_path: Path
) -> None:
    """The bundled model on these real chips: its plain threshold calls break the tag rules on
    some of them (two weather tags, cloudy with land), yet no row of the predictions export, of
    accept-all, or of the field team's export of the model's tags for unlabelled chips does."""
    bundled = Classifier.load(BUNDLED_MODEL)
    review.set_model(bundled.card)
    result = predict_paths(bundled, review.unpredicted_paths())
    review.add_predictions(result.names, result.probs, bundled.card.version)
    plain = threshold_calls(result.probs, review.thresholds)
    assert sum(bool(rule_violations(from_vector(row))) for row in plain) >= 3

    out = tmp_path / "predictions.csv"
    assert review.export_predictions(out) == len(review.names)
    assert {n: rule_violations(t) for n, t in read_labels(out).items() if rule_violations(t)} == {}

    review.accept_model(list(range(len(review.names))))
    assert [review.names[i] for i in range(len(review.names)) if review.violations(i)] == []
    review.undo()

    field = tmp_path / "field.csv"
    review.export_labels(field, include_model_for_unlabelled=True)
    written = read_labels(field)
    assert all(name in written for name in UNLABELLED)
    assert [n for n in UNLABELLED if rule_violations(written[n])] == []


# --- finding and reading the labels ---------------------------------------------------------
def test_find_labels_csv(tmp_path: Path) -> None:
    folder = tmp_path / "chips"
    folder.mkdir()
    assert find_labels_csv(folder) is None
    (tmp_path / "a_probabilities.csv").write_text("image_name,clear,haze\ntrain_0,0.1,0.2\n")
    (tmp_path / "b_notes.csv").write_bytes(b"\xff\xfe not text")
    (tmp_path / "c.csv").mkdir()
    assert find_labels_csv(folder) is None
    beside = tmp_path / "labels.csv"
    beside.write_text("image_name,tags\ntrain_0,clear\n")
    assert find_labels_csv(folder) == beside
    (folder / "other.csv").write_text("name,value\nx,1\n")
    assert find_labels_csv(folder) == beside
    inside = folder / "z.csv"
    inside.write_bytes("\ufeff Image_Name , Tags\r\ntrain_0,clear\r\n".encode())
    assert find_labels_csv(folder) == inside  # in the folder before beside it
    assert find_labels_csv(tmp_path / "missing") == beside


def test_labels_are_found_then_remembered_per_folder(
    tmp_path: Path, folder: Path, labels_file: Path, csv_text: str
) -> None:
    """A CSV beside the folder is found; an explicit choice is remembered over it; so is the
    choice of no labels at all."""
    first = Review(folder, find_labels=True)
    assert first.labels_found and first.labels_path == labels_file and first.crowd
    first.close()
    other = tmp_path / "elsewhere" / "mine.csv"
    other.parent.mkdir()
    other.write_bytes(csv_text.encode("utf-8").replace(b"\n", b"\r\n"))
    Review(folder, other).close()
    again = Review(folder, find_labels=True)
    assert again.labels_path == other and not again.labels_found
    again.close()
    Review(folder, no_labels=True).close()
    bare = Review(folder, find_labels=True)
    assert bare.labels_path is None and not bare.crowd and not bare.has_label.any()
    bare.close()


def test_unknown_tag_is_a_one_line_labels_error(tmp_path: Path, folder: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("image_name,tags\ntrain_0,clear primary\ntrain_3,clear cloudz\n")
    with pytest.raises(LabelsError) as info:
        Review(folder, bad)
    message = str(info.value)
    assert "\n" not in message
    assert str(bad) in message and "cloudz" in message and "row 3" in message


def test_counts_and_suspicion_levels(review: Review, card: ModelCard) -> None:
    labelled = rows_where(review)
    lack_road = rows_where(review, lacks="road")
    doubted, weakly = lack_road[:2], lack_road[2]
    unpredicted, reviewed_only = [r for r in labelled if r not in lack_road[:3]][:2]
    taken = (*doubted, weakly, unpredicted, reviewed_only)
    changed = [r for r in rows_where(review, lacks="water") if r not in taken][0]
    no_weather = [r for r in rows_where(review, has="clear") if r not in (*taken, changed)][0]
    probs = agreeing_probs(review)
    # Against the crowd's "no road", in log-odds over the 0.2 threshold: sure (9.21 + 1.39),
    # and hardly (0 + 1.39, though the model calls road there too).
    probs[doubted, TAG_INDEX["road"]] = 0.9999
    probs[weakly, TAG_INDEX["road"]] = 0.5
    inject(review, card, probs, skip=(unpredicted,))
    review.mark_reviewed([doubted[0], reviewed_only])
    review.set_tag([changed], "water", True)  # the model's 0.05 says no: 1.56 against
    review.set_tag([no_weather], "clear", False)  # the model's 0.9 says clear: 3.58 against
    review.mark_broken("train_0", "cannot decode")

    expected = np.zeros(len(review.names), dtype=int)
    expected[doubted] = 3
    expected[no_weather] = 1
    assert review.suspicion_levels().tolist() == expected.tolist()
    assert review.disagreements()[0][weakly, TAG_INDEX["road"]]  # a disagreement, no suspect
    assert review.counts() == {
        "chips": len(review.names),
        "labelled": len(review.names) - len(UNLABELLED),
        "predicted": len(review.names) - 1,
        "reviewed": 2,
        "changed": 2,
        "suspects": 2,  # doubted[1] and no_weather: doubted[0] is reviewed
        "broken": 1,
    }
