"""Shared fixtures: the real Planet data (read-only, never copied into the repo) and a tiny model.

The data lives at <repo>/../shared/data/planet. Tests that need it skip, with the reason, where it
is absent, unless CHIP_AUDIT_REQUIRE_DATA=1 (as .ci/run sets): then they fail, so that a CI run
without the data cannot pass on the other tests alone. Nothing here writes outside pytest's
temporary folders: the app's data folder and Keras' home are pointed at a temporary folder for
the whole session (and the training data folder a model's twin is made from, at an empty one).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PLANET_DIR = REPO_ROOT.parent / "shared" / "data" / "planet"
if str(REPO_ROOT) not in sys.path:  # `model` and `gui` import from the checkout, uninstalled
    sys.path.insert(0, str(REPO_ROOT))

# Set before anything imports Qt or Keras, so that no test opens a window or writes to $HOME.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="chip-audit-tests-"))
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["CHIP_AUDIT_DATA"] = str(_SESSION_TMP / "data")
os.environ["KERAS_HOME"] = str(_SESSION_TMP / "keras")
# No training data where a model looks for its chips' archive (model.paths.training_data_dir), so
# that no predict makes the bundled model's int8 twin (1.5 minutes) unless a test points it at
# the data (test_int8_twin.py does).
os.environ["CHIP_AUDIT_TRAINING_DATA"] = str(_SESSION_TMP / "no-training-data")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Keras before Qt: pytest-qt imports PySide6 when pytest configures, and PySide6's import hook
# reads the source of every module imported after it, which makes TensorFlow's import crawl.
import model.classifier  # noqa: E402, F401, I001

TINY_MODEL_CHIPS = 60
REQUIRE_DATA = "CHIP_AUDIT_REQUIRE_DATA"


@pytest.fixture(autouse=True)
def _collect_qt_garbage_on_the_main_thread(request: pytest.FixtureRequest):
    """Widgets must only be freed on the GUI thread. Python's collector runs in whichever thread
    allocates, so in a window test it could free a closed window in the inference thread (seen:
    a deadlock in shiboken while TensorFlow loaded a model there). During a window test automatic
    collection is off, and the test's garbage is collected here, on the main thread, at its end
    (as the app does with pyqtgraph's GarbageCollector)."""
    import gc

    window_test = "qtbot" in request.fixturenames
    if window_test:
        gc.disable()
    try:
        yield
    finally:
        if window_test:
            gc.collect()
            gc.enable()


def pytest_configure(config: pytest.Config) -> None:
    # Keras' own use of NumPy 2, not ours: noise in every test that predicts.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)


def data_required() -> bool:
    return os.environ.get(REQUIRE_DATA, "").strip() not in ("", "0")


def _require(
    path: Path, what: str, missing: str = "the read-only Planet data is not present"
) -> Path:
    """`path` if it exists; else skip the test, or fail it where the data is required."""
    if path.exists():
        return path
    reason = f"{what} not found at {path} ({missing})"
    if data_required():
        pytest.fail(f"{reason}; {REQUIRE_DATA}=1 requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def bundled_model() -> Path:
    from model.paths import BUNDLED_MODEL

    return _require(BUNDLED_MODEL, "bundled model", "it ships in resources/model/")


@pytest.fixture(scope="session")
def bundled_classifier(bundled_model: Path):
    """The bundled model, loaded once: the real network for tests that run without the data."""
    from model.classifier import Classifier

    return Classifier.load(bundled_model)


@pytest.fixture(scope="session")
def planet_dir() -> Path:
    return _require(PLANET_DIR, "Planet data folder")


@pytest.fixture(scope="session")
def chips_dir(planet_dir: Path) -> Path:
    return _require(planet_dir / "chips", "chips folder")


@pytest.fixture(scope="session")
def labels_csv(planet_dir: Path) -> Path:
    """Labels of the train_* chips in chips/."""
    return _require(planet_dir / "chips_labels.csv", "chips_labels.csv")


@pytest.fixture(scope="session")
def train_v2_csv(planet_dir: Path) -> Path:
    return _require(planet_dir / "train_v2.csv", "train_v2.csv")


@pytest.fixture(scope="session")
def tif_dir(planet_dir: Path) -> Path:
    return _require(planet_dir / "tif", "tif folder")


@pytest.fixture(scope="session")
def chip_labels(labels_csv: Path) -> dict[str, tuple[str, ...]]:
    from model.labels import read_labels

    return read_labels(labels_csv)


def _link_chips(names: list[str], source: Path, dest: Path) -> list[Path]:
    """Symbolic links in `dest` to the named chips of `source` (copies where links fail)."""
    dest.mkdir(parents=True, exist_ok=True)
    made = []
    for name in names:
        src = source / f"{name}.jpg"
        target = dest / src.name
        try:
            target.symlink_to(src)
        except OSError:
            shutil.copyfile(src, target)
        made.append(target)
    return made


@pytest.fixture(scope="session")
def link_chips():
    """link_chips(names, source_folder, dest_folder): a folder of some real chips, as links."""
    return _link_chips


def _labelled_folder(
    root: Path,
    names: list[str],
    chips_dir: Path,
    chip_labels: dict[str, tuple[str, ...]],
    labels_file: str = "labels.csv",
) -> tuple[Path, Path]:
    """root/chips with links to the named chips, and their labels in root/labels_file."""
    from model.labels import write_labels

    folder = root / "chips"
    _link_chips(names, chips_dir, folder)
    labels = root / labels_file
    labels.parent.mkdir(parents=True, exist_ok=True)
    write_labels(labels, {n: chip_labels[n] for n in names})
    return folder, labels


@pytest.fixture(scope="session")
def labelled_folder(chips_dir: Path, chip_labels: dict[str, tuple[str, ...]]):
    """labelled_folder(root, names, labels_file="labels.csv") -> (folder, labels CSV): root/chips
    with links to the named real chips, and their labels from chips_labels.csv in
    root/labels_file."""

    def make(root: Path, names: list[str], labels_file: str = "labels.csv") -> tuple[Path, Path]:
        return _labelled_folder(root, names, chips_dir, chip_labels, labels_file)

    return make


def write_synthetic_chips(folder: Path, names: list[str], size: int = 32) -> list[Path]:
    """Small chips of seeded noise, JPEG and PNG in turn, each unlike the others: a folder of
    chips for the tests that must run without the Planet data."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, name in enumerate(names):
        rng = np.random.default_rng(k)
        # A colour cast per chip on top of the noise, so that the model's answers differ.
        pixels = rng.integers(0, 96, (size, size, 3)) + rng.integers(0, 160, 3)
        path = folder / f"{name}.{'jpg' if k % 2 == 0 else 'png'}"
        Image.fromarray(pixels.astype(np.uint8), "RGB").save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def synthetic_chips():
    """synthetic_chips(folder, names, size=32) -> paths: a folder of small made-up chips."""
    return write_synthetic_chips


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """The window's show_error calls, recorded instead of shown in a modal box."""
    import gui.dialogs

    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        gui.dialogs,
        "show_error",
        lambda parent, title, message, hint="": calls.append((title, message, hint)),
    )
    return calls


class Choices:
    """The window's several-way questions (gui.dialogs.choose), recorded and answered with
    `answer` (None: Cancel)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, list[str]]] = []
        self.answer: str | None = None

    def __call__(self, parent, title: str, message: str, hint: str, options: list[str]):
        self.asked.append((title, message, list(options)))
        assert self.answer is None or self.answer in options, (self.answer, options)
        return self.answer


@pytest.fixture
def choices(monkeypatch: pytest.MonkeyPatch) -> Choices:
    import gui.dialogs

    recorder = Choices()
    monkeypatch.setattr(gui.dialogs, "choose", recorder)
    return recorder


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch):
    """The network's predict held at a gate (tests/gating.py) until the test opens it."""
    from gating import Gate

    held = Gate(monkeypatch)
    yield held
    held.release()  # never leave the inference thread blocked


@pytest.fixture
def open_and_wait(qtbot):
    """open_and_wait(window, folder, labels=None, use_labels=True) -> bool: open a folder as the
    user does (off the window's thread) and wait until it is shown (True) or refused (False)."""

    def open_folder(window, folder, labels=None, use_labels: bool = True) -> bool:
        outcome: list[bool] = []
        window.review_opened.connect(lambda _review: outcome.append(True))
        window.open_failed.connect(lambda _message: outcome.append(False))
        window.open_folder(folder, labels, use_labels)
        qtbot.waitUntil(lambda: bool(outcome), timeout=60_000)
        return outcome[0]

    return open_folder


@pytest.fixture(scope="session")
def labelled_names(chips_dir: Path, chip_labels: dict[str, tuple[str, ...]]) -> list[str]:
    """The labelled chips present in chips/, in natural order."""
    from model.chips import natural_key

    present = {p.stem for p in chips_dir.glob("*.jpg")}
    return sorted((n for n in chip_labels if n in present), key=natural_key)


@pytest.fixture(scope="session")
def tiny_model(
    tmp_path_factory: pytest.TempPathFactory,
    chips_dir: Path,
    chip_labels: dict[str, tuple[str, ...]],
    labelled_names: list[str],
) -> Path:
    """A real model trained once per session: 60 full-size chips, 32 px, one epoch.

    Returns the .keras path (its card is beside it). Good for plumbing, not for accuracy.
    """
    from model.training import TrainConfig, train

    root = tmp_path_factory.mktemp("tiny_model")
    names = labelled_names[:TINY_MODEL_CHIPS]
    folder, labels = _labelled_folder(root, names, chips_dir, chip_labels)
    result = train(
        TrainConfig(
            folder=folder,
            labels=labels,
            out=root / "model" / "tiny.keras",
            input_size=32,
            epochs=1,
            val_frac=0.2,
            batch_size=32,
        )
    )
    return result.path


@pytest.fixture
def window_with_features(
    qtbot,
    tmp_path: Path,
    tiny_model: Path,
    monkeypatch,
    open_and_wait,
    labelled_folder,
    labelled_names,
):
    """window_with_features(first, count): a shown window on `count` real labelled chips from
    `first` on, the tiny model active, once its own run has stored every chip's features."""
    from gui.main_window import MainWindow
    from model.versions import set_active_model

    def make(first: int, count: int, size: tuple[int, int] | None = None):
        monkeypatch.setenv("CHIP_AUDIT_DATA", str(tmp_path / "app-data"))
        set_active_model(tiny_model)
        folder, labels = labelled_folder(tmp_path, labelled_names[first : first + count])
        win = MainWindow()
        qtbot.addWidget(win)
        if size is not None:
            win.resize(*size)
        win.show()
        qtbot.waitExposed(win)
        assert open_and_wait(win, folder, labels)
        qtbot.waitUntil(
            lambda: not win.predictions.running and win.review.has_features.all(),
            timeout=120_000,
        )
        # The re-sort the run's end asks for (150 ms later) has happened: the tests start from
        # the chip it settles on, not one it is about to replace.
        qtbot.waitUntil(lambda: not win.page.requery_pending())
        return win

    return make
