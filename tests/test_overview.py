"""The Overview's numbers (model/overview.py) against plain pandas and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import fbeta_score, precision_score, recall_score

from model import overview
from model.labels import label_matrix, read_labels
from model.tags import LAND_TAGS, TAGS, WEATHER_TAGS


@pytest.fixture(scope="module")
def train_v2(train_v2_csv):
    labels = read_labels(train_v2_csv)
    names = list(labels)
    plain = pd.read_csv(train_v2_csv)
    dummies = plain.set_index("image_name")["tags"].str.get_dummies(sep=" ")
    return label_matrix(names, labels), dummies.loc[names, list(TAGS)]


def test_tag_counts_match_pandas_and_the_study(train_v2):
    matrix, dummies = train_v2
    counts = overview.tag_counts(crowd=matrix)["crowd"]
    pd.testing.assert_series_equal(
        counts, dummies.sum().rename("crowd").rename_axis("tag"), check_dtype=False
    )
    assert counts["primary"] == 37_513
    assert counts["clear"] == 28_431
    assert counts["agriculture"] == 12_315


def test_cooccurrence_matches_pandas_and_the_study(train_v2):
    matrix, dummies = train_v2
    co = overview.cooccurrence(matrix)
    expected = dummies.T.dot(dummies)
    np.testing.assert_array_equal(co.to_numpy(), expected.to_numpy())
    assert co.loc["clear", "primary"] == 27_668
    assert co.loc["primary", "agriculture"] == 11_972
    assert co.loc["cloudy", "primary"] == 0  # no chip tagged cloudy has another tag
    shares = overview.row_normalised(co)
    assert shares.loc["clear", "primary"] == pytest.approx(27_668 / 28_431)
    np.testing.assert_allclose(np.diag(shares.to_numpy()), 1.0)
    rows = overview.chips_with(matrix, "clear", "primary")
    assert len(rows) == 27_668
    assert set(rows) == set(np.flatnonzero(dummies["clear"].to_numpy() & dummies["primary"]))


def test_disagreements_by_hand():
    # Four chips; the model's calls against the crowd's, counted by hand.
    crowd = np.zeros((4, len(TAGS)), bool)
    calls = np.zeros((4, len(TAGS)), bool)
    idx = TAGS.index
    crowd[0, [idx("clear"), idx("primary")]] = True
    calls[0, [idx("clear"), idx("primary"), idx("road")]] = True  # road: model yes, crowd no
    crowd[1, [idx("haze"), idx("primary"), idx("water")]] = True
    calls[1, [idx("clear"), idx("primary")]] = True  # haze->clear, water: model no, crowd yes
    crowd[2, [idx("cloudy")]] = True
    calls[2, [idx("cloudy")]] = True
    crowd[3, [idx("clear"), idx("road")]] = True  # not known (unpredicted): left out
    known = np.array([True, True, True, False])
    confusion = overview.weather_confusion(calls, crowd, known)
    assert confusion.to_numpy().sum() == 3
    assert confusion.loc["haze", "clear"] == 1
    assert confusion.loc["clear", "clear"] == 1
    assert confusion.loc["cloudy", "cloudy"] == 1
    assert list(overview.chips_in_weather_cell(calls, crowd, known, "haze", "clear")) == [1]
    land = overview.land_disagreements(calls, crowd, known)
    assert list(land.index) == list(LAND_TAGS)
    assert land.loc["road", overview.YES_NO] == 1 and land.loc["road", overview.NO_YES] == 0
    assert land.loc["water", overview.NO_YES] == 1
    assert land.to_numpy().sum() == 2  # chip 3's road (crowd yes, model no) is not known
    assert list(overview.chips_disagreeing(calls, crowd, known, "road", overview.YES_NO)) == [0]
    assert list(overview.chips_disagreeing(calls, crowd, known, "water", overview.NO_YES)) == [1]


def test_threshold_curve_matches_scikit_learn():
    rng = np.random.default_rng(3)
    truth = rng.random(2_000) < 0.2
    probs = np.clip(truth * 0.35 + rng.random(2_000) * 0.6, 0, 1).astype(np.float32)
    probs[:10] = np.nan  # not predicted yet: left out
    curve = overview.threshold_curve(probs, truth).set_index("threshold")
    seen = ~np.isnan(probs)
    for threshold in (0.05, 0.3, 0.55, 0.9, 0.99):
        called = probs[seen] >= np.float32(threshold)
        row = curve.loc[threshold]
        y = truth[seen]
        assert row["precision"] == pytest.approx(precision_score(y, called, zero_division=0))
        assert row["recall"] == pytest.approx(recall_score(y, called, zero_division=0))
        assert row["f1"] == pytest.approx(fbeta_score(y, called, beta=1, zero_division=0))
        assert row["f2"] == pytest.approx(fbeta_score(y, called, beta=2, zero_division=0))


def test_colour_per_tag_and_mean_images_by_hand():
    tags = np.zeros((3, len(TAGS)), bool)
    tags[:, TAGS.index("primary")] = True
    tags[0, TAGS.index("water")] = True
    tags[2, TAGS.index("water")] = True  # its colour is unknown: not counted
    rgb = np.array([[10.0, 20.0, 30.0], [30.0, 40.0, 50.0], [np.nan, np.nan, np.nan]])
    colours = overview.colour_per_tag(tags, rgb)
    assert colours.loc["primary", ["r", "g", "b"]].tolist() == [20.0, 30.0, 40.0]
    assert colours.loc["water", ["r", "g", "b"]].tolist() == [10.0, 20.0, 30.0]
    assert colours.loc["water", "chips"] == 1
    assert colours.loc["haze", "chips"] == 0 and np.isnan(colours.loc["haze", "r"])
    small = np.stack(
        [np.full((2, 2, 3), 10), np.full((2, 2, 3), 31), np.full((2, 2, 3), 250)]
    ).astype(np.uint8)
    images = overview.mean_images(tags, small, read=np.array([True, True, False]))
    assert images.shape == (len(TAGS), 2, 2, 3) and images.dtype == np.uint8
    assert images[TAGS.index("primary")].max() == 20  # (10 + 31) / 2 = 20.5, rounds to even
    assert images[TAGS.index("haze")].max() == 0


def test_csv_round_trips(tmp_path, train_v2):
    matrix, _ = train_v2
    co = overview.cooccurrence(matrix)
    path = tmp_path / "co.csv"
    overview.write_csv(co, path)
    back = pd.read_csv(path, index_col=0)
    np.testing.assert_array_equal(back.to_numpy(), co.to_numpy())
    assert list(back.columns) == list(TAGS) and list(back.index) == list(TAGS)
    assert WEATHER_TAGS[0] in back.index
