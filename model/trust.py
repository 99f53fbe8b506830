"""Which of the model's calls to trust: each tag's validation precision, recall and F1 from the
model card, and the tags where the model is weak, so a reviewer knows where its silence means
little."""

from __future__ import annotations

from dataclasses import dataclass

from model.card import ModelCard
from model.tags import TAGS
from model.threshold_versions import validation_scores

WEAK_F1 = 0.3  # below this validation F1 the model misses or invents most of a tag


@dataclass(frozen=True)
class TagTrust:
    precision: float
    recall: float
    f1: float
    support: int

    @property
    def weak(self) -> bool:
        return self.f1 < WEAK_F1

    def describe(self, tag: str) -> str:
        text = (
            f"{tag} on the model's validation chips: precision {self.precision:.2f}, recall"
            f" {self.recall:.2f}, F1 {self.f1:.2f} ({self.support:,} with the tag)."
        )
        if self.weak:
            text += (
                f" Weak (F1 under {WEAK_F1}): the model finds few of these, so its silence"
                " (no call) says little; look for the tag yourself."
            )
        return text


def tag_trust(card: ModelCard | None) -> dict[str, TagTrust]:
    """Per tag, from the card's validation figures; empty where the card has none."""
    scores = validation_scores(card) if card is not None else {}
    out = {}
    for tag in TAGS:
        s = scores.get(tag)
        if s and "f1" in s:
            out[tag] = TagTrust(
                float(s.get("precision", 0.0)),
                float(s.get("recall", 0.0)),
                float(s["f1"]),
                int(s.get("support", 0)),
            )
    return out
