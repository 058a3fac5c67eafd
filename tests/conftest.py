"""Fixtures shared across the test folders."""

import pytest

from rnnlab.data.videos import make_digit_videos

CLIP_SIZE = 24  # pixels a side: small enough for fast models, large enough for two digits' strokes


@pytest.fixture(scope="module")
def clips():
    """Six digit videos of 4 to 8 frames of CLIP_SIZE × CLIP_SIZE pixels, for the models, plots and
    widgets of chapter 3."""
    return make_digit_videos(6, frames=(4, 8), size=CLIP_SIZE, seed=0)
