"""Chip Audit's domain code: tags, labels, chips, the classifier, metrics, training.

Nothing in this package imports Qt, so it runs and is tested without a display.
"""
