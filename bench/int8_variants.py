"""The int8 twin's quantisation variants against float32, on the validation and full-size chips.

The model's two-output network is exported once, then quantised several ways (`Quantisation` in
model/int8_twin.py: every convolution int8 as before issue 17, 7-bit weights, uint8 weights,
another calibration, the first convolution at float32, the sigmoid after the head at float32,
and some of these together). For each, on the card's validation chips: samples F2 / F1 / macro
F1 with the card's thresholds (tuned on these chips at float32, so they favour it) and
cross-validated as the twin's check does, call agreement and mean |probability change|; on the
labelled full-size chips: samples F2 and macro F1, card thresholds and cross-validated. "exact"
rows run the same int8 model with ONNX Runtime's graph optimisations off: the QDQ graph in
float, that is integer arithmetic without the int16 saturation of the AVX2 U8S8 kernels
(VPMADDUBSW), as a VNNI machine computes it; the mean |probability difference| between the two
shows the saturation. Last, the network alone in chips/s, float32 and every variant timed in
interleaved rounds (512 chips, batch 64, the best round kept) so that a shared machine's load
falls on all alike. Usage:

    python bench/int8_variants.py [--model M.keras] [--folder TRAIN32 --labels CSV]
        [--chips DIR --chip-labels CSV] [--variants NAME ...] [--no-exact] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import common

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def variants():
    from model.int8_twin import Quantisation

    return {
        "all_int8": Quantisation(),  # the setting before issue 17
        "reduce_range": Quantisation(reduce_range=True),
        "u8u8": Quantisation(weights="uint8"),
        "percentile": Quantisation(method="Percentile", percentile=99.99),
        "entropy": Quantisation(method="Entropy"),
        "float_first_conv": Quantisation(float_first_conv=True),
        "reduce_range_first_conv": Quantisation(reduce_range=True, float_first_conv=True),
        "u8u8_first_conv": Quantisation(weights="uint8", float_first_conv=True),
        "all_int8_sigmoid": Quantisation(float_sigmoid=True),
        "first_conv_sigmoid": Quantisation(float_first_conv=True, float_sigmoid=True),
    }


DEFAULT_VARIANTS = [
    "all_int8",
    "reduce_range",
    "u8u8",
    "percentile",
    "float_first_conv",
    "first_conv_sigmoid",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="a .keras model")
    parser.add_argument("--folder", type=Path, help="its training chips (default: its card's)")
    parser.add_argument("--labels", type=Path, help="their labels (default: its card's)")
    parser.add_argument("--chips", type=Path, default=common.PLANET / "chips")
    parser.add_argument("--chip-labels", type=Path, default=common.PLANET / "chips_labels.csv")
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, metavar="NAME")
    parser.add_argument("--no-exact", action="store_true", help="skip the exact-arithmetic runs")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2
    known = variants()
    unknown = [v for v in args.variants if v not in known]
    if unknown:
        print(f"unknown variants {unknown}; known: {', '.join(known)}", file=sys.stderr)
        return 2

    import numpy as np
    import onnxruntime as ort
    from predict_throughput import cpu_summary

    from model import int8_twin
    from model.chips import list_chips
    from model.classifier import Classifier
    from model.decoding import decode_all
    from model.errors import ChipAuditError
    from model.labels import label_matrix, read_labels
    from model.metrics import decide, pooled_summary, summary
    from model.tuning import validation_draws

    try:
        classifier = Classifier.load(args.model)
        card = classifier.card
        calibration_paths, validation_paths, by_label = int8_twin.training_chips(
            card, args.folder, args.labels
        )
        chip_labels = read_labels(args.chip_labels)
    except ChipAuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = classifier.input_size
    argmax = card.weather_rule == "argmax"
    thresholds = np.asarray(card.threshold_list(), dtype=np.float32)
    seed = int(card.recipe.get("seed", 0))
    calibration = decode_all(calibration_paths, size).images.astype(np.float32)
    validation = decode_all(validation_paths, size)
    full = decode_all([p for p in list_chips(args.chips).paths if p.stem in chip_labels], size)
    y_val = label_matrix(validation.names, by_label)
    y_full = label_matrix(full.names, chip_labels)
    print(f"model {args.model.name} ({card.version}, {size} px); CPU: {cpu_summary()}")
    print(
        f"onnxruntime {ort.__version__}; {len(calibration)} calibration chips, "
        f"{len(y_val)} validation chips, {len(y_full)} full-size chips ({args.chips})"
    )
    started = time.perf_counter()
    fp32_val = int8_twin.predict_all(classifier.predict_batch, validation.images)
    fp32_full = int8_twin.predict_all(classifier.predict_batch, full.images)
    full_draws = validation_draws(y_full, fp32_full, seed)

    def full_figures(probs: np.ndarray) -> dict[str, float]:
        card_s = summary(y_full, decide(probs, thresholds, argmax))
        cv = pooled_summary(y_full, probs, full_draws, argmax)
        return {
            "f2": card_s["f2_samples"],
            "macro": card_s["macro_f1"],
            "cv_f2": cv["f2_samples"],
            "cv_macro": cv["macro_f1"],
        }

    reference = {
        "val": int8_twin.compare(card, y_val, fp32_val, fp32_val),
        "full": full_figures(fp32_full),
    }
    print(f"float32 predictions: {time.perf_counter() - started:.0f} s")
    fp32_tags = summary(y_val, decide(fp32_val, thresholds, argmax))["per_tag"]

    def tag_moves(probs: np.ndarray) -> str:
        """The validation tags whose F1 (card thresholds) moves by 0.01 or more."""
        tags = summary(y_val, decide(probs, thresholds, argmax))["per_tag"]
        moved = [
            f"{tag} {tags[tag]['f1'] - s['f1']:+.3f} ({s['support']} positives)"
            for tag, s in fp32_tags.items()
            if abs(tags[tag]["f1"] - s["f1"]) >= 0.01
        ]
        return ", ".join(moved) or "none moves by 0.01"

    print_figures("float32", reference)

    rows: list[tuple[str, dict, dict | None]] = []
    twins: dict[str, int8_twin.Int8Twin] = {}
    with tempfile.TemporaryDirectory(prefix="int8-variants-") as work:
        prepared = int8_twin.export_network(classifier, Path(work))
        for name in args.variants:
            how = known[name]
            began = time.perf_counter()
            out = Path(work) / f"{name}.onnx"
            int8_twin.quantise(prepared, out, calibration, how)
            made = time.perf_counter() - began
            twin = int8_twin.Int8Twin(int8_twin._session(out), card, args.model)
            int8_val = int8_twin.predict_all(twin.predict_batch, validation.images)
            got = {
                "val": int8_twin.compare(card, y_val, fp32_val, int8_val),
                "full": full_figures(int8_twin.predict_all(twin.predict_batch, full.images)),
            }
            exact = None
            if not args.no_exact:
                options = ort.SessionOptions()
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                plain = int8_twin.Int8Twin(
                    ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"]),
                    card,
                    args.model,
                )
                exact_val = int8_twin.predict_all(plain.predict_batch, validation.images)
                exact = {
                    "val": int8_twin.compare(card, y_val, fp32_val, exact_val),
                    "full": full_figures(int8_twin.predict_all(plain.predict_batch, full.images)),
                }
            chosen = " (make_twin's)" if how == int8_twin.QUANTISATION else ""
            print(
                f"\n== {name}{chosen}: {how.describe()} (quantised in {made:.0f} s, "
                f"all in {time.perf_counter() - began:.0f} s)"
            )
            print_figures("int8", got)
            print(f"{'':<8}card thresholds, per tag: {tag_moves(int8_val)}")
            if exact is not None:
                print_figures("exact", exact)
                print(f"{'':<8}card thresholds, per tag: {tag_moves(exact_val)}")
                print(
                    f"{'':<8}int8 against exact: mean |probability difference| "
                    f"{np.abs(int8_val - exact_val).mean():.5f} (the saturation, where large)"
                )
            rows.append((name, got, exact))
            twins[name] = twin

        # Timed after the figures, interleaved (float32, then each variant, round after round)
        # so that a shared machine's load falls on all alike; the best round of each is kept.
        timed = validation.images[:512]
        runners = {"float32": classifier.predict_batch}
        runners.update({name: twin.predict_batch for name, twin in twins.items()})
        best = dict.fromkeys(runners, 0.0)
        for _ in range(args.rounds):
            for name, predict in runners.items():
                started = time.perf_counter()
                int8_twin.predict_all(predict, timed)
                best[name] = max(best[name], len(timed) / (time.perf_counter() - started))
        print(
            f"\nnetwork alone, chips/s (512 validation chips, batch 64, best of {args.rounds} "
            "interleaved rounds): " + ", ".join(f"{n} {r:.0f}" for n, r in best.items())
        )

    print("\nlosses against float32 (budget: samples F2 0.003, macro F1 0.01; + is a loss)")
    print(
        f"{'variant':<24}{'val card F2/mF1':>18}{'val cv F2/mF1':>18}{'full card F2/mF1':>19}"
        f"{'full cv F2/mF1':>18}{'agree':>8}{'x fp32':>8}  budget"
    )
    for name, got, exact in rows:
        for label, figures in ((name, got), ("  exact", exact)):
            if figures is None:
                continue
            losses = budget_losses(figures, reference)
            within = all(
                f2 <= int8_twin.F2_BUDGET and m <= int8_twin.MACRO_F1_BUDGET for f2, m in losses
            )
            cells = "".join(f"{f2:>+9.4f}{m:>+9.4f}" for f2, m in losses)
            ratio = f"{best[name] / best['float32']:>8.2f}" if figures is got else " " * 8
            print(
                f"{label:<24}{cells}{figures['val']['call_agreement']:>8.2%}{ratio}  "
                f"{'within' if within else 'OUTSIDE'}"
            )
    return 0


def budget_losses(figures: dict, reference: dict) -> list[tuple[float, float]]:
    """(samples F2 loss, macro F1 loss): validation card, validation cv, full card, full cv."""
    v, rv = figures["val"], reference["val"]
    f, rf = figures["full"], reference["full"]
    card, ref_card = v["with_the_card_thresholds"]["int8"], rv["with_the_card_thresholds"]["fp32"]
    return [
        (ref_card["f2_samples"] - card["f2_samples"], ref_card["macro_f1"] - card["macro_f1"]),
        (
            rv["fp32"]["f2_samples"] - v["int8"]["f2_samples"],
            rv["fp32"]["macro_f1"] - v["int8"]["macro_f1"],
        ),
        (rf["f2"] - f["f2"], rf["macro"] - f["macro"]),
        (rf["cv_f2"] - f["cv_f2"], rf["cv_macro"] - f["cv_macro"]),
    ]


def print_figures(label: str, figures: dict) -> None:
    v, f = figures["val"], figures["full"]
    card, cv = v["with_the_card_thresholds"]["int8"], v["int8"]
    print(
        f"{label:<8}validation, card thresholds: F2 {card['f2_samples']:.4f} F1 "
        f"{card['f1_samples']:.4f} macro F1 {card['macro_f1']:.4f}; cross-validated: F2 "
        f"{cv['f2_samples']:.4f} F1 {cv['f1_samples']:.4f} macro F1 {cv['macro_f1']:.4f}"
    )
    print(
        f"{'':<8}calls agree {v['call_agreement']:.2%}, mean |prob change| "
        f"{v['mean_abs_probability_change']:.4f}; full-size, card thresholds: F2 {f['f2']:.4f} "
        f"macro F1 {f['macro']:.4f}; cross-validated: F2 {f['cv_f2']:.4f} macro F1 "
        f"{f['cv_macro']:.4f}"
    )


if __name__ == "__main__":
    sys.exit(main())
