"""Sampling frames down to a model's frame rate: one frame per 1/frame_rate seconds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from framescribe.models.video.frames import TimedFrame, VideoError

# Timestamps often arrive rounded to whole milliseconds (33, 67, 100 ms at 30 fps): a frame up
# to this early still counts as on time.
SAMPLING_TOLERANCE_S = 0.001


class FrameSampler:
    """Push-style sampling: `accept(t)` says whether a frame at t seconds is kept, keeping one
    frame per 1/frame_rate seconds. Timestamps must not decrease (VideoError otherwise): the
    video reader repairs a container's clock before frames get here (frame_clock.py)."""

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


def sampled_chunks(frames: Iterable, sampler: FrameSampler | float, chunk_frames: int,
                   transform: Callable[[np.ndarray], np.ndarray] | None = None
                   ) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """The one decode -> sample path: frames ((timestamp_s, image) pairs or TimedFrames)
    sampled by `sampler` (or to that many frames per second), each kept image passed through
    `transform` (None: as it is), in chunks of up to chunk_frames:
    (times (n,) float64 seconds, [n images])."""
    if not isinstance(sampler, FrameSampler):
        sampler = FrameSampler(sampler)
    times: list[float] = []
    images: list[np.ndarray] = []
    for timestamp, image in frames:
        if sampler.accept(float(timestamp)):
            times.append(float(timestamp))
            images.append(image if transform is None else transform(image))
            if len(images) == chunk_frames:
                yield np.asarray(times, np.float64), images
                times, images = [], []
    if images:
        yield np.asarray(times, np.float64), images


def fitted_chunks(frames: Iterable, sampler: FrameSampler | float, size: int,
                  chunk_frames: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """sampled_chunks with each frame fitted to the encoder's (size, size, 3) input:
    (times (n,) float64 seconds, frames (n, size, size, 3) uint8)."""
    from framescribe.models.video.frames import fit_frame

    for times, images in sampled_chunks(frames, sampler, chunk_frames,
                                        lambda image: fit_frame(image, size)):
        yield times, np.stack(images)
