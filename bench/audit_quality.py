"""How well does the suspicion score find wrong crowd tags? Plant mistakes, rank, count.

On chips the model never trained on: the 852 labelled full-size chips (../shared/data/planet/
chips with chips_labels.csv) and the model card's validation chips of the 32 px set (from
train-jpg-32px.tar, labels from train_v2.csv; skipped when the card lists none). Each chip is
predicted once, probabilities and pooled features from the same pass. Then, per seed, --rate
(5%) of the labelled chips get one planted mistake, of one of two kinds:

- simple: the weather tag swapped for another, or a land tag added or dropped (one of the three,
  uniformly; a drop needs a land tag to drop);
- confusion: the mistakes people make: haze for clear, partly_cloudy for cloudy, a road or a
  habitation left out (one of those the chip allows, uniformly).

Each score ranks all labelled chips, most suspect first; printed, averaged over --seeds seeds:
the share of planted chips in the first 5% and 10% of the ranking (recall when a reviewer looks
at that many chips), and average precision (scikit-learn). Scores, on the same probabilities:

- before: model.audit before issue 19 (most suspect tag + 0.25 x the other suspect tags + 1 per
  broken rule);
- app: model.audit as the app and `audit` use it now (the other tags only break ties);
- app + neighbours' vote: the app's tag scores plus --vote-weight x the same log-odds score of
  the --k nearest labelled chips' share of the tag (cosine on the features; the chip itself
  never counts), as measured and not kept;
- cleanlab softmin and cleanlab default: cleanlab.multilabel_classification.rank
  .get_label_quality_scores (self-confidence; aggregators softmin at temperature 0.1, and its
  default exponential moving average). cleanlab is AGPL: install the bench extra
  (`pip install -e '.[bench]'`); the app never imports it;
- the variants measured for issue 19 and not kept (bench/audit_variants.py): other per-tag
  scores, weather as one 4-way choice, other ways to combine tags, a likelihood ratio of the
  simple kind's planting, and ones fitted on the other set's untouched crowd labels (per-tag
  Platt scaling, per-tag recall and precision: "cross-fit", only with both sets); with --tta
  also the app's score on probabilities averaged over 8 flips and rotations (8 more passes).

Usage:

    python bench/audit_quality.py [--model M.keras] [--seeds 5] [--rate 0.05] [--k 10] [--tta]
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import time
from pathlib import Path

import common
from common import PLANET

KINDS = ("simple", "confusion")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from model.paths import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=0.05, help="share of chips given a mistake")
    parser.add_argument("--k", type=int, default=10, help="neighbours that vote")
    parser.add_argument("--vote-weight", type=float, default=0.5)
    parser.add_argument("--tta", action="store_true", help="also score TTA probabilities")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not common.check_model_arg(args.model):
        return 2
    try:
        import cleanlab  # noqa: F401
    except ImportError:
        print("cleanlab is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    if not (PLANET / "chips").is_dir():
        print(f"{PLANET / 'chips'}: no such folder (the Planet data)", file=sys.stderr)
        return 2
    return common.in_work_folder("chip-audit-audit-bench-", lambda work: run(args, work))


def unpack_names(tar_path: Path, names: set[str], dest: Path) -> None:
    """The named chips of the 32 px tar, flat into dest (by base name)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path) as tar:
        for member in tar:
            base = Path(member.name).name
            if member.isfile() and base.endswith(".jpg") and base[: -len(".jpg")] in names:
                source = tar.extractfile(member)
                if source is not None:
                    (dest / base).write_bytes(source.read())


def predicted_set(classifier, folder: Path, labels: dict):
    """(names, probs, features, crowd matrix) of the folder's labelled chips, one pass each."""
    import numpy as np

    from model.chips import list_chips
    from model.labels import label_matrix
    from model.predicting import predict_paths

    paths = [p for p in list_chips(folder).paths if p.stem in labels]
    pooled: list = []
    result = predict_paths(
        classifier, paths, features=True, on_batch=lambda n, p, f: pooled.append(f)
    )
    features = np.concatenate(pooled)
    return result.names, result.probs, features, label_matrix(result.names, labels)


def plant(crowd, kind: str, rate: float, rng):
    """A copy of the 0/1 crowd matrix with one mistake in round(rate * n) chips; (labels,
    planted mask). Chips are tried in a random order; one that allows no mistake of the kind is
    passed over."""
    import numpy as np

    from model.tags import LAND_TAGS, TAG_INDEX, WEATHER_TAGS

    weather = [TAG_INDEX[t] for t in WEATHER_TAGS]
    land = [TAG_INDEX[t] for t in LAND_TAGS]
    confusions = (
        ("clear", "haze"),
        ("cloudy", "partly_cloudy"),
        ("road", None),
        ("habitation", None),
    )
    labels = crowd.copy()
    planted = np.zeros(len(labels), dtype=bool)
    wanted = int(round(rate * len(labels)))
    for i in rng.permutation(len(labels)):
        if planted.sum() >= wanted:
            break
        row = labels[i]
        if kind == "simple":
            what = rng.integers(3)
            if what == 0:
                row[weather] = 0
                row[rng.choice([w for w in weather if crowd[i, w] == 0])] = 1
            elif what == 1:
                row[rng.choice([t for t in land if row[t] == 0])] = 1
            else:
                present = [t for t in land if row[t] == 1]
                if not present:
                    continue
                row[rng.choice(present)] = 0
        else:
            allowed = [(a, b) for a, b in confusions if row[TAG_INDEX[a]] == 1]
            if not allowed:
                continue
            was, now = allowed[rng.integers(len(allowed))]
            row[TAG_INDEX[was]] = 0
            if now is not None:
                row[TAG_INDEX[now]] = 1
        planted[i] = True
    return labels, planted


