"""The chips most like one chip, to the network (cosine on its pooled features), with their tags:
what the "Chips like this one" panel shows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.review import Review
from model.tags import TAGS

K = 10  # chips shown, and neighbours that vote in the reasons (Review.explain)


@dataclass(frozen=True)
class SimilarChip:
    row: int
    name: str
    similarity: float
    tags: tuple[str, ...]  # its tags now (the crowd's, with the reviewer's decisions)
    labelled: bool


def similar_chips(review: Review, row: int, k: int = K) -> list[SimilarChip]:
    """The k chips most like `row`, most alike first; none while it has no features."""
    if not review.has_features[row]:
        return []
    found = review.similar([row], k)
    return [
        SimilarChip(
            int(j),
            review.names[j],
            float(s),
            tuple(review.tags_now(int(j))),
            bool(review.has_label[j]),
        )
        for j, s in zip(found.index[0], found.similarity[0])
        if j >= 0
    ]


def tag_counts(chips: list[SimilarChip]) -> str:
    """What they are tagged, commonest first: "10 primary, 9 clear, 3 road"."""
    counts = {t: sum(t in c.tags for c in chips) for t in TAGS}
    order = sorted((t for t in TAGS if counts[t]), key=lambda t: (-counts[t], TAGS.index(t)))
    return ", ".join(f"{counts[t]} {t}" for t in order)


def rows_of(chips: list[SimilarChip]) -> np.ndarray:
    return np.array([c.row for c in chips], dtype=np.int64)
