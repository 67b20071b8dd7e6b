"""Repairing a container's clock: real files give backwards, repeated, zero and missing frame
timestamps; every frame leaves here with a time after the previous one.

The rule (README, "How it fits together"):
1. A timestamp is missing when it is not a finite number, is negative, or (after the first
   frame) is not after the first frame's (a last frame that reads 0, say).
2. Within a window of `reorder` frames, timestamps are handed out in increasing order: decoders
   that report packets' times out of presentation order (B-frames) are put back in order.
3. A missing timestamp, or one not after the previous frame's, is interpolated between the
   previous frame's time and the next good timestamp in the window; with none there, it is the
   previous time plus one nominal frame period (the container's frame rate, else 25 fps).
4. Times count from the first frame (it is at 0 s) in whole milliseconds, as the wire carries
   them, so a frame has the same time in process and over gRPC.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

DEFAULT_FPS = 25.0  # a container that states no usable frame rate
REORDER_WINDOW = 8  # frames held back to put a file's timestamps in order
Item = TypeVar("Item")


def nominal_period(fps: float | None) -> float:
    """Seconds per frame for a stated frame rate, DEFAULT_FPS when it is unusable."""
    usable = fps is not None and math.isfinite(fps) and 0.1 <= fps <= 1000.0
    return 1.0 / (fps if usable else DEFAULT_FPS)


class FrameClock(Generic[Item]):
    """Feed (raw_seconds or None, item) with `push`; take (seconds, item) in order with
    strictly increasing seconds. Holds at most `reorder` items back (0: none, for live
    sources); `finish` releases the rest."""

    def __init__(self, period: float, reorder: int = REORDER_WINDOW):
        self.period = period
        self.reorder = reorder
        self._held: deque[list] = deque()  # [raw seconds or None, item]
        self._first_raw: float | None = None
        self._origin: float | None = None
        self._previous: float | None = None  # last time handed out (before the origin shift)
        self._last_ms = -1  # ... and after it, in whole milliseconds

    def push(self, raw: float | None, item: Item) -> list[tuple[float, Item]]:
        self._held.append([self._screen(raw), item])
        ready = []
        while len(self._held) > self.reorder:
            ready.append(self._release())
        return ready

    def finish(self) -> list[tuple[float, Item]]:
        return [self._release() for _ in range(len(self._held))]

    def _screen(self, raw: float | None) -> float | None:
        if raw is None or not math.isfinite(raw) or raw < 0:
            return None
        if self._first_raw is None:
            self._first_raw = raw
            return raw
        return raw if raw > self._first_raw else None

    def _release(self) -> tuple[float, Item]:
        oldest = self._held[0]
        if oldest[0] is not None:  # take the window's smallest timestamp (B-frame reorder)
            smallest = min((entry for entry in self._held if entry[0] is not None),
                           key=lambda entry: entry[0])
            oldest[0], smallest[0] = smallest[0], oldest[0]
        self._held.popleft()
        time = oldest[0]
        if self._previous is None:
            time = 0.0 if time is None else time
            self._origin = time
        elif time is None or time <= self._previous:
            time = self._interpolated()
        self._previous = time
        milliseconds = max(round((time - self._origin) * 1000), self._last_ms + 1)
        self._last_ms = milliseconds
        return milliseconds / 1000, oldest[1]

    def _interpolated(self) -> float:
        """The next time after _previous for a frame without a usable timestamp."""
        for distance, (raw, _) in enumerate(self._held, start=1):
            if raw is not None and raw > self._previous:
                return self._previous + (raw - self._previous) / (distance + 1)
        return self._previous + self.period


def repaired(frames: Iterable[tuple[float | None, Item]], period: float,
             reorder: int = REORDER_WINDOW) -> Iterator[tuple[float, Item]]:
    """(raw seconds, item) pairs -> (repaired seconds, item) pairs (see FrameClock)."""
    clock: FrameClock[Item] = FrameClock(period, reorder)
    for raw, item in frames:
        yield from clock.push(raw, item)
    yield from clock.finish()
