"""Reading video frames with OpenCV, sampled to a model's frame rate, and fitting them to it.

Any resolution and codec OpenCV reads works. Frames come out as RGB uint8 with a timestamp
in seconds. Unreadable, missing or empty videos raise VideoError with a message naming the
file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

MAX_FRAME_SIDE = 16384  # pixels; larger frames are rejected rather than resized


class VideoError(ValueError):
    """A video or frame cannot be used (missing, unreadable, empty, bad shape)."""


@dataclass(frozen=True)
class TimedFrame:
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


# Timestamps often arrive rounded to whole milliseconds (33, 67, 100 ms at 30 fps): a frame up
# to this early still counts as on time.
SAMPLING_TOLERANCE_S = 0.001


class FrameSampler:
    """Push-style sampling: `accept(t)` says whether a frame at t seconds is kept, keeping one
    frame per 1/frame_rate seconds. Timestamps must not decrease (VideoError otherwise)."""

    def __init__(self, frame_rate: float):
        self.period = 1.0 / frame_rate
        self._next_time: float | None = None
        self._last = -np.inf

    def accept(self, timestamp: float) -> bool:
        if timestamp < self._last:
            raise VideoError(f"timestamps must not decrease: {timestamp:.3f}s after "
                             f"{self._last:.3f}s")
        self._last = timestamp
        if self._next_time is None:
            self._next_time = timestamp
        if timestamp + SAMPLING_TOLERANCE_S < self._next_time:
            return False
        # Skip ahead whole periods so a slow source does not cause bursts.
        steps = max(1, int(np.floor((timestamp - self._next_time + SAMPLING_TOLERANCE_S)
                                    / self.period)) + 1)
        self._next_time += steps * self.period
        return True


def sample_frames(frames: Iterable[TimedFrame], frame_rate: float) -> Iterator[TimedFrame]:
    """Keep one frame per 1/frame_rate seconds; timestamps must not decrease."""
    sampler = FrameSampler(frame_rate)
    return (frame for frame in frames if sampler.accept(frame.timestamp))


def read_video(path: str | os.PathLike) -> Iterator[TimedFrame]:
    """All frames of a video file, decoded by OpenCV, as RGB with timestamps in seconds."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VideoError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise VideoError(f"{path}: cannot open video (not a video, or a codec OpenCV lacks)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and np.isfinite(fps) and fps > 0 else 25.0
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            yield TimedFrame(index / fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
        if index == 0:
            raise VideoError(f"{path}: no decodable frames")
    finally:
        capture.release()