def scores(probs, features, labels, thresholds, args, card=None, fitted=None, tta=None) -> dict:
    """Each score per chip, higher = more suspect."""
    import numpy as np
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    from model.audit import chip_suspicion, tag_suspicion
    from model.neighbours import nearest, neighbour_share
    from model.tags import violation_counts

    broken = violation_counts(labels)
    tags = tag_suspicion(probs, labels, thresholds)
    found = nearest(features, args.k)
    share, count = neighbour_share(found, labels)
    # The neighbours' share, pulled towards the threshold by one vote so that 0 of 10 is not
    # infinitely sure.
    vote = (share * count[:, None] + thresholds) / (count[:, None] + 1)
    vote_scores = tag_suspicion(vote, labels, thresholds)
    as_lists = [list(np.flatnonzero(row > 0.5)) for row in labels]
    out = {
        "before (issue 18)": chip_suspicion(tags, broken, rest_weight=0.25),
        "app": chip_suspicion(tags, broken),
        "app + neighbours' vote": chip_suspicion(tags + args.vote_weight * vote_scores, broken),
        "cleanlab softmin": -get_label_quality_scores(
            as_lists, probs, aggregator_kwargs={"method": "softmin", "temperature": 0.1}
        ),
        "cleanlab default": -get_label_quality_scores(as_lists, probs),
    }
    if card is not None:
        from audit_variants import variant_scores

        from model.tags import TAGS

        weights = card.recipe.get("positive_weights") or {}
        positive = np.asarray([float(weights.get(t, 1.0)) for t in TAGS])
        out.update(variant_scores(probs, labels, thresholds, broken, positive, fitted, tta))
    return out


def recall_at(score, planted, share: float) -> float:
    import numpy as np

    top = np.argsort(-score, kind="stable")[: int(round(share * len(score)))]
    return float(planted[top].sum() / planted.sum())


def run(args: argparse.Namespace, work: Path) -> int:
    import model.classifier  # noqa: F401, I001
    import numpy as np
    from sklearn.metrics import average_precision_score

    from model.card import read_card
    from model.chips import list_chips
    from model.labels import read_labels
    from model.predicting import load_model, predict_paths

    import audit_variants

    classifier = load_model(args.model)
    card = read_card(args.model)
    thresholds = np.asarray(card.threshold_list(), dtype=np.float32)
    sets = [("852 full-size chips", PLANET / "chips", read_labels(PLANET / "chips_labels.csv"))]
    validation = set(card.data.get("validation_names") or [])
    if validation and (PLANET / "train-jpg-32px.tar").is_file():
        unpack_names(PLANET / "train-jpg-32px.tar", validation, work / "val32")
        all_labels = read_labels(PLANET / "train_v2.csv")
        sets.append((f"{len(validation):,} validation chips at 32 px", work / "val32", all_labels))
    print(f"model {card.version}; {args.seeds} seeds; {args.rate:.0%} of chips planted; k={args.k}")
    predicted = []
    for title, folder, labels in sets:
        started = time.monotonic()
        names, probs, features, crowd = predicted_set(classifier, folder, labels)
        seconds = time.monotonic() - started
        tta = None
        if args.tta:
            started = time.monotonic()
            by_name = {path.stem: path for path in list_chips(folder).paths}
            paths = [by_name[name] for name in names]
            tta = predict_paths(classifier, paths, tta=True).probs
            seconds_tta = time.monotonic() - started
            title += f"; TTA predicted in {seconds_tta:.0f} s"
        predicted.append((title, len(names), seconds, probs, features, crowd, tta))
    for index, (title, n, seconds, probs, features, crowd, tta) in enumerate(predicted):
        fitted = None
        if len(predicted) == 2:
            other_probs, other_crowd = predicted[1 - index][3], predicted[1 - index][5]
            fitted = (
                audit_variants.platt(other_probs, other_crowd),
                audit_variants.reliability(other_probs, other_crowd, thresholds),
            )
        print(f"\n{title}: {n} labelled, predicted in {seconds:.0f} s")
        for kind in KINDS:
            rows: dict[str, list] = {}
            for seed in range(args.seeds):
                planted_labels, planted = plant(crowd, kind, args.rate, np.random.default_rng(seed))
                for name, score in scores(
                    probs, features, planted_labels, thresholds, args, card, fitted, tta
                ).items():
                    rows.setdefault(name, []).append(
                        (
                            recall_at(score, planted, 0.05),
                            recall_at(score, planted, 0.10),
                            average_precision_score(planted, score),
                        )
                    )
            print(f"  {kind} mistakes                recall@5%  recall@10%  average precision")
            for name, values in rows.items():
                r5, r10, ap = np.mean(values, axis=0)
                print(f"    {name:<30}{r5:>8.3f}{r10:>12.3f}{ap:>12.3f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    common.exit_now(main())
