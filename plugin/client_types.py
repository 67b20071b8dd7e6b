"""The client SDK's options, results and error (framescribe.plugin.client re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from framescribe.models.inference.events import CaptionSegment, GestureEvent

MIB = 1024 * 1024
TASKS = ("captions", "gestures")
# The most frames_per_message a stream accepts here; the server's own limit
# (ModelInfo.max_frames_per_message, 64 by default) may be lower: INVALID_ARGUMENT above it.
MAX_FRAMES_PER_MESSAGE = 256


@dataclass(frozen=True)
class ClipResult:
    """Everything AnnotateClip found in one clip."""

    captions: tuple[CaptionSegment, ...]
    gestures: tuple[GestureEvent, ...]
    frames_used: int  # after sampling to the model's frame rate
    duration: float  # seconds covered


@dataclass(frozen=True)
class ModelInfo:
    """What the server has loaded, and the limits it enforces."""

    bundle_name: str
    bundle_version: str
    backbone: str
    input_size: int  # pixels per side of the encoder's input; 0 without an image encoder
    frame_rate: float  # frames per second the models sample to
    gesture_labels: tuple[str, ...]
    vocabulary_size: int  # caption words, special tokens included
    runtime: str  # "tf" or "litert"
    tasks: tuple[str, ...]  # of TASKS
    gesture_input: str  # "images" or "landmarks"
    caption_segment_frames: int  # default frames per caption segment
    max_message_bytes: int
    max_pixels_per_frame: int  # width * height
    max_frames_per_clip: int
    max_clip_bytes: int  # encoded video file
    max_streams: int  # streams served at once
    max_frames_per_message: int  # frames in one stream message (FrameList); 0: older server
    # Landmark bundles: the MediaPipe landmarker ("hands" or "holistic") whose points the
    # gestures read, for a client that extracts them itself; "" for image bundles.
    landmark_kind: str = ""


@dataclass(frozen=True)
class StreamConfig:
    """What to compute. Zero values mean the server's defaults; `interim` applies to streams."""

    tasks: tuple[str, ...] | None = None  # None: every task the bundle supports
    segment_frames: int = 0  # frames per caption segment: 0 or 2-1024
    beam_size: int = 0  # caption beam width: 0 or 1-16 (1 = greedy)
    min_confidence: float = 0.0  # of a final gesture event, 0-1 (0 = the bundle's value)
    interim: bool = False  # streams: an InterimGesture for every sampled frame

    def __post_init__(self) -> None:
        if self.tasks is not None:
            tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
            unknown = [t for t in tasks if t not in TASKS]
            if not tasks or unknown:
                raise ValueError(f"tasks must be a non-empty subset of {TASKS} or None, "
                                 f"got {self.tasks!r}")
            object.__setattr__(self, "tasks", tuple(dict.fromkeys(tasks)))
        if self.segment_frames != 0 and not 2 <= self.segment_frames <= 1024:
            raise ValueError(f"segment_frames must be 0 or 2-1024, got {self.segment_frames}")
        if not 0 <= self.beam_size <= 16:
            raise ValueError(f"beam_size must be 0-16, got {self.beam_size}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be 0-1, got {self.min_confidence}")


class FramescribeError(Exception):
    """A failed call: the gRPC status `code` and the server's `details`."""

    def __init__(self, code: grpc.StatusCode, details: str):
        self.code = code
        self.details = " ".join(details.split())
        super().__init__(f"{code.name}: {self.details}")
