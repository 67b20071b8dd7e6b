"""In-process pipeline: a video (file or timed frames) -> timed captions and gesture events.

The one implementation of each inference step: the evaluation, the CLI, and (later) the server
and batch runner all call these methods.

    pipeline = Pipeline.from_bundle("models/bundles/demo")
    result = pipeline.annotate("clip.mp4")
    for segment in result.captions: print(segment.start, segment.end, segment.text)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from framescribe.models.bundle.model_bundle import BundleManifest, load_labels, load_vocabulary
from framescribe.models.inference.caption_search import DecodingOptions, decode_captions
from framescribe.models.inference.gesture_events import EventOptions, extract_events
from framescribe.models.inference.video_frames import (
    TimedFrame,
    VideoError,
    fit_frame,
    read_video,
    sample_frames,
)

TASKS = ("captions", "gestures")
RUNTIMES = ("tf", "litert")
ENCODE_CHUNK = 256  # frames held in memory before encoding


@dataclass(frozen=True)
class PipelineOptions:
    """What to compute and how. segment_frames None = the bundle's caption segment length."""

    tasks: tuple[str, ...] = TASKS
    segment_frames: int | None = None
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    events: EventOptions | None = None  # None = the bundle's tuned event options

    def __post_init__(self):
        unknown = set(self.tasks) - set(TASKS)
        if unknown or not self.tasks:
            raise ValueError(f"tasks must be a non-empty subset of {TASKS}, got {self.tasks}")
        if self.segment_frames is not None and not 2 <= self.segment_frames <= 1024:
            raise ValueError(f"segment_frames must be 2-1024, got {self.segment_frames}")


@dataclass(frozen=True)
class CaptionSegment:
    start: float  # seconds
    end: float  # seconds
    text: str
    log_prob: float  # of the whole caption


@dataclass(frozen=True)
class GestureEvent:
    label: str
    start: float  # seconds
    end: float  # seconds
    confidence: float  # 0-1


@dataclass(frozen=True)
class Annotation:
    captions: tuple[CaptionSegment, ...]
    gestures: tuple[GestureEvent, ...]
    frames: int  # frames used, after sampling to the model's frame rate
    duration: float  # seconds covered


def _as_timed_frames(video, frame_rate: float) -> Iterable[TimedFrame]:
    if isinstance(video, str | os.PathLike):
        return read_video(video)
    if isinstance(video, np.ndarray):  # (frames, h, w, 3) at the model's frame rate
        return (TimedFrame(i / frame_rate, image) for i, image in enumerate(video))
    return (f if isinstance(f, TimedFrame) else TimedFrame(float(f[0]), f[1]) for f in video)


