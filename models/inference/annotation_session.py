"""The streaming core in process: one video's or stream's frames -> events, as they are ready.

    session = pipeline.stream(PipelineOptions(interim=True))
    for chunk in camera_chunks:
        for event in session.push(chunk):  # (timestamp_s, image) pairs or TimedFrames
            show(event)
    for event in session.flush():
        show(event)

It samples frames to the bundle's rate, encodes them (a landmark bundle: extracts their
landmarks, landmark_stage.py), steps the gesture classifier with its
state carried between pushes, tracks gesture events (GestureTimeline) and cuts caption windows
(CaptionWindower); Pipeline.annotate is this session over a whole video. The server's
StreamSession runs the same windower and timeline with its batched model calls.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from framescribe.models.inference.caption_windows import CaptionWindow, CaptionWindower
from framescribe.models.inference.events import CaptionSegment, Event
from framescribe.models.inference.gesture_timeline import GestureTimeline
from framescribe.models.inference.pipeline_options import SessionSettings
from framescribe.models.video import FrameSampler, VideoError, fitted_chunks, sampled_chunks

ENCODE_CHUNK = 256  # sampled frames held before encoding (bounds memory on long videos)


class AnnotationSession:
    """Feed frames with `push` (timestamps must increase across pushes), end with `flush`.
    State is O(1) in the stream's length: recurrent state, the event tracker, at most 1.5
    caption segments of open features plus caption_batch closed windows, and ENCODE_CHUNK
    frames."""

    def __init__(self, pipeline, settings: SessionSettings, caption_batch: int = 1):
        """caption_batch: closed caption windows decoded together in one beam search (a whole
        video: many, for speed; a live stream: 1, so each caption comes as soon as it can)."""
        self.pipeline = pipeline
        self.settings = settings
        self.caption_batch = caption_batch
        self._closed: list[CaptionWindow] = []  # closed windows not yet captioned
        self._sampler = FrameSampler(settings.frame_rate)
        self._windows = CaptionWindower(settings.segment_frames, settings.period) \
            if "captions" in settings.tasks else None
        self._timeline = GestureTimeline(pipeline.labels, settings.events, settings.period,
                                         settings.interim) \
            if "gestures" in settings.tasks else None
        self._gesture_states = None
        self._landmark_stage = None  # a landmark bundle's extractor, made on the first frame
        self.frames = 0  # sampled frames so far
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.flushed = False

    def push(self, frames: Iterable) -> list[Event]:
        """Frames ((timestamp_s, image) pairs or TimedFrames, images (h, w, 3) uint8 RGB) ->
        the events they completed."""
        events: list[Event] = []
        if self.pipeline.reads_landmarks:
            for times, images in sampled_chunks(frames, self._sampler, ENCODE_CHUNK):
                landmarks = self._landmarks().landmarks(times, images)
                events += self.push_features(times, self.pipeline.landmark_features(landmarks))
            return events
        for times, fitted in fitted_chunks(frames, self._sampler, self.pipeline.manifest.input_size,
                                           ENCODE_CHUNK):
            events += self.push_features(times, self.pipeline.encode(fitted))
        return events

    def _landmarks(self):
        if self._landmark_stage is None:
            from framescribe.models.inference.landmark_stage import LandmarkStage

            self._landmark_stage = LandmarkStage(self.pipeline.landmark_kind)
        return self._landmark_stage

    def push_features(self, times, features: np.ndarray) -> list[Event]:
        """Sampled frames already encoded: times (n,) seconds, features (n, D) -> events."""
        if self.flushed:
            raise ValueError("this session was flushed; start a new one")
        if not len(times):
            return []
        self.frames += len(times)
        self.first_time = float(times[0]) if self.first_time is None else self.first_time
        self.last_time = float(times[-1])
        events: list[Event] = []
        if self._timeline is not None:
            interims, finals = self._timeline.add(times, self._gesture_steps(features))
            events += interims + finals
        if self._windows is not None:
            self._closed += self._windows.add(times, features)
            if len(self._closed) >= self.caption_batch:
                events += self._caption_closed()
        return events

    def flush(self) -> list[Event]:
        """End of input: caption the last window, close the open gesture event."""
        if self.flushed:
            return []
        self.flushed = True
        if self._landmark_stage is not None:
            self._landmark_stage.close()
        events: list[Event] = []
        if self._timeline is not None:
            events += self._timeline.finish()
        if self._windows is not None:
            self._closed += self._windows.finish()
            events += self._caption_closed()
        return events

    @property
    def duration(self) -> float:
        """Seconds from the first sampled frame to one period after the last."""
        if self.first_time is None:
            raise VideoError("the video has no frames")
        return self.last_time - self.first_time + self.settings.period

    def _gesture_steps(self, features: np.ndarray) -> np.ndarray:
        """(n, D) -> (n, 1 + labels) probabilities, the recurrent state carried on."""
        runtime = self.pipeline.runtime
        states = self._gesture_states or runtime.gesture_initial_state(1)
        probabilities, self._gesture_states = runtime.gesture_chunk(features, states)
        return probabilities

    def _caption_closed(self) -> list[CaptionSegment]:
        """Caption the closed windows; windows of equal length decode together; captions
        come back in time order."""
        windows, self._closed = self._closed, []
        texts: dict[int, tuple[str, float]] = {}
        by_length: dict[int, list[int]] = {}
        for i, window in enumerate(windows):
            by_length.setdefault(len(window.features), []).append(i)
        for members in by_length.values():
            batch = np.stack([windows[i].features for i in members])
            for i, result in zip(members, self.pipeline.caption(batch, self.settings.decoding),
                                 strict=True):
                texts[i] = result
        return [CaptionSegment(w.start, w.end, *texts[i]) for i, w in enumerate(windows)]
