"""lasa-airwriting frames: a fingertip drawn as a white disc on a dark noisy background."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from framescribe.models.data.lasa_airwriting_paths import FRAME_SIZE
from framescribe.models.data.moving_digits import to_rgb

DISC_RADIUS = 3  # px
_SUBPIXEL_SHIFT = 4  # cv2 fixed-point bits: positions are drawn to 1/16 px
_NOISE_BANK_FRAMES = 256


@functools.lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """(256, 64, 64) uint8 dark noisy backgrounds (16-24, mean 20), fixed for every machine."""
    rng = np.random.default_rng(0x1A5A)
    bank = rng.integers(16, 25, size=(_NOISE_BANK_FRAMES, FRAME_SIZE, FRAME_SIZE), dtype=np.uint8)
    bank.flags.writeable = False
    return bank


def render(positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a fingertip per frame: (T, 2) px centres (NaN: absent) -> (T, 64, 64, 3) uint8 RGB.

    Each frame gets a background drawn at random from a fixed bank of noise frames; the
    fingertip is a filled white anti-aliased disc of radius DISC_RADIUS at sub-pixel position.
    """
    grey = _noise_bank()[rng.integers(0, _NOISE_BANK_FRAMES, size=len(positions))]
    one = 1 << _SUBPIXEL_SHIFT
    present = ~np.isnan(positions).any(axis=1)
    fixed = np.zeros((len(positions), 2), np.int64)  # pixel centres sit at +0.5 in cv2 terms
    fixed[present] = np.rint((positions[present] - 0.5) * one).astype(np.int64)
    radius = DISC_RADIUS * one
    for f, ((x, y), here) in enumerate(zip(fixed.tolist(), present.tolist(), strict=True)):
        if here:
            cv2.circle(grey[f], (x, y), radius, 255, cv2.FILLED, cv2.LINE_AA, _SUBPIXEL_SHIFT)
    return to_rgb(grey)
