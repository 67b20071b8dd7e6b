"""Per-frame gesture probabilities -> interim labels and final events (streaming and offline).

Column IDLE_INDEX of a probability row is the "no gesture" class; column i + 1 is gesture label i.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

IDLE_INDEX = 0
FINAL_WINDOW = 3  # the final label is decided from this many last active frames of a run


@dataclass(frozen=True)
class EventOptions:
    """How per-frame probabilities become events (override with dataclasses.replace)."""

    min_frames: int = 6  # runs shorter than this (end - start, frames) are dropped
    min_confidence: float = 0.0  # final events below this confidence are dropped
    idle_threshold: float = 0.5  # a frame is active when P(idle) < idle_threshold
    end_patience: int = 2  # a run ends after this many consecutive idle frames
    # The classifier notices a gesture's start and end some frames after they happen (its
    # P(idle) needs a few frames of motion, or of rest, to cross the threshold): final events
    # are moved this many frames earlier (never before the previous event's end). Interim
    # labels are not moved. Tuned per bundle on validation streams (0: as seen).
    start_lead: int = 0
    end_lead: int = 0

    def __post_init__(self) -> None:
        if self.min_frames < 0:
            raise ValueError(f"min_frames must be >= 0, got {self.min_frames}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if not 0.0 < self.idle_threshold <= 1.0:
            raise ValueError(f"idle_threshold must be in (0, 1], got {self.idle_threshold}")
        if self.end_patience < 1:
            raise ValueError(f"end_patience must be >= 1, got {self.end_patience}")
        for name in ("start_lead", "end_lead"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 frames, got {getattr(self, name)}")


@dataclass(frozen=True)
class InterimResult:
    """Top gesture of one active frame; confidence is P(label | not idle)."""

    frame: int
    label: int
    confidence: float


@dataclass(frozen=True)
class FinalEvent:
    """A closed gesture run: frames [start, end); label/confidence from its last active frames."""

    label: int
    start: int
    end: int
    confidence: float


class GestureEventTracker:
    """Turns one probability row per frame into interim results and final events.

    Memory is O(1) in the stream length: the open run's start, its last active frame, the count
    of trailing idle frames and the gesture probabilities of its last FINAL_WINDOW active frames.
    Frame indices count from 0 per tracker.
    """

    def __init__(self, options: EventOptions = EventOptions()) -> None:
        self.options = options
        self._width: int | None = None
        self._frame = 0
        self._start: int | None = None  # first frame of the open run, None when idle
        self._last_active = -1
        self._idle_run = 0
        self._recent: deque[np.ndarray] = deque(maxlen=FINAL_WINDOW)
        self._previous_end = 0  # end of the last final event: a lead never crosses it

    def update(self, frame_probs: np.ndarray) -> tuple[InterimResult | None, FinalEvent | None]:
        """Consume the next frame's (1 + num_labels,) probabilities.

        Returns (interim for this frame if it is active, event closed by this frame if any).
        """
        probs = np.asarray(frame_probs, dtype=np.float64)
        if probs.ndim != 1 or probs.shape[0] < 2:
            raise ValueError(f"frame_probs must have shape (1 + num_labels,), got {probs.shape}")
        if self._width is None:
            self._width = probs.shape[0]
        elif probs.shape[0] != self._width:
            raise ValueError(
                f"frame_probs has {probs.shape[0]} columns, earlier frames had {self._width}"
            )
        if not np.all(np.isfinite(probs)):
            raise ValueError(f"frame_probs must be finite, got {probs}")
        frame = self._frame
        self._frame += 1

        if probs[IDLE_INDEX] < self.options.idle_threshold:
            if self._start is None:
                self._start = frame
            self._last_active = frame
            self._idle_run = 0
            gestures = _gesture_distribution(probs)
            self._recent.append(gestures)
            label = int(np.argmax(gestures))
            return InterimResult(frame, label, float(gestures[label])), None

        if self._start is not None:
            self._idle_run += 1
            if self._idle_run >= self.options.end_patience:
                return None, self._close()
        return None, None

    def flush(self) -> FinalEvent | None:
        """End of stream: close the open run (end = its last active frame + 1), if any."""
        return self._close() if self._start is not None else None

    def _close(self) -> FinalEvent | None:
        start, end = self._start, self._last_active + 1
        assert start is not None and self._recent, "_close needs an open run"
        mean = np.mean(np.stack(self._recent), axis=0)
        self._start = None
        self._idle_run = 0
        self._recent.clear()
        label = int(np.argmax(mean))
        confidence = float(mean[label])
        if end - start < self.options.min_frames or confidence < self.options.min_confidence:
            return None
        start = max(start - self.options.start_lead, self._previous_end)
        end = max(end - self.options.end_lead, start + 1)
        self._previous_end = end
        return FinalEvent(label, start, end, confidence)


def _gesture_distribution(probs: np.ndarray) -> np.ndarray:
    """Gesture columns renormalised without the idle column (uniform if they sum to 0)."""
    gestures = np.delete(probs, IDLE_INDEX)
    total = gestures.sum()
    if total <= 0.0:
        return np.full(gestures.shape, 1.0 / gestures.shape[0])
    return gestures / total


def extract_events(
    frame_probs: np.ndarray, options: EventOptions = EventOptions()
) -> list[FinalEvent]:
    """Final events of a whole (N, 1 + num_labels) probability sequence, via the tracker."""
    probs = np.asarray(frame_probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"frame_probs must have shape (N, 1 + num_labels), got {probs.shape}")
    tracker = GestureEventTracker(options)
    events = [event for row in probs if (event := tracker.update(row)[1]) is not None]
    last = tracker.flush()
    return events + ([last] if last is not None else [])
