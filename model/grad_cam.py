"""Where in the chip the model sees a tag: Grad-CAM (Selvaraju et al. 2017) on the network's last
convolutions that still have a 4 x 4 grid, upsampled smoothly to the chip's size.

At the bundled model's 32 px input the last block's convolutions work on a 2 x 2 grid and the
block before on 4 x 4: the map can say which quarter of the chip, or which sixteenth, and no
finer. The app says so beside the overlay (COARSE_NOTE).
"""

from __future__ import annotations

import weakref

import numpy as np
from PIL import Image

from model.tags import TAG_INDEX

MIN_GRID = 4  # the coarsest grid worth showing


def cam_layer(network, input_size: int) -> str:
    """The last convolution activation whose grid is at least MIN_GRID cells wide at this input
    size (the network takes any size; its card says which it learnt)."""
    size = int(input_size)
    best = None
    for layer in network.layers:
        name = layer.name
        if name.endswith("_pool") and name.startswith("block"):
            size //= 2
        elif name.startswith("block") and name.endswith("_relu") and size >= MIN_GRID:
            best = name
    if best is None:
        raise ValueError("the network has no convolution with a grid of 4 x 4 or more")
    return best


# Per loaded model: the network with the chosen layer's output beside the probabilities. Built
# once, not per request (building it cost most of a request's time).
_CAM_NETWORKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cam_network(classifier):
    """The classifier's network with two outputs: the Grad-CAM layer's activations and the
    probabilities (shares the weights)."""
    both = _CAM_NETWORKS.get(classifier)
    if both is None:
        import keras

        network = classifier.network
        layer = network.get_layer(cam_layer(network, classifier.input_size))
        both = keras.Model(network.inputs, [layer.output, network.outputs[0]])
        _CAM_NETWORKS[classifier] = both
    return both


def class_activation(classifier, image: np.ndarray, tag: str) -> tuple[np.ndarray, int]:
    """(map, grid): Grad-CAM of `tag` for one image (h, w, 3 uint8 at the model's input size),
    in [0, 1] on the layer's grid (grid x grid cells); zeros where nothing raises the tag."""
    import tensorflow as tf

    both = cam_network(classifier)
    x = tf.convert_to_tensor(image[None].astype(np.float32))
    with tf.GradientTape() as tape:
        conv, probs = both(x, training=False)
        score = probs[:, TAG_INDEX[tag]]
    grads = tape.gradient(score, conv)[0].numpy()
    conv = conv[0].numpy()
    weights = grads.mean(axis=(0, 1))  # one weight per channel: its average gradient
    cam = np.maximum((conv * weights).sum(axis=-1), 0.0)
    top = float(cam.max())
    return (cam / top if top > 0 else cam).astype(np.float32), int(cam.shape[0])


def upsample(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """The map smoothly (bicubic) at height x width, clipped to [0, 1]."""
    image = Image.fromarray(cam.astype(np.float32), mode="F")
    return np.clip(np.asarray(image.resize((width, height), Image.BICUBIC)), 0.0, 1.0)


def tag_to_show(probs: np.ndarray | None, now: np.ndarray, thresholds: np.ndarray) -> str:
    """The tag worth a look: the chip's most suspect tag (model.audit), else the land tag the
    model is surest of."""
    from model.audit import tag_suspicion
    from model.tags import LAND_TAGS, TAGS

    if probs is None:
        return "primary"
    doubt = tag_suspicion(probs[None], np.asarray(now, np.float32)[None], thresholds)[0]
    if doubt.max() > 0:
        return TAGS[int(np.argmax(doubt))]
    return max(LAND_TAGS, key=lambda t: probs[TAG_INDEX[t]])


def coarse_note(grid: int, input_size: int) -> str:
    return (
        f"Where the model sees it: a {grid} x {grid} map (the model looks at {input_size} px),"
        " smoothed; it says which part of the chip, not which pixels."
    )


def map_note(tag: str, cam: np.ndarray, grid: int, input_size: int) -> str:
    """What to say beside the map: the tag in red and how coarse the map is; or, where no part
    of the chip raises the tag's score (an all-zero map, which draws nothing), that."""
    if not np.any(cam > 0):
        return (
            f"Where the model sees {tag}: nowhere in particular. No part of the chip raises its"
            f" {tag} score on the {grid} x {grid} map (the model looks at {input_size} px), so"
            " nothing is marked red."
        )
    return f"{tag} (red). " + coarse_note(grid, input_size)
