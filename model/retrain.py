"""Retrain from a review and compare with the model in use, fairly.

`retrain` calls the same `training.train` as the command line, then scores the model in use on
the new model's validation chips (which the new model never trained on). The new model's figures
there are its cross-validated ones from its card: its thresholds were tuned on those chips, so
scoring it with them directly would flatter it.

`main` is the entry of the trainer process the app starts (`python -m model.retrain`): it reports
every event as a JSON line, so a crash there cannot touch the app.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.comparison import MIN_POSITIVES, paired_bootstrap, tag_positives
from model.errors import CancelledError, ChipAuditError
from model.labels import label_matrix, read_labels
from model.metrics import decide
from model.train_config import TrainConfig
from model.training import CancelFn, ProgressFn, train
from model.tuning import validation_draws

if TYPE_CHECKING:
    from model.review import Review


def default_retrain_config(review: Review, start_from: Path) -> TrainConfig:
    """The retrain a reviewer gets in one click: fine-tune `start_from` (the active model) on
    the review's corrected labels and the folder's chips, with the validation fraction, epochs
    and input size of its card.

    The corrected labels are exported now, to a file of their own in the user's data folder, so
    the trainer process reads exactly what the reviewer saw when they asked.
    """
    from model.card import read_card
    from model.paths import user_data_dir
    from model.versions import new_model_path

    card = read_card(start_from) if Path(start_from).is_file() else None
    recipe = card.recipe if card else {}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    labels = user_data_dir() / "retrain" / f"{review.folder.name}-{stamp}-labels.csv"
    labels.parent.mkdir(parents=True, exist_ok=True)
    review.export_labels(labels)
    base_lr = float(recipe.get("learning_rate", 1e-3))
    # One validation set per folder: a model trained here validates on the chips its parent
    # validated on, so neither model of a comparison has trained on them.
    trained_on = card.data.get("folder") if card else None
    same_folder = bool(trained_on) and Path(trained_on).resolve() == review.folder.resolve()
    validation = card.data.get("validation_names") if same_folder else None
    return TrainConfig(
        folder=review.folder,
        labels=labels,
        out=new_model_path(),
        init=str(start_from) if card else "scratch",
        epochs=int(recipe.get("epochs", 10)),
        input_size=int(card.input_size) if card else 32,
        val_frac=float(recipe.get("val_frac", 0.1)),
        # Fine-tuning takes smaller steps than training from scratch.
        learning_rate=base_lr / 10 if card else base_lr,
        architecture=card.architecture if card else "vgg16_bn",
        validation_names=list(validation) if validation else None,
    )


def retrain(
    config: TrainConfig,
    baseline: str | Path | None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> dict[str, Any]:
    """Train, then compare with `baseline` on the new model's validation chips.

    Besides both models' figures: how training stopped (`stopping`), each tag's validation
    positives with the ones too few to mean anything (`per_tag_positives`), and, with a
    baseline, new minus old in samples F2 and macro F1 with 95% intervals from a paired
    bootstrap over those chips (`differences`; `measurable` false: no measurable difference).
    """
    result = train(config, progress, cancel)
    card = result.card
    labels = read_labels(config.labels)
    val_names = card.data["validation_names"]
    y_val = label_matrix(val_names, labels)
    comparison: dict[str, Any] = {
        "path": str(result.path),
        "version": card.version,
        "n_val": card.data["n_val"],
        "validation_folder": str(config.folder),
        "new": card.metrics["validation"],
        "new_thresholds": card.thresholds,
        "old": None,
        "skipped": result.skipped,
        "stopping": result.stopping,
        "per_tag_positives": tag_positives(y_val),
        "min_positives": MIN_POSITIVES,
    }
    if baseline is not None and Path(baseline).is_file():
        from model.chips import list_chips
        from model.predicting import load_model, score_paths

        by_name = {p.stem: p for p in list_chips(config.folder).paths}
        paths = [by_name[n] for n in val_names if n in by_name]
        old = load_model(baseline)
        report, scored = score_paths(old, paths, labels, cancel=cancel)
        comparison["old"] = report
        comparison["old_version"] = old.version
        # The new model's calls as its card's figures made them: each chip with thresholds
        # tuned on the other fold, in every draw; on the chips the old model could score.
        rows = [val_names.index(n) for n in scored.names]
        argmax = card.weather_rule == "argmax"
        new_probs = result.validation_probs
        draws = validation_draws(y_val, new_probs, config.seed)
        new_calls = [decide(new_probs, t, argmax)[rows] for t in draws]
        comparison["differences"] = paired_bootstrap(y_val[rows], new_calls, scored.calls)
    return comparison


MARKER = "@chip-audit@ "  # lines of ours on stdout; anything else (library chatter) is ignored


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(MARKER + json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Trainer process: `python -m model.retrain SETTINGS.json`.

    Writes events, then one final message ("done", "cancelled" or "error"), as JSON lines on
    stdout. A line "cancel" on stdin, or stdin closing (the app went away), cancels.
    """
    args = sys.argv[1:] if argv is None else argv
    settings = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    cancel = threading.Event()

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "cancel":
                break
        cancel.set()

    threading.Thread(target=watch_stdin, name="cancel-watch", daemon=True).start()
    try:
        config = settings["config"]
        for key in ("folder", "labels", "out"):
            config[key] = Path(config[key])
        comparison = retrain(
            TrainConfig(**config),
            settings.get("baseline"),
            lambda event: _emit({"kind": "event", **asdict(event)}),
            cancel.is_set,
        )
    except CancelledError:
        _emit({"kind": "cancelled"})
        return 1
    except ChipAuditError as exc:
        _emit({"kind": "error", "message": str(exc)})
        return 2
    except MemoryError:
        _emit({"kind": "error", "message": "the trainer ran out of memory"})
        return 1
    except Exception as exc:  # reported to the app, which stays up whatever happens here
        traceback.print_exc()
        _emit({"kind": "error", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    _emit({"kind": "done", "comparison": comparison})
    return 0


if __name__ == "__main__":
    sys.exit(main())
