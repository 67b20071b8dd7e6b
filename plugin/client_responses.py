"""Typed results from FrameScribeService responses: events, clip results, model info."""

from __future__ import annotations

from framescribe.models.inference.events import CaptionSegment, Event, GestureEvent, InterimGesture
from framescribe.plugin.client_requests import TASK_ENUMS
from framescribe.plugin.client_types import ClipResult, ModelInfo
from framescribe.v1 import framescribe_service_pb2 as pb

_TASK_NAMES = {value: name for name, value in TASK_ENUMS.items()}
_GESTURE_INPUTS = {pb.GESTURE_INPUT_IMAGES: "images", pb.GESTURE_INPUT_LANDMARKS: "landmarks"}


def _seconds(ms: int) -> float:
    return ms / 1000.0


def _caption(c: pb.CaptionSegment) -> CaptionSegment:
    return CaptionSegment(_seconds(c.start_ms), _seconds(c.end_ms), c.text, c.log_prob)


def _gesture(g: pb.GestureEvent) -> GestureEvent:
    return GestureEvent(g.label, _seconds(g.start_ms), _seconds(g.end_ms), g.confidence)


def _interim(i: pb.InterimGesture) -> InterimGesture:
    return InterimGesture(_seconds(i.timestamp_ms), i.label or None, i.confidence)


def parse_stream_events(response: pb.StreamAnnotateResponse) -> list[Event]:
    """The typed events of one StreamAnnotate response, in order: one, several (the interim
    labels of a FrameList) or none (an event kind newer than this client)."""
    kind = response.WhichOneof("event")
    if kind == "caption":
        return [_caption(response.caption)]
    if kind == "gesture":
        return [_gesture(response.gesture)]
    if kind == "interim_gesture":
        return [_interim(response.interim_gesture)]
    if kind == "interim_gestures":
        return [_interim(i) for i in response.interim_gestures.labels]
    return []


def parse_clip_result(response: pb.AnnotateClipResponse) -> ClipResult:
    return ClipResult(captions=tuple(map(_caption, response.captions)),
                      gestures=tuple(map(_gesture, response.gestures)),
                      frames_used=response.frames_used,
                      duration=_seconds(response.duration_ms))


def parse_model_info(response: pb.GetModelInfoResponse) -> ModelInfo:
    r = response
    return ModelInfo(
        bundle_name=r.bundle_name, bundle_version=r.bundle_version, backbone=r.backbone,
        input_size=r.input_size, frame_rate=r.frame_rate, gesture_labels=tuple(r.gesture_labels),
        vocabulary_size=r.vocabulary_size, runtime=r.runtime,
        tasks=tuple(_TASK_NAMES[t] for t in r.tasks if t in _TASK_NAMES),
        gesture_input=_GESTURE_INPUTS.get(r.gesture_input, "images"),
        caption_segment_frames=r.caption_segment_frames, max_message_bytes=r.max_message_bytes,
        max_pixels_per_frame=r.max_pixels_per_frame, max_frames_per_clip=r.max_frames_per_clip,
        max_clip_bytes=r.max_clip_bytes, max_streams=r.max_streams,
        max_frames_per_message=r.max_frames_per_message, landmark_kind=r.landmark_kind)
