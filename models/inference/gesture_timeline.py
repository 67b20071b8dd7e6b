"""Gesture results in time: per-frame probabilities at sampled frame times -> interim labels
and final GestureEvents in seconds. The event tracker (gesture_events) decides runs by frame
index; this turns them into times with a bounded window of recent frame times, so a stream's
state stays O(1) in its length."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from framescribe.models.inference.events import GestureEvent, InterimGesture
from framescribe.models.inference.gesture_events import EventOptions, GestureEventTracker

TIMESTAMP_WINDOW = 4096  # recent frame times kept to time events (~7 min at 10 fps)


class GestureTimeline:
    """Feed `add(times, probabilities)` in time order; `finish()` closes the open event."""

    def __init__(self, labels: Sequence[str], options: EventOptions, period: float,
                 interim: bool = False):
        self.labels = labels
        self.period = period
        self.interim = interim
        self._tracker = GestureEventTracker(options)
        self._times: deque[float] = deque(maxlen=TIMESTAMP_WINDOW)
        self._frames = 0  # frames seen: the tracker's next frame index

    def add(self, times, probabilities: np.ndarray
            ) -> tuple[list[InterimGesture], list[GestureEvent]]:
        """times (n,) seconds, probabilities (n, 1 + labels) -> (interim labels of these
        frames if asked for, final events they closed)."""
        interims, events = [], []
        for t, row in zip(times, probabilities, strict=True):
            self._times.append(float(t))
            interim, event = self._tracker.update(row)
            self._frames += 1
            if self.interim:
                interims.append(
                    InterimGesture(float(t), self.labels[interim.label], interim.confidence)
                    if interim is not None else InterimGesture(float(t), None, float(row[0])))
            if event is not None:
                events.append(self._timed(event))
        return interims, events

    def finish(self) -> list[GestureEvent]:
        event = self._tracker.flush()
        return [] if event is None else [self._timed(event)]

    def _time(self, index: int) -> float:
        """Time of frame `index`; the oldest kept one if it fell out of the window."""
        oldest = self._frames - len(self._times)
        return self._times[max(0, index - oldest)]

    def _timed(self, event) -> GestureEvent:
        """A tracker event (frames [start, end)) in seconds: it ends at the next frame's time,
        or after the last frame's period when no frame followed."""
        end = (self._time(event.end) if event.end < self._frames
               else self._time(event.end - 1) + self.period)
        return GestureEvent(self.labels[event.label], self._time(event.start), end,
                            event.confidence)
