"""Data for the course: the shipped real datasets and seeded synthetic generators."""

from .shipped import DataCorruptedError, attribution, read_text, shipped_path
from .splits import split_indices, split_items

__all__ = [
    "DataCorruptedError",
    "attribution",
    "read_text",
    "shipped_path",
    "split_indices",
    "split_items",
]
