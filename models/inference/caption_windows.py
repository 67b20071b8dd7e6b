"""Caption windowing: the sampled frames of a video or stream cut into caption segments.

The one rule, for whole videos and live streams alike: segments of `length` frames; a last
segment shorter than half of `length` joins the one before it (so no caption is made from a
few frames). A live stream therefore closes a segment once half a segment of later frames has
arrived (or at the end). A segment ends at the next sampled frame's time, the last one at its
last frame's time plus one frame period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CaptionWindow:
    """One segment to caption: its frames' features (frames, D) and [start, end) seconds."""

    start: float
    end: float
    features: np.ndarray


class CaptionWindower:
    """Feed (times, features) of sampled frames with `add`; `finish` at the end. Both return
    the windows closed by then, in time order. Holds at most 1.5 segments of features."""

    def __init__(self, length: int, period: float):
        if length < 2:
            raise ValueError(f"caption segments need at least 2 frames, got {length}")
        self.length = length
        self.period = period
        self._times: list[float] = []
        self._features: list[np.ndarray] = []

    def add(self, times, features: np.ndarray) -> list[CaptionWindow]:
        """times (n,) seconds, features (n, D) -> windows closed by these frames."""
        self._times.extend(float(t) for t in times)
        self._features.extend(features)
        closed = []
        while len(self._times) >= self.length + self.length // 2:
            closed.append(self._close(self.length, end=self._times[self.length]))
        return closed

    def finish(self) -> list[CaptionWindow]:
        """The open frames as the last window (none if there are none)."""
        if not self._times:
            return []
        return [self._close(len(self._times), end=self._times[-1] + self.period)]

    def _close(self, frames: int, end: float) -> CaptionWindow:
        window = CaptionWindow(self._times[0], end, np.stack(self._features[:frames]))
        del self._times[:frames], self._features[:frames]
        return window
