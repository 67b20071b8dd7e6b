"""A landmark bundle's frames in one call (a stream or a clip): landmarks or images -> features.

A frame may carry landmarks (a client extracted them: no pixels left its device) or an image;
the server runs the bundle's landmarker on an image, through the models' one landmark stage
(models/inference/landmark_stage.py), so the landmarks are what the client would have
extracted from the same frame. The landmarker tracks from frame to frame (MediaPipe's VIDEO
mode), so one call has one stage, fed its frames in order (an asyncio lock: a stream's
messages may be in flight together), each batch on the server's decode pool (MediaPipe's
C++ runs without the GIL). The stage is made on the first image, so a client sending
landmarks never loads MediaPipe here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np

from .frame_decoding import FrameLimits, decode_image, decode_landmarks, frame_time_seconds
from .request_errors import invalid


class CallLandmarks:
    """One call's landmark frames; `close()` when the call ends."""

    def __init__(self, pipeline, model, frame_limits: FrameLimits):
        """pipeline: the bundle's (reads_landmarks); model: the ServingModel whose decode pool
        runs the landmarker."""
        self.pipeline = pipeline
        self.model = model
        self.frame_limits = frame_limits
        self._stage = None
        self._order = asyncio.Lock()  # the call's batches in order
        self._using = threading.Lock()  # the stage: one thread at a time, closed by none

    async def features(self, frames: Sequence[tuple[object, int]]) -> np.ndarray:
        """(Frame, index) pairs, in the call's order -> the bundle's features (n, D)."""
        async with self._order:
            points = []
            images = [(frame, index) for frame, index in frames
                      if frame.WhichOneof("content") == "image"]
            extracted = iter(await self.model.run_on_decode_pool(self._extract, images)
                             if images else ())
            for frame, index in frames:
                content = frame.WhichOneof("content")
                if content == "landmarks":
                    points.append(decode_landmarks(frame.landmarks, f"frame {index}"))
                elif content == "image":
                    points.append(next(extracted))
                else:
                    raise invalid(f"frame {index}: set Frame.image or Frame.landmarks")
            return self.pipeline.landmark_features(np.stack(points))

    def _extract(self, frames: Sequence[tuple[object, int]]) -> list[np.ndarray]:
        """Decode pool: images decoded and checked, then the landmarker on each in turn."""
        from framescribe.models.inference.landmark_stage import LandmarkStage

        times = [frame_time_seconds(frame, f"frame {index}") for frame, index in frames]
        images = [decode_image(frame.image, self.frame_limits, f"frame {index}")
                  for frame, index in frames]
        with self._using:
            if self._stage is None:
                self._stage = LandmarkStage(self.pipeline.landmark_kind)
            return list(self._stage.landmarks(times, images))

    async def close(self) -> None:
        """Close the landmarker once no thread uses it (a cancelled call's batch may still be
        running on the decode pool)."""
        if self._stage is not None:
            await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._using:
            if self._stage is not None:
                self._stage.close()
                self._stage = None
