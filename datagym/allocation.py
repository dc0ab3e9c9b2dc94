"""Whole example counts from real-valued shares, by the largest-remainder method."""

from __future__ import annotations

import numpy as np


def round_shares(share: np.ndarray, total: int) -> np.ndarray:
    """Integer counts, one per entry of ``share`` (non-negative reals summing to ``total``),
    that sum to exactly ``total``: each entry gets the floor of its share, and the examples
    left over go one each to the largest fractional parts, ties to the lower index."""
    counts = np.floor(share).astype(np.int64)
    remainder = int(total - np.add.reduce(counts))
    if remainder:
        # a stable sort of the negated fractional parts (counts - share, exactly -(share - counts)):
        # the largest first, ties to the lower index
        order = (counts - share).argsort(kind="stable")
        counts[order[:remainder]] += 1
    return counts
