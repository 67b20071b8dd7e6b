"""The event types every entry point yields: captions, gesture events and interim labels.

Defined once here (plain dataclasses, no TensorFlow, no OpenCV) and re-exported by the client
SDK (plugin/client.py), so the in-process pipeline, the server, the batch runner and
the client hand out the same objects. Times are seconds from the start of the video or stream.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CaptionSegment:
    """A caption for one segment of frames: [start, end) seconds."""

    start: float
    end: float
    text: str
    log_prob: float  # natural log of the whole caption's probability (0 or less)


@dataclass(frozen=True)
class GestureEvent:
    """A final gesture event: the label held over [start, end) seconds."""

    label: str
    start: float
    end: float
    confidence: float  # 0-1


@dataclass(frozen=True)
class InterimGesture:
    """The top label at one sampled frame of a stream; label None while idle is likeliest."""

    timestamp: float  # seconds
    label: str | None
    confidence: float  # 0-1


Event = CaptionSegment | GestureEvent | InterimGesture
FinalEvent = CaptionSegment | GestureEvent
