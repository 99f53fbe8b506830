"""Train or fine-tune the classifier from a folder of chips and a labels CSV.

One function, `train`, serves both the command line and the app's retrain. It reports progress
through a callback and stops when the caller's cancel flag is set, writing nothing in that case.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.card import ModelCard, lineage_entry
from model.chips import list_chips
from model.classifier import Classifier, build_network, new_version
from model.decoding import decode_all
from model.errors import CancelledError, ChipAuditError
from model.int8_twin import calibration_draw
from model.labels import label_matrix, read_labels, tag_counts
from model.metrics import fbeta_samples
from model.tags import TAGS
from model.train_config import TrainConfig, check_config
from model.tuning import choose_thresholds
from model.wording import count

MIN_LABELLED = 20


@dataclass
class TrainEvent:
    """One progress report: what stage, how far, and the figures so far."""

    stage: str  # "decode", "train", "epoch", "stopped", "tune", "save"
    done: int = 0
    total: int = 0
    epoch: int = 0
    epochs: int = 0
    logs: dict[str, float] = field(default_factory=dict)
    eta_s: float | None = None  # None while too little has been measured to say
    message: str = ""


@dataclass
class TrainResult:
    path: Path
    card: ModelCard
    skipped: list[str]
    # How the run ended (`Stopping.as_dict`), also in the card's recipe as "stopping".
    stopping: dict[str, Any] = field(default_factory=dict)
    # The validation chips' probabilities under the kept weights, in card.data's
    # validation_names order: what the thresholds and the card's figures were computed from.
    validation_probs: np.ndarray | None = None


@dataclass(frozen=True)
class Stopping:
    """How many epochs ran and which one's weights were kept, in words a user reads."""

    epochs: int  # asked for
    epochs_run: int
    best_epoch: int
    patience: int

    @property
    def stopped_early(self) -> bool:
        return self.epochs_run < self.epochs

    @property
    def message(self) -> str:
        if self.best_epoch == 0:  # every validation loss was NaN: nothing better to go back to
            return (
                f"stopped at epoch {self.epochs_run} of {self.epochs}: validation loss was never "
                "a number (training diverged); the last weights are kept"
            )
        if self.stopped_early:
            return (
                f"stopped at epoch {self.epochs_run} of {self.epochs}: validation loss had not "
                f"improved for {count(self.epochs_run - self.best_epoch, 'epoch')}; the best "
                f"epoch, {self.best_epoch}, is kept"
            )
        if self.best_epoch < self.epochs_run:
            return (
                f"ran all {count(self.epochs, 'epoch')}; validation loss was lowest at epoch "
                f"{self.best_epoch}, which is kept"
            )
        return f"ran all {count(self.epochs, 'epoch')}; the last had the lowest validation loss"

    def as_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "patience": self.patience,
            "stopped_early": self.stopped_early,
            "message": self.message,
        }


ProgressFn = Callable[[TrainEvent], None]
CancelFn = Callable[[], bool]


def stratified_split(
    names: list[str], labels: dict[str, tuple[str, ...]], val_frac: float, seed: int
) -> tuple[list[str], list[str]]:
    """Train and validation names, with each tag's rare holders split val_frac / rest.

    Each chip is grouped by its rarest tag; every group is shuffled and split on its own, so
    blow_down's 100 chips land in both parts instead of all in one by chance.
    """
    counts = tag_counts({n: labels[n] for n in names})
    groups: dict[str, list[str]] = {}
    for name in names:
        tags = labels[name]
        key = min(tags, key=lambda t: (counts[t], t)) if tags else ""
        groups.setdefault(key, []).append(name)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for key in sorted(groups):
        members = sorted(groups[key])
        rng.shuffle(members)
        n_val = int(round(len(members) * val_frac))
        if len(members) >= 2 and val_frac > 0:
            n_val = min(max(n_val, 1), len(members) - 1)
        val.extend(members[:n_val])
        train.extend(members[n_val:])
    return sorted(train), sorted(val)


