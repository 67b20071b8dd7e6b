"""A request's options (tasks, CaptionOptions, GestureOptions) checked and resolved against
the loaded bundle by the streaming core's one rule (resolve_options)."""

from __future__ import annotations

import math

import grpc

from framescribe.models.inference.caption_search import DecodingOptions
from framescribe.models.inference.pipeline_options import (
    PipelineOptions,
    SessionSettings,
    resolve_options,
)
from framescribe.v1 import framescribe_service_pb2 as pb

from .request_errors import RequestError, invalid

TASK_NAMES = {pb.TASK_CAPTIONS: "captions", pb.TASK_GESTURES: "gestures"}
TASK_ENUMS = {name: value for value, name in TASK_NAMES.items()}
DEFAULT_BEAM = 3


def request_settings(manifest, available: tuple[str, ...], tasks, caption_options,
                     gesture_options) -> SessionSettings:
    """The wire's options (0 = the default) -> SessionSettings; INVALID_ARGUMENT for a value
    out of range, FAILED_PRECONDITION for a task the bundle lacks."""
    options = PipelineOptions(
        tasks=_tasks(tasks, available), segment_frames=_segment_frames(caption_options) or None,
        decoding=_decoding(caption_options), min_confidence=_min_confidence(gesture_options))
    return resolve_options(manifest, options, available=available)


def _tasks(requested, available: tuple[str, ...]) -> tuple[str, ...]:
    if not requested:
        return available
    names = []
    for value in requested:
        if value not in TASK_NAMES:
            raise invalid(f"unknown task {value}; use TASK_CAPTIONS or TASK_GESTURES")
        if TASK_NAMES[value] not in available:
            raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"the loaded bundle has no {TASK_NAMES[value]} model "
                               f"(it supports: {', '.join(available)})")
        names.append(TASK_NAMES[value])
    return tuple(dict.fromkeys(names))


def _segment_frames(options) -> int:
    frames = options.segment_frames
    if frames and not 2 <= frames <= 1024:
        raise invalid(f"caption_options.segment_frames must be 0 (default) or 2-1024, "
                      f"got {frames}")
    return frames


def _decoding(options) -> DecodingOptions:
    beam = options.beam_size or DEFAULT_BEAM
    if not 1 <= beam <= 16:
        raise invalid(f"caption_options.beam_size must be 0 (default) or 1-16, got {beam}")
    return DecodingOptions(beam_size=beam)


def _min_confidence(options) -> float | None:
    confidence = options.min_confidence
    if not confidence:
        return None
    if math.isnan(confidence) or not 0.0 < confidence <= 1.0:
        raise invalid(f"gesture_options.min_confidence must be 0 (default) to 1, "
                      f"got {confidence}")
    return float(confidence)
