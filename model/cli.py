"""The command line: predict, evaluate, audit, train, info. `main.py` dispatches here.

Exit codes: 0 success, 2 a user's mistake (one line on stderr, no traceback), 130 on Ctrl+C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from model.errors import CancelledError, ChipAuditError
from model.metrics import THRESHOLD_RULE, UNRECORDED_RULE
from model.wording import count

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130


class ProgressLine:
    """'label [bar] done/total rate eta' on one stderr line, redrawn at most 4 times a second.

    The rate is measured from the first report on, not from the start (which includes loading
    the model), and is shown once a second of work has been measured; until then, 'estimating'.
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label, self.stream = label, stream or sys.stderr
        self.first: tuple[float, int] | None = None  # (time, done) of the first report
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = (now, done)
        if now - self.last < 0.25 and done < total:
            return
        self.last = now
        width = 24
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(
            f"{self.label} [{bar}] {done}/{total}  {self._pace(now, done, total)}{end}"
        )
        self.stream.flush()
        self.shown = True

    def _pace(self, now: float, done: int, total: int) -> str:
        assert self.first is not None
        start, done_then = self.first
        if now - start < 1.0 or done <= done_then:
            return "" if done >= total else "estimating"
        rate = (done - done_then) / (now - start)
        return f"{rate:.0f} chips/s  eta {(total - done) / rate:.0f}s"

    def close(self) -> None:
        if self.shown and self.stream.isatty():
            self.stream.write("\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Chip Audit: audit the crowd's tags on Planet chips beside a VGG16 classifier. "
        "With no command, opens the app.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("predict", help="tags per chip for a folder, as a labels CSV")
    p.add_argument("folder", type=Path)
    p.add_argument("--model", type=Path, help="a .keras model (default: the app's active model)")
    p.add_argument("--out", type=Path, help="labels CSV to write (default: stdout)")
    p.add_argument("--probs", type=Path, help="also write each tag's probability to this CSV")
    p.add_argument("--tta", action="store_true", help="average 8 flips and rotations")
    _precision_option(p)
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run on Ray Data: a local Ray with this machine's cores, or the cluster at ADDRESS "
        "(pip install -e '.[cluster]')",
    )
    p.add_argument(
        "--workers", type=int, help="Ray actors, each holding one model (default: cores)"
    )

    p = sub.add_parser("evaluate", help="score the model on a labelled folder")
    p.add_argument("folder", type=Path)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--model", type=Path)
    p.add_argument("--tta", action="store_true")
    _precision_option(p)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")

    p = sub.add_parser("train", help="train or fine-tune on a labelled folder")
    p.add_argument("folder", type=Path)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--init", default="scratch", help="'scratch' or a .keras model to fine-tune")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--val-frac", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument(
        "--warmup-epochs",
        type=float,
        help="epochs of linear warm-up (default: 1 from scratch, 0 when fine-tuning)",
    )
    p.add_argument(
        "--max-pos-weight",
        type=float,
        default=5.0,
        help="cap on a tag's positive weight, sqrt(negatives/positives) (default 5)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--architecture", default="vgg16_bn", choices=["vgg16_bn", "vgg16"])
    p.add_argument("--imagenet-weights", type=Path, help="local VGG16 no-top weights (.h5)")
    p.add_argument("--out", type=Path, required=True, help="model file to write (.keras)")
    p.add_argument(
        "--no-twin", action="store_true", help="do not make the int8 twin after training"
    )

    p = sub.add_parser(
        "tune-thresholds",
        help="choose a trained model's thresholds again on its validation chips (card rewritten)",
    )
    p.add_argument("folder", type=Path, help="the folder the model was trained from")
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True, help="the .keras model (card rewritten)")

    p = sub.add_parser(
        "make-twin", help="make (again) a model's int8 twin and check it against float32"
    )
    p.add_argument("--model", type=Path)
    p.add_argument(
        "--chips",
        "--folder",
        dest="chips",
        type=Path,
        help="its training chips, a folder or a .tar of them (default: its card's folder, else "
        "its card's archive in $CHIP_AUDIT_TRAINING_DATA or ../shared/data/planet)",
    )
    p.add_argument(
        "--labels",
        type=Path,
        help="their labels CSV (default: its card's, else its card's labels source found there)",
    )

    p = sub.add_parser(
        "audit",
        help="every labelled chip with its suspicion and suspect tags, most suspect first",
    )
    p.add_argument("folder", type=Path)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--model", type=Path)
    p.add_argument("--out", type=Path, help="CSV to write (default: stdout)")
    p.add_argument("--json", action="store_true", help="JSON instead of CSV")

    p = sub.add_parser("info", help="show a model's card")
    p.add_argument("--model", type=Path)
    p.add_argument("--json", action="store_true")

    # Listed for --help; main.py hands `stats` to gui/stats.py (its charts are drawn with Qt,
    # offscreen) before this parser runs.
    p = sub.add_parser("stats", help="tag counts, co-occurrence, colour per tag: PNG and CSV")
    p.add_argument("labels", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--chips", type=Path)

    # Listed for --help; main.py hands `review` to the app before this parser runs.
    p = sub.add_parser("review", help="open the review window on a folder")
    p.add_argument("folder", type=Path, nargs="?")
    p.add_argument("--labels", type=Path)
    return parser


def _precision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "int8"],
        default="auto",
        help="auto (default): the int8 twin where it is faster here and within the accuracy "
        "budget, else float32; fp32 opts out",
    )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in COMMANDS:
        parser.print_help()
        return EXIT_OK
    try:
        return COMMANDS[args.command](args)
    except ChipAuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, CancelledError):
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def cmd_info(args: argparse.Namespace) -> int:
    from model.card import read_card
    from model.errors import ModelError
    from model.versions import active_model

    active = active_model()
    path, why = (args.model, "named with --model") if args.model else (active.path, active.why)
    if not Path(path).is_file():
        if args.model is None:
            raise ModelError(f"{path}: no bundled model yet; pass --model M")
        raise ModelError(f"{path}: no such model file")
    card = read_card(path)
    if args.json:
        print(card.to_json(), end="")
        return EXIT_OK
    from model.predictor import choose_precision

    print(f"model        {path}")
    print(f"why this one {why}")
    print(f"precision    {choose_precision(Path(path)).why}")
    print(f"version      {card.version}   created {card.created}")
    print(f"architecture {card.architecture}, input {card.input_size} px")
    weather = "the likeliest one" if card.weather_rule == "argmax" else "each on its threshold"
    print(f"weather tags {weather}")
    print(f"started from {card.parent or 'scratch (no parent model)'}")
    for run in card.ancestors:
        print(
            f"  which was   {run['version']}: {count(len(run['history']), 'epoch')} from "
            f"{run['recipe'].get('init', '?')}"
        )
    data = card.data
    if data:
        print(
            f"trained on   {count(data.get('n_train', 0), 'chip')}, "
            f"validated on {data.get('n_val')}"
        )
    val = card.metrics.get("validation")
    if val:
        print(
            f"validation   F2 {val['f2_samples']:.4f}  F1 {val['f1_samples']:.4f}  "
            f"macro F1 {val['macro_f1']:.4f}  ({card.metrics.get('validation_note', '')})"
        )
        print(f"  the calls  {val.get('rule', UNRECORDED_RULE)}")
        if "f2_samples_threshold_rule" in val:
            print(
                f"  plain threshold rule ({THRESHOLD_RULE}): "
                f"F2 {val['f2_samples_threshold_rule']:.4f}"
            )
        print(_tag_table(val["per_tag"], card.thresholds))
    return EXIT_OK


