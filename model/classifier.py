"""The VGG16 classifier: build, save with its card, load safely, predict in batches.

VGG16's 13 convolutions in five blocks, optionally with batch normalisation after each (the
common "vgg16_bn" variant), then global average pooling and 17 sigmoid outputs. Global pooling
keeps the network fully convolutional, so one model serves 32 px and larger inputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from model.card import ModelCard, card_path, read_card, write_card
from model.errors import CancelledError, ModelError
from model.files import target_mode
from model.metrics import decide
from model.tags import TAGS
from model.tensorflow_setup import import_keras

keras = import_keras()  # TensorFlow's settings (oneDNN kernels on) and a quiet start-up

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
ARCHITECTURES = ("vgg16_bn", "vgg16")

Progress = Callable[[int, int], None]
CancelFlag = Callable[[], bool]


def build_network(
    architecture: str = "vgg16_bn",
    dropout: float = 0.3,
    imagenet_weights: str | os.PathLike[str] | None = None,
) -> keras.Model:
    """A VGG16 with a 17-way sigmoid head taking (any size >= 32, 3) uint8-range RGB.

    ImageNet weights are only ever read from a local file the user names: nothing downloads.
    """
    if architecture not in ARCHITECTURES:
        raise ModelError(
            f"unknown architecture {architecture!r}; choose {', '.join(ARCHITECTURES)}"
        )
    inputs = keras.Input(shape=(None, None, 3), name="rgb")
    if imagenet_weights is not None:
        if architecture != "vgg16":
            raise ModelError("ImageNet weights fit the plain 'vgg16' architecture only")
        weights = Path(imagenet_weights)
        if not weights.is_file():
            raise ModelError(f"{weights}: no such ImageNet weights file")
        # ImageNet VGG16 expects BGR with the ImageNet channel means removed ("caffe" mode).
        # A fixed 1x1 convolution does both and, unlike a Lambda, loads in Keras' safe mode.
        to_bgr = keras.layers.Conv2D(3, 1, name="rgb_to_bgr_centred", trainable=False)
        x = to_bgr(inputs)
        swap = np.zeros((1, 1, 3, 3), dtype=np.float32)
        swap[0, 0, 0, 2] = swap[0, 0, 1, 1] = swap[0, 0, 2, 0] = 1.0
        to_bgr.set_weights([swap, -np.array([103.939, 116.779, 123.68], dtype=np.float32)])
        base = keras.applications.VGG16(
            include_top=False, weights=None, input_shape=(None, None, 3)
        )
        try:
            base.load_weights(str(weights))
        except Exception as exc:  # Keras raises many types for a wrong file
            raise ModelError(f"{weights}: not VGG16 no-top ImageNet weights ({exc})") from None
        x = base(x)
    else:
        x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
        use_bn = architecture == "vgg16_bn"
        for block, widths in enumerate(VGG16_BLOCKS, start=1):
            for conv, width in enumerate(widths, start=1):
                name = f"block{block}_conv{conv}"
                x = keras.layers.Conv2D(
                    width,
                    3,
                    padding="same",
                    use_bias=not use_bn,
                    name=name,
                    kernel_initializer="he_normal",
                )(x)
                if use_bn:
                    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
                x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
            x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(len(TAGS), activation="sigmoid", name="tags")(x)
    return keras.Model(inputs, outputs, name=architecture)


def dihedral(images: np.ndarray, k: int) -> np.ndarray:
    """The k-th of the 8 flips and rotations of a (n, h, w, c) batch (k in 0..7)."""
    out = np.rot90(images, k % 4, axes=(1, 2))
    return out[:, :, ::-1] if k >= 4 else out


class Classifier:
    """A Keras network and its card. Not thread-safe: one thread owns each instance.

    One of the predictors of `model.predictor` (float32); its int8 twin is `model.int8_twin`."""

    precision = "fp32"

    def __init__(self, network: keras.Model, card: ModelCard, path: Path | None = None) -> None:
        self.network = network
        self.card = card
        self.path = path
        self._thresholds = np.asarray(card.threshold_list(), dtype=np.float32)
        self._two_outputs: keras.Model | None = None

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def input_size(self) -> int:
        return int(self.card.input_size)

    # --- files ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Classifier:
        """Load a .keras file in Keras' safe mode, with its card; clear errors otherwise."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        card = read_card(path)
        if not zipfile.is_zipfile(path):
            raise ModelError(f"{path}: not a Keras model file (corrupt or wrong format)")
        try:
            network = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises ValueError, OSError, KeyError... for bad files
            first = (
                str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            )
            raise ModelError(f"{path}: cannot load model ({first})") from None
        outputs = network.outputs[0].shape[-1] if network.outputs else None
        if outputs != len(TAGS):
            raise ModelError(f"{path}: model has {outputs} outputs, expected {len(TAGS)} tags")
        return cls(network, card, path)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write model then card, each atomically; the card goes last so a crash in between
        leaves no loadable half (load needs both)."""
        path = Path(path)
        if path.suffix != ".keras":
            raise ModelError(f"{path}: model files end in .keras")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
        os.close(fd)
        try:
            # Rebuilt from its config: same layers and weights, no optimizer state or loss.
            lean = keras.Model.from_config(self.network.get_config())
            lean.set_weights(self.network.get_weights())
            keras.saving.save_model(lean, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, target_mode(path))
            os.replace(tmp, path)
        except OSError as exc:
            raise ModelError(f"{path}: cannot write model ({exc.strerror})") from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        write_card(path, self.card)
        self.path = path
        return path

    # --- prediction ----------------------------------------------------------------------
    def predict(
        self,
        images: np.ndarray,
        batch_size: int = 64,
        tta: bool = False,
        progress: Progress | None = None,
        cancel: CancelFlag | None = None,
    ) -> np.ndarray:
        """(n, 17) float32 probabilities for (n, s, s, 3) uint8 images at the model's size."""
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected (n, h, w, 3) images, got {images.shape}")
        out = np.empty((len(images), len(TAGS)), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            if cancel is not None and cancel():
                raise CancelledError("prediction cancelled")
            batch = images[start : start + batch_size]
            out[start : start + len(batch)] = self.predict_batch(batch, tta)
            if progress is not None:
                progress(min(start + batch_size, len(images)), len(images))
        return out

    def predict_batch(self, images: np.ndarray, tta: bool = False) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, len(TAGS)), dtype=np.float32)
        x = images.astype(np.float32)
        if not tta:
            return np.asarray(self.network.predict_on_batch(x), dtype=np.float32)
        # Chips have no "up": average over the 8 flips and rotations.
        total = np.zeros((len(x), len(TAGS)), dtype=np.float32)
        for k in range(8):
            view = np.ascontiguousarray(dihedral(x, k))
            total += np.asarray(self.network.predict_on_batch(view), dtype=np.float32)
        return total / 8.0

    @property
    def two_output_network(self) -> keras.Model:
        """The same network with two outputs from one forward pass: the 17 probabilities and the
        global pooling layer's features ("pool"), which the map of the set and similar-chip
        search use. Shares the weights; built once."""
        if self._two_outputs is None:
            pooled = self.network.get_layer("pool").output
            self._two_outputs = keras.Model(
                self.network.inputs, [self.network.outputs[0], pooled], name="tags_and_features"
            )
        return self._two_outputs

    def predict_batch_with_features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, 17), pooled features (n, d)) for one batch, in one pass."""
        if len(images) == 0:
            width = int(self.network.get_layer("pool").output.shape[-1])
            return np.zeros((0, len(TAGS)), np.float32), np.zeros((0, width), np.float32)
        probs, features = self.two_output_network.predict_on_batch(images.astype(np.float32))
        return np.asarray(probs, dtype=np.float32), np.asarray(features, dtype=np.float32)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """The model's call per tag: probabilities over thresholds, and the card's weather rule."""
        return decide(probs, self._thresholds, self.card.weather_rule == "argmax")


def new_version(weights: list[np.ndarray]) -> str:
    """A sortable, unique name: creation time plus a hash of the weights."""
    digest = hashlib.sha256()
    for array in weights:
        digest.update(np.ascontiguousarray(array).tobytes())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{digest.hexdigest()[:8]}"


__all__ = [
    "Classifier",
    "build_network",
    "card_path",
    "dihedral",
    "new_version",
]
