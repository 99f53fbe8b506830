"""The same predictor on Ray Data, for more chips than one machine handles.

The folder's file list becomes a dataset of batches (the same 64-chip batches, in the same order,
as the single-process run, so the network sees identical inputs and the CSV is identical);
`map_batches` runs them through a callable class that opens the model once per actor with
`model.predictor.open_predictor`, at the precision the driver chose. The driver decodes nothing
and loads no network: it only lists the folder, gathers rows in folder order and makes the calls.
On a cluster, the model, the chips and the user's data folder (the int8 twin) must be at the same
paths on every node, e.g. on shared storage, with this package installed there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from model.card import read_card
from model.chips import CHIP_EXTENSIONS, list_chips
from model.errors import ChipAuditError, ChipError
from model.metrics import decide
from model.predicting import FolderPrediction
from model.predictor import Say, prepare_precision, resolve_model_path
from model.tags import TAGS

INSTALL_HINT = "--ray needs Ray: pip install -e '.[cluster]'"


class ChipBatchPredictor:
    """One Ray actor's model, loaded once; each call decodes and predicts some 64-chip batches."""

    def __init__(self, model_path: str, precision: str, tta: bool) -> None:
        from model.predictor import open_predictor

        self.predictor = open_predictor(model_path, precision)
        self.tta = tta

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from model.decoding import decode_batch

        out: dict[str, list[Any]] = {"index": [], "name": [], "probs": [], "error": []}
        size = self.predictor.input_size
        for first, paths in zip(rows["first"], rows["paths"]):
            batch_paths = [Path(p) for p in paths]
            batch = decode_batch(batch_paths, size)
            probs = self.predictor.predict_batch(batch.images, self.tta)
            kept = {p: row for row, p in enumerate(batch.paths)}
            failed = {Path(e.path): e.reason for e in batch.errors}
            for offset, path in enumerate(batch_paths):
                out["index"].append(int(first) + offset)
                out["name"].append(path.stem)
                row = kept.get(path)
                out["probs"].append(
                    probs[row] if row is not None else np.full(len(TAGS), np.nan, np.float32)
                )
                out["error"].append(failed.get(path, ""))
        return {
            "index": np.asarray(out["index"], np.int64),
            "name": np.asarray(out["name"], dtype=object),
            "probs": np.stack(out["probs"]).astype(np.float32),
            "error": np.asarray(out["error"], dtype=object),
        }


def predict_folder_on_ray(
    folder: str | os.PathLike[str],
    model_path: str | os.PathLike[str] | None = None,
    precision: str = "auto",
    address: str = "local",
    workers: int | None = None,
    tta: bool = False,
    say: Say | None = None,
    batch_size: int = 64,
) -> FolderPrediction:
    """Predict a folder on Ray: a local Ray with this machine's cores, or the cluster at
    `address`. Rows come back in folder order, in the format of `predict_folder`'s."""
    try:
        import ray
    except ImportError:
        raise ChipAuditError(INSTALL_HINT) from None
    from model.paths import REPO_ROOT

    path = resolve_model_path(model_path)
    # Decided (and a missing twin made) once, here, so that every actor runs the same precision.
    choice = prepare_precision(path, precision, say)
    listing = list_chips(folder)
    if not listing.paths and not listing.errors:
        raise ChipAuditError(f"{folder}: no chip files ({', '.join(CHIP_EXTENSIONS)}) in it")
    cores = os.cpu_count() or 1
    workers = workers or cores
    if workers < 1:
        raise ChipAuditError("--workers must be at least 1")
    started = time.monotonic()
    import logging

    logging.getLogger("ray").setLevel(logging.WARNING)  # its INFO lines would bury ours
    env = {"CHIP_AUDIT_DATA": str(_data_dir()), "TF_CPP_MIN_LOG_LEVEL": "2"}
    if address == "local":
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
        )
        ray.init(
            num_cpus=max(cores, workers),
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": env},
            configure_logging=False,
        )
    else:
        ray.init(
            address=address,
            runtime_env={"env_vars": env},
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    try:
        paths = [str(p) for p in listing.paths]
        chunks = [
            {"first": i, "paths": paths[i : i + batch_size]}
            for i in range(0, len(paths), batch_size)
        ]
        dataset = ray.data.from_items(chunks).map_batches(
            ChipBatchPredictor,
            fn_constructor_kwargs={
                "model_path": str(path),
                "precision": choice.precision,
                "tta": tta,
            },
            batch_size=1,
            batch_format="numpy",
            concurrency=workers,
            num_cpus=max(cores // workers, 1) if address == "local" else 1,
        )
        rows = sorted(dataset.take_all(), key=lambda r: int(r["index"]))
    finally:
        ray.shutdown()
    names = [str(r["name"]) for r in rows if not r["error"]]
    probs = np.asarray([r["probs"] for r in rows if not r["error"]], np.float32).reshape(
        -1, len(TAGS)
    )
    errors = list(listing.errors)
    errors.extend(
        ChipError(Path(paths[int(r["index"])]), str(r["error"])) for r in rows if r["error"]
    )
    card = read_card(path)
    calls = decide(
        probs, np.asarray(card.threshold_list(), np.float32), card.weather_rule == "argmax"
    )
    return FolderPrediction(names, probs, calls, errors, time.monotonic() - started, card.version)


def _data_dir() -> Path:
    from model.paths import user_data_dir

    return user_data_dir()
