"""Small helpers for the sentences the program writes to its users."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 chip', '0 chips', '2,048 chips': a number with its noun in the right form."""
    word = noun if n == 1 else (plural or noun + "s")
    return f"{n:,} {word}"
