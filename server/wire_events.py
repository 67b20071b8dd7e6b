"""The streaming core's events as wire messages (times in whole milliseconds)."""

from __future__ import annotations

from framescribe.models.inference.events import CaptionSegment, GestureEvent, InterimGesture
from framescribe.v1 import framescribe_service_pb2 as pb

from .stream_session import InterimLabels


def milliseconds(seconds: float) -> int:
    return int(round(seconds * 1000))


def caption_pb(c: CaptionSegment) -> pb.CaptionSegment:
    return pb.CaptionSegment(start_ms=milliseconds(c.start), end_ms=milliseconds(c.end),
                             text=c.text, log_prob=c.log_prob)


def gesture_pb(g: GestureEvent) -> pb.GestureEvent:
    return pb.GestureEvent(label=g.label, start_ms=milliseconds(g.start),
                           end_ms=milliseconds(g.end), confidence=g.confidence)


def interim_pb(item: InterimGesture) -> pb.InterimGesture:
    return pb.InterimGesture(timestamp_ms=milliseconds(item.timestamp), label=item.label or "",
                             confidence=item.confidence)


def stream_response(item) -> pb.StreamAnnotateResponse:
    """One event (or a request's InterimLabels) as a StreamAnnotateResponse."""
    if isinstance(item, CaptionSegment):
        return pb.StreamAnnotateResponse(caption=caption_pb(item))
    if isinstance(item, GestureEvent):
        return pb.StreamAnnotateResponse(gesture=gesture_pb(item))
    if isinstance(item, InterimGesture):
        return pb.StreamAnnotateResponse(interim_gesture=interim_pb(item))
    if isinstance(item, InterimLabels):
        return pb.StreamAnnotateResponse(interim_gestures=pb.InterimGestureList(
            labels=[interim_pb(label) for label in item.labels]))
    raise TypeError(f"unexpected stream result {item!r}")
