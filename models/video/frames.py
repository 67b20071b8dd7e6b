"""One video frame: its type, its checks, and fitting it to an encoder's input.

Frames are (height, width, 3) uint8 RGB with a timestamp in seconds. Anything that cannot be
used raises VideoError with a message naming the problem. Needs only OpenCV and numpy.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

MAX_FRAME_SIDE = 16384  # pixels; larger frames are rejected rather than resized


class VideoError(ValueError):
    """A video or frame cannot be used (missing, unreadable, empty, bad shape)."""


class TimedFrame(NamedTuple):
    """A frame and its time; unpacks as `timestamp, image`."""

    timestamp: float  # seconds from the start of the video
    image: np.ndarray  # (height, width, 3) uint8 RGB


def check_frame(image: np.ndarray) -> np.ndarray:
    """Validate one frame and return it as (h, w, 3) uint8 RGB (grey frames are expanded)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise VideoError(f"frames must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise VideoError(f"frames must be (height, width, 3) RGB, got shape {image.shape}")
    height, width = image.shape[:2]
    if not (1 <= height <= MAX_FRAME_SIDE and 1 <= width <= MAX_FRAME_SIDE):
        raise VideoError(f"frame size {width}x{height} is outside 1-{MAX_FRAME_SIDE} pixels")
    return image


def fit_frame(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a frame of any shape to the encoder's (size, size, 3) input."""
    image = check_frame(image)
    if image.shape[:2] == (size, size):
        return image
    shrinking = image.shape[0] > size and image.shape[1] > size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)

