"""The map's layouts on the bundled model's features of real chips: UMAP in its child process
gives the same layout each time, keeps each chip's look-alikes nearer than PCA does
(scikit-learn's trustworthiness on cosine distance as the independent measure), and gives up,
leaving no process behind, when it is no longer wanted."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from model.map_view import UmapProcess, pca_layout

pytest.importorskip("umap", reason="umap-learn is not installed (pip install -e '.[map]')")
N_CHIPS = 300


@pytest.fixture(scope="module")
def features(bundled_classifier, chips_dir: Path) -> np.ndarray:
    from model.chips import list_chips
    from model.decoding import decode_all

    decoded = decode_all(list_chips(chips_dir).paths[:N_CHIPS], bundled_classifier.input_size)
    _, pooled = bundled_classifier.predict_batch_with_features(decoded.images)
    pooled = np.asarray(pooled, dtype=np.float16).astype(np.float32)
    pooled[[5, 77]] = np.nan  # chips the model has not seen yet (or could not read)
    return pooled


@pytest.fixture(scope="module")
def umap_process():
    process = UmapProcess()  # UMAP's loops are compiled once in it, for both tests
    yield process
    process.close()


def test_umap_in_its_process_maps_a_set_the_same_and_keeps_look_alikes_near(
    features: np.ndarray, umap_process: UmapProcess
) -> None:
    from sklearn.manifold import trustworthiness

    child = umap_process.layout(features, seed=0)
    assert child.shape == (len(features), 2)
    assert np.isnan(child[[5, 77]]).all() and not np.isnan(np.delete(child, [5, 77], 0)).any()
    assert umap_process._child is not None and umap_process._child.is_alive()  # kept
    np.testing.assert_array_equal(umap_process.layout(features, seed=0), child)
    # As the app sends them: float16, the dtype and shape travelling with the raw bytes.
    np.testing.assert_array_equal(umap_process.layout(features.astype(np.float16), 0), child)

    have = ~np.isnan(features[:, 0])
    kept = {
        name: trustworthiness(features[have], xy[have], n_neighbors=10, metric="cosine")
        for name, xy in (("umap", child), ("pca", pca_layout(features)))
    }
    assert kept["umap"] > kept["pca"] + 0.02, kept
    assert kept["umap"] > 0.9, kept


def test_a_layout_no_longer_wanted_stops_and_leaves_no_process(
    features: np.ndarray, umap_process: UmapProcess
) -> None:
    asked = []

    def cancelled() -> bool:
        asked.append(len(multiprocessing.active_children()))
        return len(asked) >= 2  # wanted while the child starts, then not

    assert umap_process.layout(features, seed=0, cancelled=cancelled) is None
    assert asked[0] == 1  # the child was running when it was given up
    assert multiprocessing.active_children() == []
    # The next layout starts a new process and still gives the set's layout.
    assert not np.isnan(umap_process.layout(features[:50], seed=0)[:5]).any()
