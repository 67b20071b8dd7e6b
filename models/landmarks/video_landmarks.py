"""The landmarks of a whole video (or any source the one video reader opens), frame by frame.

    result = extract_video_landmarks("sign.mp4", "holistic", frame_rate=15)
    result.timestamps  # (n,) float64 seconds, the reader's repaired clock
    result.landmarks  # (n, 543, 3) float32, Kaggle ISLR layout (landmark_extractor)
    result.frame_numbers  # (n,) int64: each frame's index in the source, before sampling

Frames come from models.video (`open_source`, its repaired clock) and are sampled with its
FrameSampler, so a video gives the same frames and times here as in the rest of the pipeline.
One LandmarkExtractor per video, in VIDEO mode (LandmarkExtractor.extract_at: timestamps in
integer milliseconds, kept increasing where two frames round to the same millisecond).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from framescribe.models.data.islr_layout import ISLR_LANDMARKS
from framescribe.models.landmarks.landmark_extractor import LandmarkExtractor, LandmarkOptions
from framescribe.models.video.frame_sampling import FrameSampler
from framescribe.models.video.frames import TimedFrame
from framescribe.models.video.video_source import SourceError, open_source

Progress = Callable[[int, int | None, float], None]  # (frames done, source frames, seconds)


@dataclass(frozen=True, eq=False)
class VideoLandmarks:
    """Landmarks of the sampled frames of one source."""

    source: str  # the source's description
    timestamps: np.ndarray  # (n,) float64 seconds
    frame_numbers: np.ndarray  # (n,) int64, 0-based index of each frame in the source
    landmarks: np.ndarray  # (n, 543, 3) float32, NaN = not found
    frame_size: tuple[int, int] | None  # (width, height) pixels; None when there were no frames
    kind: str  # "holistic" or "hands"


def landmark_frames(frames: Iterable[TimedFrame], extractor: LandmarkExtractor
                    ) -> Iterator[tuple[float, np.ndarray]]:
    """(timestamp seconds, (543, 3) landmarks) of each (timestamp, RGB image) frame."""
    for timestamp, image in frames:
        yield float(timestamp), extractor.extract_at(image, timestamp)


def extract_video_landmarks(source: str | os.PathLike, kind: str = "holistic", *,
                            frame_rate: float | None = None,
                            options: LandmarkOptions | None = None,
                            progress: Progress | None = None) -> VideoLandmarks:
    """Landmarks of every frame of `source` (anything open_source opens), or of one frame per
    1/frame_rate seconds. Problems with the source raise SourceError (a ValueError) naming it;
    missing .task files raise TaskFilesMissing naming the command that builds them."""
    if frame_rate is not None and not frame_rate > 0:
        raise SourceError(f"{source}: frame_rate must be > 0 frames per second, got "
                          f"{frame_rate}")
    with open_source(source) as video, \
            LandmarkExtractor(kind, options or LandmarkOptions()) as extractor:
        sampler = FrameSampler(frame_rate) if frame_rate else None
        numbers: list[int] = []
        size: list[tuple[int, int]] = []

        def sampled() -> Iterator[TimedFrame]:
            for number, frame in enumerate(video):
                if sampler is None or sampler.accept(frame.timestamp):
                    numbers.append(number)
                    if not size:
                        size.append((frame.image.shape[1], frame.image.shape[0]))
                    yield frame

        times, points = [], []
        for timestamp, landmarks in landmark_frames(sampled(), extractor):
            times.append(timestamp)
            points.append(landmarks)
            if progress is not None:
                progress(len(points), video.frame_count, timestamp)
        description = video.description
    stacked = np.stack(points) if points else np.empty((0, ISLR_LANDMARKS, 3), np.float32)
    return VideoLandmarks(description, np.asarray(times, np.float64),
                          np.asarray(numbers, np.int64), stacked, size[0] if size else None, kind)
