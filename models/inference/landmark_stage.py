"""The landmark step of the one frame path: a landmark bundle's video frames -> landmarks.

    with LandmarkStage(pipeline.landmark_kind) as stage:  # one per video or stream
        points = stage.landmarks(times, images)  # (n,) s, [n (h, w, 3) uint8 RGB] -> (n, 543, 3)
    features = pipeline.landmark_features(points)

A bundle whose gestures read landmarks (manifest gesture_input "landmarks") names its feature
set (landmark_feature_sets), and the set names the MediaPipe landmarker that gives its points
from video (Pipeline.landmark_kind: "hands" or "holistic"). This stage runs that landmarker on
sampled frames at their own resolution (a client sending a server frames for it sends them
losslessly and unresized), in MediaPipe's VIDEO mode (tracking carried from frame
to frame) with increasing integer-millisecond timestamps. Every entry point that hands a
landmark bundle video frames (Pipeline.annotate / stream, the batch engines, a client that
extracts locally and sends only landmarks) goes through it, so the same frames give the same
landmarks everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from framescribe.models.data.islr_layout import ISLR_LANDMARKS


class LandmarkStage:
    """Landmarks and features of one video's or stream's sampled frames, in time order."""

    def __init__(self, kind: str):
        """kind: "hands" or "holistic" (a bundle's Pipeline.landmark_kind). Raises
        TaskFilesMissing (naming the command that builds them) without MediaPipe's files."""
        from framescribe.models.landmarks.landmark_extractor import LandmarkExtractor

        self.kind = kind
        self._extractor = LandmarkExtractor(kind)

    def landmarks(self, times: Sequence[float], images: Sequence[np.ndarray]) -> np.ndarray:
        """times (n,) seconds, increasing across calls; images (h, w, 3) uint8 RGB ->
        (n, 543, 3) float32 in the ISLR layout, NaN where a part was not found."""
        points = [self._extractor.extract_at(image, timestamp)
                  for timestamp, image in zip(times, images, strict=True)]
        return np.stack(points) if points else np.empty((0, ISLR_LANDMARKS, 3), np.float32)

    def close(self) -> None:
        self._extractor.close()

    def __enter__(self) -> LandmarkStage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
