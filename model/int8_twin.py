"""A model's int8 ONNX twin: made once per model version, checked against float32, cached.

The twin is the two-output network (`Classifier.two_output_network`: probabilities and pooled
features from one pass) exported to ONNX and statically quantised (QDQ, int8 weights per
channel, activations calibrated on chips from the model's own training data). Beside it lies its
check: the model's calls at int8 and at float32 on the model's validation chips, and how fast each
runs the network here. It is cached in the user's data folder by model version, never in
resources/. Running it needs onnxruntime only; making it also needs onnx and tf2onnx.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.card import ModelCard, read_card
from model.errors import ChipAuditError, ModelError
from model.files import atomic_write_text
from model.labels import read_labels
from model.metrics import decide, pooled_summary, summary
from model.paths import TRAINING_DATA_ENV, training_data_dir, user_data_dir
from model.tags import TAGS

# The accuracy budget: the twin runs by default only where its calls lose no more than this.
F2_BUDGET = 0.003
MACRO_F1_BUDGET = 0.01
# 1,024 calibration chips and a float32 head (and more, QUANTISATION below): on the bundled
# model's validation chips, 256 chips and an int8 head lost 0.0205 macro F1 (outside the budget,
# measured before the first convolution and the sigmoid were left at float32); these lose 0.0034
# with the card's thresholds and none cross-validated.
CALIBRATION_CHIPS = 1024
CALIBRATION_SEED = 0
VERSION_KEY = "chip_audit_version"  # in the ONNX file's metadata: which weights it was made from
CHECK_FORMAT = 1

Say = Callable[[str], None]


def twins_dir() -> Path:
    return user_data_dir() / "twins"


def twin_path(version: str) -> Path:
    return twins_dir() / f"{version}.int8.onnx"


def check_path(version: str) -> Path:
    return twins_dir() / f"{version}.int8.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_check(version: str) -> dict[str, Any]:
    path = check_path(version)
    try:
        check = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: no int8 twin check") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable int8 twin check ({exc})") from None
    if not isinstance(check, dict) or "onnx_sha256" not in check:
        raise ModelError(f"{path}: not an int8 twin check")
    return check


def twin_problem(card: ModelCard) -> str | None:
    """Why this model's cached twin cannot run (missing, stale, corrupt), or None."""
    onnx_file = twin_path(card.version)
    if not onnx_file.is_file():
        return f"no int8 twin for version {card.version} yet ({_how_to_make(card)})"
    try:
        check = read_check(card.version)
    except ModelError as exc:
        return str(exc)
    if check.get("version") != card.version:
        return (
            f"{check_path(card.version)}: stale int8 twin (made from version "
            f"{check.get('version')}, the model is {card.version})"
        )
    if _sha256(onnx_file) != check["onnx_sha256"]:
        return f"{onnx_file}: corrupt int8 twin (its checksum does not match its check)"
    return None


def verdict(check: dict[str, Any]) -> tuple[str, str]:
    """(precision, why) from a twin's stored check: int8 where faster here and within budget."""
    fp32, int8 = check["validation"]["fp32"], check["validation"]["int8"]
    f2_loss = fp32["f2_samples"] - int8["f2_samples"]
    macro_loss = fp32["macro_f1"] - int8["macro_f1"]
    speed = check["speed"]
    ratio = speed["int8_chips_per_s"] / max(speed["fp32_chips_per_s"], 1e-9)
    figures = (
        f"samples F2 {int8['f2_samples']:.4f} vs {fp32['f2_samples']:.4f}, macro F1 "
        f"{int8['macro_f1']:.4f} vs {fp32['macro_f1']:.4f} on "
        f"{check['validation']['n_chips']} validation chips; network {ratio:.1f}x float32 here"
    )
    if f2_loss > F2_BUDGET or macro_loss > MACRO_F1_BUDGET:
        return "fp32", f"float32: the int8 twin is outside the accuracy budget ({figures})"
    if ratio <= 1.0:
        return "fp32", f"float32: the int8 twin is not faster on this machine ({figures})"
    return "int8", f"int8 twin: faster here and within the accuracy budget ({figures})"


