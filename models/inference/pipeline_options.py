"""What to compute, as a caller asks for it (PipelineOptions), and the same resolved against
one bundle (SessionSettings): the one place where defaults come from the bundle's manifest.
No TensorFlow: the batch runner resolves options from a manifest alone."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from framescribe.models.inference.caption_search import DecodingOptions
from framescribe.models.inference.gesture_events import EventOptions

TASKS = ("captions", "gestures")


@dataclass(frozen=True)
class PipelineOptions:
    """tasks None: every task the bundle can do from video. segment_frames None: the bundle's
    caption segment length (sampled frames). decoding.max_length is the bundle's.
    events None: the bundle's tuned event options; min_confidence overrides theirs. interim:
    also yield the top gesture label of every sampled frame (live streams)."""

    tasks: tuple[str, ...] | None = None
    segment_frames: int | None = None
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    events: EventOptions | None = None
    min_confidence: float | None = None
    interim: bool = False

    def __post_init__(self):
        if self.tasks is not None and (not self.tasks or set(self.tasks) - set(TASKS)):
            raise ValueError(f"tasks must be a non-empty subset of {TASKS}, got {self.tasks}")
        if self.segment_frames is not None and not 2 <= self.segment_frames <= 1024:
            raise ValueError(f"segment_frames must be 2-1024, got {self.segment_frames}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be 0-1, got {self.min_confidence}")


@dataclass(frozen=True)
class SessionSettings:
    """PipelineOptions resolved against a bundle: everything a session needs, no defaults."""

    tasks: tuple[str, ...]
    frame_rate: float  # frames per second the frames are sampled to
    segment_frames: int
    decoding: DecodingOptions
    events: EventOptions
    interim: bool

    @property
    def period(self) -> float:
        return 1.0 / self.frame_rate


def video_tasks(manifest) -> tuple[str, ...]:
    """The tasks a bundle can do from video frames (a landmark bundle's gestures too: its
    landmarks are extracted from the frames, landmark_stage.py)."""
    return tuple(task for task, model in (("captions", manifest.caption_decoder),
                                          ("gestures", manifest.gesture_classifier))
                 if model is not None)


def resolve_options(manifest, options: PipelineOptions | None = None,
                    available: tuple[str, ...] | None = None) -> SessionSettings:
    """options against the bundle's manifest; ValueError names a task the bundle cannot do.
    available: the tasks on offer (default: video_tasks(manifest))."""
    options = options or PipelineOptions()
    available = video_tasks(manifest) if available is None else available
    tasks = options.tasks or available
    missing = [t for t in tasks if t not in available]
    if missing:
        raise ValueError(f"the bundle has no {missing[0]} model for this input (it supports: "
                         f"{', '.join(available) or 'nothing'})")
    events = options.events or EventOptions(**manifest.gesture_event_options)
    if options.min_confidence is not None:
        events = replace(events, min_confidence=options.min_confidence)
    return SessionSettings(
        tasks=tuple(t for t in TASKS if t in tasks), frame_rate=manifest.frame_rate,
        segment_frames=options.segment_frames or manifest.caption_segment_frames,
        decoding=replace(options.decoding, max_length=manifest.caption_max_length),
        events=events, interim=options.interim)