class Pipeline:
    """Encoder + caption decoder + gesture classifier of one bundle, on one runtime."""

    def __init__(self, manifest: BundleManifest, runtime, vocabulary, labels):
        self.manifest = manifest
        self.runtime = runtime
        self.vocabulary = vocabulary
        self.labels = labels
        self.default_event_options = EventOptions(**manifest.gesture_event_options)

    @classmethod
    def from_bundle(cls, directory: str | os.PathLike, runtime: str = "tf",
                    threads: int | None = None) -> Pipeline:
        """Load and validate a bundle. runtime: "tf" (TensorFlow: Keras weights, GPU when
        present) or "litert" (the bundle's .tflite files on CPU; never imports TensorFlow).
        threads: LiteRT interpreter threads (None: the cores, at most 4)."""
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; available: {', '.join(RUNTIMES)}")
        from framescribe.models.bundle import model_bundle

        if runtime == "litert":
            manifest, loaded = model_bundle.load_litert_runtime(directory, threads)
        else:
            manifest, loaded = model_bundle.load_tensorflow_runtime(directory)
        vocabulary = load_vocabulary(directory) if manifest.caption_decoder else None
        labels = load_labels(directory) if manifest.gesture_classifier else None
        return cls(manifest, loaded, vocabulary, labels)

    # -- steps ---------------------------------------------------------------------------
    def encode(self, frames) -> np.ndarray:
        """Frames of any size (sequence of (h, w, 3) uint8 RGB) -> features (n, feature_dim)."""
        size = self.manifest.input_size
        fitted = np.stack([fit_frame(f, size) for f in frames]) if len(frames) else np.zeros(
            (0, size, size, 3), np.uint8)
        return self.runtime.encode(fitted)

    def caption(self, features: np.ndarray, decoding: DecodingOptions | None = None):
        """features (segments, frames, feature_dim) -> [(text, log_prob)] per segment."""
        if self.vocabulary is None:
            raise ValueError("this bundle has no caption decoder")
        decoding = decoding or DecodingOptions(max_length=self.manifest.caption_max_length)
        decoded = decode_captions(self.runtime, features, decoding,
                                  start_id=self.vocabulary.start_id, end_id=self.vocabulary.end_id)
        return [(self.vocabulary.decode(d.tokens), d.log_prob) for d in decoded]

    def gesture_probabilities(self, features: np.ndarray) -> np.ndarray:
        """features (clips, frames, feature_dim) -> probabilities (clips, frames, 1 + labels)."""
        if self.labels is None:
            raise ValueError("this bundle has no gesture classifier")
        return self.runtime.gesture_run(features)

    # -- whole videos --------------------------------------------------------------------
    @property
    def reads_landmarks(self) -> bool:
        """True when the gesture classifier reads hand/pose landmarks instead of images."""
        return self.manifest.gesture_input == "landmarks"

    def landmark_features(self, landmarks) -> np.ndarray:
        """landmarks (frames, 543, 3), NaN = missing -> gesture features (frames, D)."""
        from framescribe.models.inference.landmark_features import landmark_features

        return landmark_features(landmarks)

    def annotate_landmarks(self, landmarks, timestamps=None,
                           options: PipelineOptions | None = None) -> Annotation:
        """Gesture events from landmark frames (ISLR layout (frames, 543, 3), NaN = missing),
        for bundles with gesture_input "landmarks". timestamps (frames,) in seconds, default
        the bundle's frame rate; frames are sampled to that rate like video frames."""
        if not self.reads_landmarks:
            raise ValueError("this bundle's gesture classifier reads images, not landmarks; "
                             "use annotate() with video frames")
        options = options or PipelineOptions(tasks=("gestures",))
        landmarks = np.asarray(landmarks, np.float32)
        rate = self.manifest.frame_rate
        if timestamps is None:
            timestamps = np.arange(len(landmarks)) / rate
        if len(timestamps) != len(landmarks):
            raise ValueError(f"got {len(timestamps)} timestamps for {len(landmarks)} frames")
        # Sampling only looks at timestamps: each TimedFrame carries its frame's index.
        sampled = list(sample_frames((TimedFrame(float(t), i) for i, t in enumerate(timestamps)),
                                     rate))
        if not sampled:
            raise ValueError("no landmark frames")
        times = np.array([f.timestamp for f in sampled])
        features = self.landmark_features(landmarks[[f.image for f in sampled]])
        gestures = self.gesture_events(features, times, options)
        return Annotation((), tuple(gestures), len(times),
                          float(times[-1] - times[0] + 1.0 / rate))

    def annotate(self, video, options: PipelineOptions | None = None) -> Annotation:
        """Annotate a video: a file path, an array (frames, h, w, 3) at the model's frame rate,
        or an iterable of TimedFrame / (timestamp_s, frame) with non-decreasing timestamps."""
        options = options or PipelineOptions(
            tasks=("captions",) if self.reads_landmarks else TASKS)
        if "captions" in options.tasks and self.vocabulary is None:
            raise ValueError("this bundle has no caption decoder; ask for tasks=('gestures',)")
        if "gestures" in options.tasks and self.labels is None:
            raise ValueError("this bundle has no gesture classifier; ask for tasks=('captions',)")
        if "gestures" in options.tasks and self.reads_landmarks:
            raise ValueError("this bundle's gesture classifier reads hand landmarks (ISLR "
                             "layout), not images; send landmarks (annotate_landmarks)")
        rate = self.manifest.frame_rate
        timestamps, chunks, pending = [], [], []
        for frame in sample_frames(_as_timed_frames(video, rate), rate):
            timestamps.append(frame.timestamp)
            pending.append(frame.image)
            if len(pending) == ENCODE_CHUNK:
                chunks.append(self.encode(pending))
                pending = []
        if pending:
            chunks.append(self.encode(pending))
        if not timestamps:
            raise VideoError("the video has no frames")
        features = np.concatenate(chunks)
        times = np.asarray(timestamps)
        captions = self.caption_segments(features, times, options) \
            if "captions" in options.tasks else ()
        gestures = self.gesture_events(features, times, options) \
            if "gestures" in options.tasks else ()
        return Annotation(tuple(captions), tuple(gestures), len(times),
                          float(times[-1] - times[0] + 1.0 / rate))

    def caption_segments(self, features, times, options: PipelineOptions):
        """features (frames, D) and their times (frames,) s -> CaptionSegments, one per window."""
        length = options.segment_frames or self.manifest.caption_segment_frames
        starts = list(range(0, len(features), length))
        # A short tail (under half a segment) joins the previous segment.
        if len(starts) > 1 and len(features) - starts[-1] < length // 2:
            starts.pop()
        bounds = [(s, starts[i + 1] if i + 1 < len(starts) else len(features))
                  for i, s in enumerate(starts)]
        decoding = replace(options.decoding, max_length=self.manifest.caption_max_length)
        texts: dict[int, tuple[str, float]] = {}
        by_length: dict[int, list[int]] = {}
        for i, (s, e) in enumerate(bounds):
            by_length.setdefault(e - s, []).append(i)
        for members in by_length.values():
            batch = np.stack([features[bounds[i][0]:bounds[i][1]] for i in members])
            for i, result in zip(members, self.caption(batch, decoding), strict=True):
                texts[i] = result
        return [CaptionSegment(float(times[s]), self.end_time(times, e), *texts[i])
                for i, (s, e) in enumerate(bounds)]

    def end_time(self, times: np.ndarray, end: int) -> float:
        """End of frames [.., end): the next frame's time, or the last one's plus a period."""
        if end < len(times):
            return float(times[end])
        return float(times[end - 1] + 1.0 / self.manifest.frame_rate)

    def gesture_events(self, features, times, options: PipelineOptions):
        """features (frames, D) and their times (frames,) s -> GestureEvents of the clip."""
        probs = self.gesture_probabilities(features[None])[0]
        return [
            GestureEvent(self.labels[e.label], float(times[e.start]),
                         self.end_time(times, e.end), e.confidence)
            for e in extract_events(probs, options.events or self.default_event_options)
        ]