def positive_weights(y: np.ndarray, cap: float) -> np.ndarray:
    """Weight of a positive per tag, sqrt(negatives / positives) capped: rare tags count more
    without drowning the common ones."""
    pos = y.sum(axis=0)
    neg = len(y) - pos
    return np.clip(np.sqrt(neg / np.maximum(pos, 1.0)), 1.0, cap).astype(np.float32)


def _weighted_bce(pos_weight: np.ndarray):
    import keras

    weight = keras.ops.convert_to_tensor(pos_weight)

    def loss(y_true, y_prob):
        p = keras.ops.clip(y_prob, 1e-7, 1 - 1e-7)
        y = keras.ops.cast(y_true, p.dtype)
        per_tag = -(weight * y * keras.ops.log(p) + (1 - y) * keras.ops.log(1 - p))
        return keras.ops.mean(per_tag, axis=-1)

    return loss


def _augment_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int):
    """Shuffled batches, each chip flipped and rotated at random: chips have no 'up'."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)

    def augment(images, targets):
        images = tf.cast(images, tf.float32)
        images = tf.image.random_flip_left_right(images, seed=seed)
        images = tf.image.random_flip_up_down(images, seed=seed + 1)
        # A random transpose per chip completes the 8 flips and rotations (square chips).
        swap = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], seed=seed + 2) < 0.5
        images = tf.where(swap, tf.transpose(images, [0, 2, 1, 3]), images)
        return images, targets

    return ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def _schedule(base_lr: float, warmup_steps: int, total_steps: int):
    import keras

    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=base_lr * 0.05 if warmup_steps else base_lr,
        decay_steps=max(total_steps - warmup_steps, 1),
        alpha=0.02,
        warmup_target=base_lr if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def train(
    config: TrainConfig,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> TrainResult:
    """Train per `config`, tune thresholds on the validation part, write model and card.

    Raises ChipAuditError for bad input (before any training starts where it can be known),
    CancelledError when `cancel()` turns true; in both cases nothing is written.
    """
    import keras

    emit = progress or (lambda event: None)
    is_cancelled = cancel or (lambda: False)
    started = time.monotonic()
    check_config(config)

    labels = read_labels(config.labels)
    listing = list_chips(config.folder)
    by_name = {p.stem: p for p in listing.paths}
    labelled = [n for n in by_name if n in labels]
    unlabelled = len(by_name) - len(labelled)
    missing_chips = len([n for n in labels if n not in by_name])
    if len(labelled) < MIN_LABELLED:
        raise ChipAuditError(
            f"{config.labels}: only {len(labelled)} of its chips are in {config.folder}; "
            f"training needs at least {MIN_LABELLED} labelled chips"
        )

    emit(TrainEvent("decode", 0, len(labelled), message="decoding chips"))
    decoded = decode_all(
        [by_name[n] for n in labelled],
        config.input_size,
        progress=lambda d, t: emit(TrainEvent("decode", d, t, message="decoding chips")),
        cancel=is_cancelled,
    )
    names = decoded.names
    skipped = [str(e) for e in listing.errors + decoded.errors]
    index = {n: i for i, n in enumerate(names)}

    if config.validation_names is not None:
        val_names = [n for n in config.validation_names if n in index]
        val_set = set(val_names)
        train_names = [n for n in names if n not in val_set]
    else:
        train_names, val_names = stratified_split(names, labels, config.val_frac, config.seed)
    if len(val_names) < 5 or len(train_names) < 10:
        raise ChipAuditError(
            f"{config.labels}: {len(names)} usable labelled chips are too few to split into "
            f"training ({len(train_names)}) and validation ({len(val_names)})"
        )
    train_idx = np.array([index[n] for n in train_names])
    val_idx = np.array([index[n] for n in val_names])
    x_train, x_val = decoded.images[train_idx], decoded.images[val_idx].astype(np.float32)
    y_all = label_matrix(names, labels)
    y_train, y_val = y_all[train_idx], y_all[val_idx]

    keras.utils.set_random_seed(config.seed)
    parent, ancestors = None, []
    if config.init == "scratch":
        network = build_network(config.architecture, config.dropout, config.imagenet_weights)
        architecture = config.architecture
    else:
        base = Classifier.load(config.init)
        network, parent, architecture = base.network, base.version, base.card.architecture
        ancestors = [lineage_entry(base.card), *base.card.ancestors]

    pos_weight = positive_weights(y_train, config.max_pos_weight)
    steps_per_epoch = math.ceil(len(train_names) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup_epochs = config.warmup_epochs
    if warmup_epochs is None:
        warmup_epochs = 1.0 if config.init == "scratch" else 0.0
    warmup = int(steps_per_epoch * warmup_epochs)
    network.compile(
        optimizer=keras.optimizers.Adam(_schedule(config.learning_rate, warmup, total_steps)),
        loss=_weighted_bce(pos_weight),
    )
    monitor = _Monitor(config, network, x_val, y_val, steps_per_epoch, emit, is_cancelled)
    network.fit(
        _augment_dataset(x_train, y_train, config.batch_size, config.seed),
        validation_data=(x_val, y_val),
        validation_batch_size=256,
        epochs=config.epochs,
        callbacks=[monitor.callback],
        shuffle=False,  # the dataset shuffles itself each epoch
        verbose=0,
    )
    if is_cancelled():
        raise CancelledError("training cancelled")
    if monitor.best_weights is not None:
        network.set_weights(monitor.best_weights)
    stopping = Stopping(config.epochs, len(monitor.history), monitor.best_epoch, config.patience)
    emit(
        TrainEvent(
            "stopped", message=stopping.message, epoch=stopping.epochs_run, epochs=config.epochs
        )
    )

    emit(TrainEvent("tune", message="tuning thresholds on the validation chips"))
    val_probs = np.asarray(network.predict(x_val, batch_size=256, verbose=0), dtype=np.float32)
    thresholds, weather_rule, metrics = choose_thresholds(y_val, val_probs, config.seed)

    card = ModelCard(
        version=new_version(network.get_weights()),
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        input_size=config.input_size,
        architecture=architecture,
        thresholds={t: round(float(v), 4) for t, v in zip(TAGS, thresholds)},
        weather_rule=weather_rule,
        parent=parent,
        recipe=_recipe(config, pos_weight, stopping, warmup),
        data={
            "folder": str(config.folder),
            "labels": str(config.labels),
            "n_chips_in_folder": len(by_name),
            "n_labelled": len(labelled),
            "n_unlabelled_chips": unlabelled,
            "n_labels_without_chip": missing_chips,
            "n_skipped": len(skipped),
            "n_train": len(train_names),
            "n_val": len(val_names),
            "counts_train": tag_counts({n: labels[n] for n in train_names}),
            "counts_val": tag_counts({n: labels[n] for n in val_names}),
            "validation_names": val_names,
            # The chips its int8 twin is calibrated on: training chips, never validation ones.
            "calibration_names": calibration_draw(train_names),
        },
        history=monitor.history,
        metrics=metrics,
        ancestors=ancestors,
    )
    if is_cancelled():
        raise CancelledError("training cancelled")
    emit(TrainEvent("save", message=f"writing {config.out}"))
    card.metrics["train_seconds"] = round(time.monotonic() - started, 1)
    path = Classifier(network, card).save(config.out)
    return TrainResult(path, card, skipped, stopping.as_dict(), val_probs)


def _recipe(
    config: TrainConfig, pos_weight: np.ndarray, stopping: Stopping, warmup_steps: int
) -> dict[str, Any]:
    recipe = {k: v for k, v in asdict(config).items() if k not in ("validation_names",)}
    recipe = {k: (str(v) if isinstance(v, Path) else v) for k, v in recipe.items()}
    recipe.update(
        warmup_steps=warmup_steps,
        optimizer="adam, linear warm-up then cosine decay",
        loss="binary cross-entropy, positives weighted per tag",
        positive_weights={t: round(float(w), 3) for t, w in zip(TAGS, pos_weight)},
        augmentation="random horizontal flip, vertical flip and transpose (8 dihedral views)",
        early_stopping=f"validation loss, patience {config.patience}, best epoch kept",
        best_epoch=stopping.best_epoch,
        stopping=stopping.as_dict(),
    )
    return recipe


class TimeLeft:
    """Seconds of training left, from the throughput measured so far, or None until enough has
    been measured to say.

    The first batch is left out (it builds the graph: 19 min 50 s predicted at batch 1 of a 40 s
    run), and an estimate needs MIN_BATCHES batches and MIN_SECONDS after it. Time spent
    validating between epochs is wall time between batches, so it is counted in.
    """

    MIN_BATCHES = 5
    MIN_SECONDS = 2.0

    def __init__(self) -> None:
        self.start: tuple[int, float] | None = None  # (batches done, time) after the first

    def batch_done(self, done: int, now: float) -> None:
        if self.start is None:
            self.start = (done, now)

    def seconds_left(self, done: int, total: int, now: float) -> float | None:
        if self.start is None:
            return None
        done_then, then = self.start
        batches, seconds = done - done_then, now - then
        if batches < self.MIN_BATCHES or seconds < self.MIN_SECONDS:
            return None
        return (total - done) * seconds / batches


class _Monitor:
    """Keras callback: progress per batch, validation F2 per epoch, early stopping, cancel."""

    def __init__(self, config, network, x_val, y_val, steps, emit, is_cancelled) -> None:
        import keras

        # Built here so that model/ can be imported without Keras for cards and labels.
        outer = self

        class _Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                outer.on_batch(batch, logs or {})

            def on_epoch_begin(self, epoch, logs=None):
                outer.epoch_started = time.monotonic()
                outer.epoch = epoch

            def on_epoch_end(self, epoch, logs=None):
                outer.on_epoch(epoch, logs or {})

        self.callback = _Callback()
        self.config, self.network = config, network
        self.x_val, self.y_val = x_val, y_val
        self.steps, self.emit, self.is_cancelled = steps, emit, is_cancelled
        self.history: list[dict[str, Any]] = []
        self.best_loss = math.inf
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0
        self.epoch = 0
        self.epoch_started = time.monotonic()
        self.eta = TimeLeft()
        self.last_emit = 0.0

    def on_batch(self, batch: int, logs: dict[str, float]) -> None:
        if self.is_cancelled():
            self.network.stop_training = True
            raise CancelledError("training cancelled")
        now = time.monotonic()
        done = self.epoch * self.steps + batch + 1
        self.eta.batch_done(done, now)
        if now - self.last_emit < 0.25 and batch + 1 < self.steps:
            return
        self.last_emit = now
        total = self.config.epochs * self.steps
        self.emit(
            TrainEvent(
                "train",
                batch + 1,
                self.steps,
                self.epoch + 1,
                self.config.epochs,
                {"loss": float(logs.get("loss", float("nan")))},
                self.eta.seconds_left(done, total, now),
            )
        )

    def on_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        probs = np.asarray(self.network.predict(self.x_val, batch_size=256, verbose=0))
        val_f2 = fbeta_samples(self.y_val, probs >= 0.2, 2.0)
        entry = {
            "epoch": epoch + 1,
            "loss": round(float(logs.get("loss", float("nan"))), 5),
            "val_loss": round(float(logs.get("val_loss", float("nan"))), 5),
            "val_f2_at_0.2": round(val_f2, 5),
            "learning_rate": float(self.network.optimizer.learning_rate),
            "seconds": round(time.monotonic() - self.epoch_started, 1),
        }
        self.history.append(entry)
        if entry["val_loss"] < self.best_loss:
            self.best_loss, self.best_epoch = entry["val_loss"], epoch + 1
            self.best_weights = [w.copy() for w in self.network.get_weights()]
        elif epoch + 1 - self.best_epoch >= self.config.patience:
            self.network.stop_training = True
        self.emit(
            TrainEvent(
                "epoch",
                epoch + 1,
                self.config.epochs,
                epoch + 1,
                self.config.epochs,
                {k: v for k, v in entry.items() if isinstance(v, float)},
            )
        )