class Int8Twin:
    """The int8 ONNX Runtime twin of a model, behind the same interface as `Classifier`."""

    precision = "int8"

    def __init__(self, session: Any, card: ModelCard, path: Path | None) -> None:
        self.session = session
        self.card = card
        self.path = path
        self._input = session.get_inputs()[0].name
        self._outputs = [o.name for o in session.get_outputs()]
        self._thresholds = np.asarray(card.threshold_list(), dtype=np.float32)

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def input_size(self) -> int:
        return int(self.card.input_size)

    def _run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, pooled = self.session.run(self._outputs, {self._input: images.astype(np.float32)})
        return np.asarray(probs, np.float32), np.asarray(pooled, np.float32)

    def predict_batch(self, images: np.ndarray, tta: bool = False) -> np.ndarray:
        from model.classifier import dihedral

        if len(images) == 0:
            return np.zeros((0, len(TAGS)), dtype=np.float32)
        if not tta:
            return self._run(images)[0]
        total = np.zeros((len(images), len(TAGS)), dtype=np.float32)
        for k in range(8):
            total += self._run(np.ascontiguousarray(dihedral(images, k)))[0]
        return total / 8.0

    def predict_batch_with_features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(images) == 0:
            return self._run(np.zeros((1, self.input_size, self.input_size, 3), np.uint8))
        return self._run(images)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        return decide(probs, self._thresholds, self.card.weather_rule == "argmax")


