"""In-process pipeline: a video (file or timed frames) -> timed captions and gesture events.

    pipeline = Pipeline.from_bundle("models/bundles/demo")
    result = pipeline.annotate("clip.mp4")                 # a whole video (VIDEO mode)
    for segment in result.captions: print(segment.start, segment.end, segment.text)

    session = pipeline.stream(PipelineOptions(interim=True))  # a live stream (LIVE mode)
    events = session.push(frames); ...; events += session.flush()

The model steps (encode, caption, gesture step) live here once; the frame path around them
(reading, sampling, windowing, event tracking, times) is the AnnotationSession's, which every
entry point runs: the server's sessions, the batch engines and the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from framescribe.models.bundle.bundle_manifest import BundleManifest, load_labels, load_vocabulary
from framescribe.models.inference.annotation_session import AnnotationSession
from framescribe.models.inference.caption_search import DecodingOptions, decode_captions
from framescribe.models.inference.events import CaptionSegment, GestureEvent
from framescribe.models.inference.gesture_events import EventOptions
from framescribe.models.inference.pipeline_options import (
    TASKS,
    PipelineOptions,
    SessionSettings,
    resolve_options,
    video_tasks,
)
from framescribe.models.video import TimedFrame, fit_frame, open_source, sample_frames

RUNTIMES = ("tf", "litert")
VIDEO_CAPTION_BATCH = 64  # a whole video's caption windows decoded together, at most
__all__ = ["TASKS", "Annotation", "Pipeline", "PipelineOptions", "CaptionSegment",
           "GestureEvent"]


@dataclass(frozen=True)
class Annotation:
    captions: tuple[CaptionSegment, ...]
    gestures: tuple[GestureEvent, ...]
    frames: int  # frames used, after sampling to the model's frame rate
    duration: float  # seconds covered

    @classmethod
    def of(cls, events: Iterable, session: AnnotationSession) -> Annotation:
        """The final events of a flushed session, with its frame count and duration."""
        events = list(events)
        return cls(tuple(e for e in events if isinstance(e, CaptionSegment)),
                   tuple(e for e in events if isinstance(e, GestureEvent)),
                   session.frames, session.duration)


def _timed_frames(video, frame_rate: float) -> Iterable:
    """A path (read by the one video reader), an array (frames, h, w, 3) at the model's frame
    rate, or an iterable of TimedFrame / (timestamp_s, frame)."""
    if isinstance(video, str | os.PathLike):
        with open_source(video) as source:
            yield from source
    elif isinstance(video, np.ndarray):
        yield from (TimedFrame(i / frame_rate, image) for i, image in enumerate(video))
    else:
        yield from video


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
        from framescribe.models.bundle import bundle_loader

        if runtime == "litert":
            manifest, loaded = bundle_loader.load_litert_runtime(directory, threads)
        else:
            manifest, loaded = bundle_loader.load_tensorflow_runtime(directory)
        vocabulary = load_vocabulary(directory) if manifest.caption_decoder else None
        labels = load_labels(directory) if manifest.gesture_classifier else None
        return cls(manifest, loaded, vocabulary, labels)

    # -- model steps ---------------------------------------------------------------------
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

    @property
    def reads_landmarks(self) -> bool:
        """True when the gesture classifier reads hand/pose landmarks instead of images."""
        return self.manifest.gesture_input == "landmarks"

    @property
    def landmark_kind(self) -> str:
        """The MediaPipe landmarker ("hands" or "holistic") that gives this landmark bundle's
        points from video (landmark_stage.py)."""
        from framescribe.models.inference.landmark_feature_sets import landmark_kind

        return landmark_kind(self.manifest.landmark_features)

    def landmark_features(self, landmarks) -> np.ndarray:
        """landmarks (frames, 543, 3), NaN = missing -> gesture features (frames, D), by the
        bundle's feature function (manifest landmark_features; each row from its own frame)."""
        from framescribe.models.inference.landmark_feature_sets import feature_function

        return feature_function(self.manifest.landmark_features)(landmarks)

    # -- running modes -------------------------------------------------------------------
    def settings(self, options: PipelineOptions | None = None,
                 landmarks: bool = False) -> SessionSettings:
        """options resolved against this bundle, for video frames (a landmark bundle extracts
        their landmarks) or landmark frames."""
        available = ("gestures",) if landmarks else video_tasks(self.manifest)
        if landmarks and not self.reads_landmarks:
            raise ValueError("this bundle's gesture classifier reads images, not landmarks; "
                             "use annotate() with video frames")
        return resolve_options(self.manifest, options, available)

    def stream(self, options: PipelineOptions | SessionSettings | None = None
               ) -> AnnotationSession:
        """LIVE mode: a session to push frames into as they come (see AnnotationSession)."""
        settings = options if isinstance(options, SessionSettings) else self.settings(options)
        return AnnotationSession(self, settings)

    def annotate(self, video, options: PipelineOptions | SessionSettings | None = None
                 ) -> Annotation:
        """VIDEO mode: a file path, an array (frames, h, w, 3) at the model's frame rate, or an
        iterable of TimedFrame / (timestamp_s, frame) with increasing timestamps."""
        settings = options if isinstance(options, SessionSettings) else self.settings(options)
        session = AnnotationSession(self, settings, caption_batch=VIDEO_CAPTION_BATCH)
        events = session.push(_timed_frames(video, self.manifest.frame_rate))
        return Annotation.of(events + session.flush(), session)

    def annotate_landmarks(self, landmarks, timestamps=None,
                           options: PipelineOptions | None = None) -> Annotation:
        """Gesture events from landmark frames (ISLR layout (frames, 543, 3), NaN = missing),
        for bundles with gesture_input "landmarks". timestamps (frames,) in seconds, default
        the bundle's frame rate; frames are sampled to that rate like video frames."""
        session = AnnotationSession(self, self.settings(options, landmarks=True))
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
        features = self.landmark_features(landmarks[[f.image for f in sampled]])
        events = session.push_features([f.timestamp for f in sampled], features)
        return Annotation.of(events + session.flush(), session)