def _tag_table(per_tag: dict[str, dict[str, float]], thresholds: dict[str, float]) -> str:
    rows = [f"{'tag':<18}{'support':>8}{'prec':>7}{'recall':>7}{'F1':>7}{'F2':>7}{'thresh':>8}"]
    for tag, s in per_tag.items():
        rows.append(
            f"{tag:<18}{s['support']:>8}{s['precision']:>7.3f}{s['recall']:>7.3f}"
            f"{s['f1']:>7.3f}{s['f2']:>7.3f}{thresholds.get(tag, float('nan')):>8.2f}"
        )
    return "\n".join(rows)


def cmd_predict(args: argparse.Namespace) -> int:
    from model.predicting import predict_folder, write_predictions

    if args.ray is not None:
        from model.ray_predict import predict_folder_on_ray

        result = predict_folder_on_ray(
            args.folder, args.model, args.precision, args.ray, args.workers, args.tta, _say
        )
    else:
        result = predict_folder(
            args.folder, args.model, args.tta, ProgressLine("predict"), args.precision, _say
        )
    write_predictions(result, args.out, args.probs)
    _report_skipped(result.errors)
    print(
        f"predicted {count(len(result.names), 'chip')} in {result.seconds:.1f}s "
        f"({result.chips_per_s:.0f} chips/s)",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from model.predicting import evaluate_folder

    report = evaluate_folder(
        args.folder,
        args.labels,
        args.model,
        args.tta,
        ProgressLine("evaluate"),
        args.precision,
        _say,
    )
    if args.json:
        print(json.dumps(report))
        return EXIT_OK
    _report_skipped(report["errors"])
    print(
        f"model {report['model']}  ({count(report['n_chips'], 'chip')}, "
        f"{report['chips_per_s']:.0f} chips/s, {report['precision']})"
    )
    if report["n_unlabelled_chips"] or report["n_labels_without_chip"]:
        print(
            f"not scored: {count(report['n_unlabelled_chips'], 'chip')} without a label, "
            f"{count(report['n_labels_without_chip'], 'label')} without a chip"
        )
    print(f"the model's calls ({report['rule']}):")
    print(
        f"samples F2 {report['f2_samples']:.4f}  samples F1 {report['f1_samples']:.4f}  "
        f"macro F1 {report['macro_f1']:.4f}"
    )
    print(
        f"plain threshold rule ({THRESHOLD_RULE}): samples F2 "
        f"{report['f2_samples_threshold_rule']:.4f}"
    )
    thresholds = {t: s["threshold"] for t, s in report["per_tag"].items()}
    print(_tag_table(report["per_tag"], thresholds))
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    from model.auditing import audit_folder, level_counts, suspects_csv, suspects_json
    from model.files import atomic_write_text

    found, errors = audit_folder(args.folder, args.labels, args.model, ProgressLine("audit"))
    text = suspects_json(found) + "\n" if args.json else suspects_csv(found)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
    _report_skipped(errors)
    levels = level_counts(found)
    print(
        f"audited {count(len(found), 'labelled chip')}: {levels['high']} high, "
        f"{levels['medium']} medium, {levels['low']} low",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from model.train_config import TrainConfig, check_config

    config = TrainConfig(
        folder=args.folder,
        labels=args.labels,
        out=args.out,
        init=args.init,
        epochs=args.epochs,
        input_size=args.input_size,
        val_frac=args.val_frac,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        warmup_epochs=args.warmup_epochs,
        max_pos_weight=args.max_pos_weight,
        seed=args.seed,
        architecture=args.architecture,
        imagenet_weights=args.imagenet_weights,
    )
    check_config(config)  # a mistake in the settings is said before TensorFlow loads (seconds)
    from model.training import TrainEvent, train

    decode_bar = ProgressLine("decode")

    def show(event: TrainEvent) -> None:
        if event.stage == "decode":
            decode_bar(event.done, event.total)
        elif event.stage == "train" and sys.stderr.isatty():
            left = "estimating" if event.eta_s is None else f"{event.eta_s:.0f}s"
            sys.stderr.write(
                f"\repoch {event.epoch}/{event.epochs} batch {event.done}/{event.total} "
                f"loss {event.logs.get('loss', 0):.4f}  time left {left}   "
            )
        elif event.stage == "epoch":
            logs = " ".join(f"{k} {v:.4f}" for k, v in event.logs.items())
            end_bar = "\n" if sys.stderr.isatty() else ""  # the batch line above has no end
            line = f"{end_bar}epoch {event.epoch}/{event.epochs}: {logs}"
            print(line, file=sys.stderr, flush=True)
        elif event.message:
            print(event.message, file=sys.stderr, flush=True)

    result = train(config, show)
    _report_skipped(result.skipped)
    if not args.no_twin:
        from model.predictor import prepare_precision

        prepare_precision(result.path, "auto", _say)  # makes its int8 twin, checked
    val = result.card.metrics["validation"]
    print(
        f"wrote {result.path} (version {result.card.version}): validation F2 "
        f"{val['f2_samples']:.4f}, F1 {val['f1_samples']:.4f}, macro F1 {val['macro_f1']:.4f}"
    )
    return EXIT_OK


def _report_skipped(errors: list) -> None:
    for error in errors:
        print(f"skipped: {error}", file=sys.stderr)


def cmd_tune_thresholds(args: argparse.Namespace) -> int:
    from model.card import card_path
    from model.tuning import retune_thresholds

    before, after = retune_thresholds(args.model, args.folder, args.labels)
    for name, val in (("before", before), ("after", after)):
        if val:
            print(
                f"{name:<7}validation F2 {val['f2_samples']:.4f}  F1 {val['f1_samples']:.4f}  "
                f"macro F1 {val['macro_f1']:.4f}"
            )
    print(f"rewrote {card_path(args.model)}")
    return EXIT_OK


def cmd_make_twin(args: argparse.Namespace) -> int:
    from model.int8_twin import check_path, make_twin
    from model.predictor import resolve_model_path

    path = resolve_model_path(args.model)
    check = make_twin(path, args.chips, args.labels, _say)
    val = check["validation"]
    for name in ("fp32", "int8"):
        print(
            f"{name:<5} validation F2 {val[name]['f2_samples']:.4f}  "
            f"F1 {val[name]['f1_samples']:.4f}  macro F1 {val[name]['macro_f1']:.4f}"
        )
    print(
        f"calls agree on {val['call_agreement']:.2%} of chip x tag cells; network "
        f"{check['speed']['fp32_chips_per_s']:.0f} -> {check['speed']['int8_chips_per_s']:.0f} "
        f"chips/s; wrote {check_path(check['version'])}"
    )
    return EXIT_OK


COMMANDS = {
    "make-twin": cmd_make_twin,
    "info": cmd_info,
    "predict": cmd_predict,
    "audit": cmd_audit,
    "evaluate": cmd_evaluate,
    "train": cmd_train,
    "tune-thresholds": cmd_tune_thresholds,
}