def _session(onnx_file: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # ONNX Runtime's threads spin between runs by default, taking the cores the decoding threads
    # need: end to end on 4,000 chips, 282-324 chips/s spinning against 339-369 not (2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])


def load_twin(model_path: Path) -> Int8Twin:
    """The cached twin of the model at `model_path`; ModelError (one line) if it cannot run."""
    card = read_card(model_path)
    problem = twin_problem(card)
    if problem is not None:
        raise ModelError(problem)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ModelError("onnxruntime is not installed (pip install -e .)") from None
    onnx_file = twin_path(card.version)
    try:
        session = _session(onnx_file)
    except Exception as exc:  # ONNX Runtime raises its own Fail/InvalidGraph types
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{onnx_file}: corrupt int8 twin ({first})") from None
    made_from = session.get_modelmeta().custom_metadata_map.get(VERSION_KEY)
    if made_from != card.version:
        raise ModelError(
            f"{onnx_file}: stale int8 twin (made from version {made_from}, "
            f"the model is {card.version})"
        )
    shapes = [o.shape[-1] for o in session.get_outputs()]
    if len(shapes) != 2 or shapes[0] != len(TAGS):
        raise ModelError(f"{onnx_file}: corrupt int8 twin (outputs {shapes})")
    return Int8Twin(session, card, model_path)


# --- making a twin ---------------------------------------------------------------------------
MAKE_HINT = "make it with 'python main.py make-twin --chips FOLDER_OR_TAR --labels CSV'"


def _how_to_make(card: ModelCard) -> str:
    try:
        find_training_data(card)
    except ModelError as exc:
        return f"{exc}; {MAKE_HINT}"
    return "made by the first 'predict' or 'evaluate', or with 'python main.py make-twin'"


@dataclass(frozen=True)
class TrainingData:
    """Where a model's training chips (a folder of them, or a .tar) and their labels are here."""

    chips: Path
    labels: Path

    @property
    def is_archive(self) -> bool:
        return self.chips.is_file()


def find_training_data(
    card: ModelCard,
    chips: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
) -> TrainingData:
    """Where the model's training chips and labels are on this machine, looked for in order:
    the ones named (a folder or a .tar of chips; a labels CSV); else the folder and labels file
    its card records, where they exist (unless $CHIP_AUDIT_TRAINING_DATA is set); else the chips'
    archive and labels file its card names (`archive`, `labels_source`) in the training data
    folder (`paths.training_data_dir`: $CHIP_AUDIT_TRAINING_DATA, else ../shared/data/planet).
    Only existence is checked here; ModelError (one line) saying what was looked for and
    where."""
    data = card.data
    recorded_chips, recorded_labels = Path(data.get("folder") or ""), data.get("labels") or ""
    archive, labels_source = data.get("archive"), data.get("labels_source")
    folder, where = training_data_dir()
    # A training data folder the user set is where to look: not also where the card says.
    use_recorded = not os.environ.get(TRAINING_DATA_ENV)

    if chips is not None:
        found_chips = Path(chips)
        if not found_chips.is_dir() and not (
            found_chips.is_file() and tarfile.is_tarfile(found_chips)
        ):
            raise ModelError(f"{found_chips}: neither a folder of chips nor a .tar of them")
    elif use_recorded and data.get("folder") and recorded_chips.is_dir():
        found_chips = recorded_chips
    elif archive and (folder / archive).is_file():
        found_chips = folder / archive
    elif archive:
        raise ModelError(
            f"its training chips ({archive}) are not in {where}, nor where its card says "
            f"({recorded_chips})"
        )
    else:
        raise ModelError(
            f"its training chips ({recorded_chips}, {recorded_labels}) are not on this machine"
        )

    if labels is not None:
        found_labels = Path(labels)
    elif use_recorded and recorded_labels and Path(recorded_labels).is_file():
        found_labels = Path(recorded_labels)
    elif labels_source and (folder / labels_source).is_file():
        found_labels = folder / labels_source
    elif labels_source:
        raise ModelError(
            f"its training labels ({labels_source}) are not in {where}, nor where its card "
            f"says ({recorded_labels})"
        )
    else:
        raise ModelError(f"its training labels ({recorded_labels}) are not on this machine")
    return TrainingData(found_chips, found_labels)


def calibration_draw(train_names: list[str]) -> list[str]:
    """The calibration chips of a model trained on `train_names`: a seeded draw of
    CALIBRATION_CHIPS of them, in natural order (`train` records it on the card)."""
    train = sorted(set(train_names), key=_natural)
    rng = np.random.default_rng(CALIBRATION_SEED)
    picked = rng.choice(len(train), min(CALIBRATION_CHIPS, len(train)), replace=False)
    return [train[i] for i in sorted(picked)]


def _chips_in(source: Path) -> dict[str, Any]:
    """Every chip of a folder (name -> path) or of a .tar (name -> its member)."""
    from model.chips import CHIP_EXTENSIONS, list_chips

    if source.is_dir():
        return {p.stem: p for p in list_chips(source).paths}
    with tarfile.open(source) as archive:
        return {
            Path(m.name).stem: m
            for m in archive.getmembers()
            if m.isfile() and m.name.lower().endswith(CHIP_EXTENSIONS)
        }


def _unpack(source: Path, members: list[tarfile.TarInfo], into: Path) -> dict[str, Path]:
    """The named members of the archive, written flat into `into` (their own names only)."""
    into.mkdir(parents=True, exist_ok=True)
    unpacked = {}
    with tarfile.open(source) as archive:
        for member in members:
            handle = archive.extractfile(member)
            if handle is None:
                continue
            target = into / Path(member.name).name
            target.write_bytes(handle.read())
            unpacked[target.stem] = target
    return unpacked


def training_chips(
    card: ModelCard,
    chips: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    unpack_to: str | os.PathLike[str] | None = None,
) -> tuple[list[Path], list[Path], dict[str, tuple[str, ...]]]:
    """(calibration chips, validation chips, labels) of the model, from its training data where
    `find_training_data` finds it. The calibration chips are those its card lists
    (`calibration_names`), else a draw from the labelled chips that are not validation chips;
    the validation chips are those its card lists. From an archive, only these chips are read,
    unpacked into `unpack_to` (the caller removes it)."""
    names = card.data.get("validation_names") or []
    if not names:
        raise ModelError("its card lists no validation chips to check a twin on")
    found = find_training_data(card, chips, labels)
    try:
        by_label = read_labels(found.labels)
        available = _chips_in(found.chips)
    except ChipAuditError as exc:
        raise ModelError(str(exc)) from None
    except (OSError, tarfile.TarError) as exc:
        raise ModelError(f"{found.chips}: unreadable archive ({exc})") from None
    missing = [n for n in names if n not in available or n not in by_label]
    if missing:
        raise ModelError(
            f"{found.chips}: {len(missing)} of the model's {len(names)} validation chips are "
            f"missing or unlabelled in {found.labels} (first: {missing[0]})"
        )
    held_out = set(names)
    calibration = card.data.get("calibration_names") or calibration_draw(
        [n for n in available if n in by_label and n not in held_out]
    )
    overlap = [n for n in calibration if n in held_out]
    if overlap:
        raise ModelError(f"its card lists {overlap[0]} as both a calibration and validation chip")
    absent = [n for n in calibration if n not in available]
    if absent:
        raise ModelError(
            f"{found.chips}: {len(absent)} of the model's {len(calibration)} calibration chips "
            f"are missing (first: {absent[0]})"
        )
    paths = available
    if found.is_archive:
        if unpack_to is None:
            raise ValueError("chips read from an archive need a folder to be unpacked into")
        wanted = [available[n] for n in [*calibration, *names]]
        paths = _unpack(found.chips, wanted, Path(unpack_to))
    return [paths[n] for n in calibration], [paths[n] for n in names], by_label


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("_")
    return (stem, int(number)) if number.isdigit() else (name, -1)


@dataclass(frozen=True)
class Quantisation:
    """How the network is quantised (`quantize_static`'s options): static QDQ, weights per
    channel, uint8 activations, the head at float32, and these choices on top."""

    weights: str = "int8"  # "int8" (QInt8: the U8S8 kernels) or "uint8" (QUInt8: U8U8)
    reduce_range: bool = False  # 7-bit weights
    method: str = "MinMax"  # the calibration: MinMax, Entropy or Percentile
    percentile: float = 99.999  # with Percentile
    float_first_conv: bool = False  # the convolution on the input pixels left at float32
    # The sigmoid after the head at float32 too: else the head's output and the probabilities are
    # quantised (ONNX Runtime then runs the head as QGemm) and come in steps of 1/255.
    float_sigmoid: bool = False

    def describe(self) -> str:
        """What the check's "quantisation" line says."""
        bits = "7-bit int8 (reduce_range)" if self.reduce_range else self.weights
        method = f"Percentile {self.percentile}" if self.method == "Percentile" else self.method
        first = "first convolution and " if self.float_first_conv else ""
        head = "head and sigmoid" if self.float_sigmoid else "head"
        return (
            f"static QDQ: {bits} weights per channel, uint8 activations ({method}); "
            f"float32 {first}{head}"
        )


# The first convolution and the sigmoid at float32 (bench/int8_variants.py on the bundled model,
# AMD EPYC with AVX2 and no VNNI; README). With every convolution int8 and the probabilities
# quantised, the twin lost 0.0125 macro F1 with the card's thresholds (0.0135 computed without
# the AVX2 U8S8 kernels' saturation, as on VNNI; 0.0124 on a VNNI Xeon) and 0.0030 samples F2
# cross-validated here. The first convolution's input is the pixels, where the kernels' int16
# pair sums (VPMADDUBSW) saturate; at float32 the twin computes the same with and without
# saturation (mean probability difference 0.00005): one setting for every CPU, for about 5% of
# the int8 network's time. With both: 0.0034 macro F1 lost with the card's thresholds, 0.0004
# samples F2 cross-validated. 7-bit weights (reduce_range), uint8 weights or Percentile
# calibration with every convolution int8 lost 0.014-0.022 macro F1 with the card's thresholds.
QUANTISATION = Quantisation(float_first_conv=True, float_sigmoid=True)


def export_network(classifier: Any, work: Path) -> Path:
    """The model's two-output network exported to ONNX in `work` and prepared for quantising
    (shapes inferred); returns the prepared file."""
    import keras
    from onnxruntime.quantization.shape_inference import quant_pre_process

    exported, prepared = work / "f.onnx", work / "p.onnx"
    size = classifier.input_size
    spec = keras.InputSpec(shape=(None, size, size, 3), dtype="float32")
    classifier.two_output_network.export(
        str(exported), format="onnx", verbose=False, input_signature=[spec]
    )
    quant_pre_process(str(exported), str(prepared), skip_symbolic_shape=True)
    return prepared


def quantise(
    prepared: Path, out: Path, calibration: np.ndarray, how: Quantisation = QUANTISATION
) -> None:
    """Quantise the prepared network into `out`, calibrated on `calibration` (float32 chips)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    graph = onnx.load(str(prepared), load_external_data=False).graph
    input_name = graph.input[0].name
    # The 512x17 head costs nothing at float32 and decides the rare tags' calls.
    head = ("Gemm", "MatMul", "Sigmoid") if how.float_sigmoid else ("Gemm", "MatMul")
    excluded = [n.name for n in graph.node if n.op_type in head]
    if how.float_first_conv:
        # With the nodes before it, else ONNX Runtime finds a float Conv between a DQ and a Q and
        # quantises its weights itself when it loads the twin (per tensor, int8).
        first = next(i for i, n in enumerate(graph.node) if n.op_type == "Conv")
        excluded.extend(n.name for n in graph.node[: first + 1])

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                {input_name: calibration[i : i + 32]} for i in range(0, len(calibration), 32)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    extra = {"CalibPercentile": how.percentile} if how.method == "Percentile" else {}
    quantize_static(
        str(prepared),
        str(out),
        Calibration(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range=how.reduce_range,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8 if how.weights == "int8" else QuantType.QUInt8,
        nodes_to_exclude=excluded,
        calibrate_method=CalibrationMethod[how.method],
        extra_options=extra,
    )


def compare(
    card: ModelCard, y_val: np.ndarray, fp32: np.ndarray, int8: np.ndarray
) -> dict[str, Any]:
    """The check's "validation" figures: both precisions' calls on the validation chips."""
    from model.tuning import validation_draws

    argmax = card.weather_rule == "argmax"
    thresholds = np.asarray(card.threshold_list(), dtype=np.float32)
    calls32, calls8 = decide(fp32, thresholds, argmax), decide(int8, thresholds, argmax)
    # The card's thresholds were tuned on these very chips' float32 probabilities, so scoring
    # with them favours float32 by construction. The verdict uses the card's own method instead:
    # thresholds tuned on float32's probabilities of one half, both precisions scored on the
    # other half, 5 draws pooled (the float32 figures are then the card's validation figures).
    draws = validation_draws(y_val, fp32, int(card.recipe.get("seed", 0)))
    scored = {"fp32": pooled_summary(y_val, fp32, draws, argmax)}
    scored["int8"] = pooled_summary(y_val, int8, draws, argmax)
    in_sample = {"fp32": summary(y_val, calls32), "int8": summary(y_val, calls8)}
    keys = ("f2_samples", "f1_samples", "macro_f1")
    return {
        "n_chips": len(y_val),
        **{name: {k: round(float(s[k]), 5) for k in keys} for name, s in scored.items()},
        "method": "thresholds tuned on float32's probabilities of one half of the "
        "validation chips, both precisions scored on the other half, 5 draws pooled",
        "with_the_card_thresholds": {
            name: {k: round(float(s[k]), 5) for k in keys} for name, s in in_sample.items()
        },
        "call_agreement": round(float((calls32 == calls8).mean()), 5),
        "call_agreement_per_tag": {
            tag: round(float(v), 5) for tag, v in zip(TAGS, (calls32 == calls8).mean(axis=0))
        },
        "mean_abs_probability_change": round(float(np.abs(fp32 - int8).mean()), 5),
    }


def predict_all(
    predict_batch: Callable[[np.ndarray], np.ndarray], images: np.ndarray
) -> np.ndarray:
    """Probabilities of every chip, 64 at a time."""
    return np.concatenate([predict_batch(images[i : i + 64]) for i in range(0, len(images), 64)])


def timed_predictions(
    predict_batch: Callable[[np.ndarray], np.ndarray], images: np.ndarray
) -> tuple[np.ndarray, float]:
    """(probabilities of every chip, the network's chips/s over them), after one batch to warm
    up (Keras traces its function on the first call). The check's own pass is the timing: two
    more passes of 512 chips each, best of 2, added 10-20 s to making a twin."""
    predict_batch(images[:64])
    started = time.perf_counter()
    probs = predict_all(predict_batch, images)
    return probs, len(images) / (time.perf_counter() - started)


def make_twin(
    model_path: str | os.PathLike[str],
    chips: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    say: Say | None = None,
) -> dict[str, Any]:
    """Export, quantise, check and cache the model's twin; returns the stored check. Its
    training chips (a folder or a .tar) and labels are those named, else where
    `find_training_data` finds them."""
    from model.tensorflow_setup import import_keras

    import_keras()  # first: TensorFlow's settings, and no start-up chatter on stderr
    import onnx

    from model.classifier import Classifier
    from model.decoding import decode_all
    from model.labels import label_matrix

    source = find_training_data(read_card(model_path), chips, labels)
    classifier = Classifier.load(model_path)
    card, size = classifier.card, classifier.input_size
    note = say or (lambda _line: None)
    note(
        f"making the int8 twin of {card.version} from {source.chips.name} "
        "(once per model version, a minute or two)"
    )
    twins_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=twins_dir(), prefix=".making-") as work:
        # From an archive, only the calibration and validation chips are unpacked, in here.
        calibration_paths, validation_paths, by_label = training_chips(
            card, source.chips, source.labels, Path(work) / "chips"
        )
        calibration = decode_all(calibration_paths, size).images.astype(np.float32)
        validation = decode_all(validation_paths, size)
        if validation.errors:
            raise ModelError(f"{validation.errors[0]} (a validation chip; no twin made)")
        quantised = Path(work) / "q.onnx"
        with warnings.catch_warnings():  # tf2onnx's own use of NumPy: noise to a user
            warnings.simplefilter("ignore", FutureWarning)
            prepared = export_network(classifier, Path(work))
        quantise(prepared, quantised, calibration)
        stamped = onnx.load(str(quantised))
        entry = stamped.metadata_props.add()
        entry.key, entry.value = VERSION_KEY, card.version
        fd, tmp = tempfile.mkstemp(dir=twins_dir(), prefix=".twin-", suffix=".onnx")
        os.close(fd)
        onnx.save(stamped, tmp)
        os.replace(tmp, twin_path(card.version))

    twin = Int8Twin(_session(twin_path(card.version)), card, Path(model_path))
    images = validation.images
    fp32, speed_fp32 = timed_predictions(classifier.predict_batch, images)
    int8, speed_int8 = timed_predictions(twin.predict_batch, images)
    figures = compare(card, label_matrix(validation.names, by_label), fp32, int8)
    check = {
        "format": CHECK_FORMAT,
        "version": card.version,
        "onnx_sha256": _sha256(twin_path(card.version)),
        "made": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quantisation": QUANTISATION.describe(),
        "calibration": {
            "chips": str(source.chips),
            "labels": str(source.labels),
            "names": "the card's calibration_names"
            if card.data.get("calibration_names")
            else "a seeded draw of its labelled chips that are not validation chips",
            "n_chips": len(calibration_paths),
        },
        "validation": figures,
        "speed": {
            "what": "the network alone on the decoded validation chips, batch 64, after one batch",
            "fp32_chips_per_s": round(speed_fp32, 1),
            "int8_chips_per_s": round(speed_int8, 1),
        },
    }
    atomic_write_text(check_path(card.version), json.dumps(check, indent=2) + "\n")
    note(verdict(check)[1])
    return check
