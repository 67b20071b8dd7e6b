"""The steps of a batch job, shared by both engines: decode a file (the one reader), encode
frames of several files together, run the streaming core per file, write its outputs."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ENCODE_BATCH = 256  # frames per encoder call, gathered across files
CHUNK_FRAMES = 64  # frames per decoded chunk (what the local engine's queue holds)


@dataclass
class FileResult:
    """What an engine hands back for one input (its index in the job's to-do list)."""

    index: int
    annotation: Any = None  # framescribe.models.inference.pipeline.Annotation when it worked
    error: str | None = None
    error_type: str | None = None
    stage: str | None = None  # decode, inference, write
    decode_s: float = 0.0
    infer_s: float = 0.0

    @classmethod
    def failure(cls, index: int, error: BaseException, stage: str, **timings) -> FileResult:
        return cls(index, error=str(error) or type(error).__name__,
                   error_type=type(error).__name__, stage=stage, **timings)


def decode_chunks(path: str, frame_rate: float, input_size: int,
                  chunk_frames: int = CHUNK_FRAMES, landmark_kind: str | None = None
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A video's frames sampled to the model's rate and fitted to its input, in chunks:
    (frames (n, size, size, 3) uint8, timestamps (n,) s). VideoError names a bad file.
    With landmark_kind (a landmark bundle's Pipeline.landmark_kind) the chunks hold the frames'
    landmarks (n, 543, 3) instead, from the one landmark stage (one extractor per file)."""
    from framescribe.models.video import fitted_chunks, read_video, sampled_chunks

    if landmark_kind is None:
        for times, frames in fitted_chunks(read_video(path), frame_rate, input_size,
                                           chunk_frames):
            yield frames, times
        return
    from framescribe.models.inference.landmark_stage import LandmarkStage

    with LandmarkStage(landmark_kind) as stage:
        for times, images in sampled_chunks(read_video(path), frame_rate, chunk_frames):
            yield stage.landmarks(times, images), times


def decode_file(path: str, frame_rate: float, input_size: int,
                landmark_kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All of a video's frames (or landmarks) at once (see decode_chunks)."""
    chunks = list(decode_chunks(path, frame_rate, input_size, landmark_kind=landmark_kind))
    if not chunks:
        from framescribe.models.video import VideoError

        raise VideoError(f"{path}: no frames")
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def encode_many(pipeline, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Features of several files' frames: one encoder call per ENCODE_BATCH frames, files
    packed together (the encoder's batch is what keeps a GPU busy). A landmark bundle's
    "frames" are landmarks (decode_chunks), each file's turned into its features."""
    if pipeline.reads_landmarks:
        return [pipeline.landmark_features(f) for f in frames]
    sizes = [len(f) for f in frames]
    if not sum(sizes):
        return [np.zeros((0, 0), np.float32) for _ in frames]
    packed = np.concatenate(frames)
    features = np.concatenate([pipeline.encode(packed[i:i + ENCODE_BATCH])
                               for i in range(0, len(packed), ENCODE_BATCH)])
    return np.split(features, np.cumsum(sizes)[:-1])


def annotate_features(pipeline, features: np.ndarray, times: np.ndarray, settings):
    """A file's Annotation from its sampled frames' features (n, D) and times (n,) s: the
    streaming core's session over them, as Pipeline.annotate runs it."""
    from framescribe.models.inference.pipeline import Annotation

    session = pipeline.stream(settings)
    events = session.push_features(times, features)
    return Annotation.of(events + session.flush(), session)


def annotation_to_json(annotation) -> str:
    """An Annotation as JSON (floats round-trip exactly), to cross process boundaries."""
    return json.dumps({"captions": [asdict(c) for c in annotation.captions],
                       "gestures": [asdict(g) for g in annotation.gestures],
                       "frames": annotation.frames, "duration": annotation.duration})


def annotation_from_json(text: str):
    from framescribe.models.inference.pipeline import Annotation, CaptionSegment, GestureEvent

    raw = json.loads(text)
    return Annotation(tuple(CaptionSegment(**c) for c in raw["captions"]),
                      tuple(GestureEvent(**g) for g in raw["gestures"]),
                      int(raw["frames"]), float(raw["duration"]))


def write_outputs(outdir: str, name: str, annotation, formats: Sequence[str]) -> list[dict]:
    """Write one file's outputs with the subtitle writers, each atomically (a temporary file
    beside it, fsync, rename): [{path (relative to outdir), sha256, bytes}]."""
    from framescribe.plugin.atomic_files import write_atomically
    from framescribe.plugin.subtitles import get_writer, in_time_order

    events = in_time_order([*annotation.captions, *annotation.gestures])
    written = []
    for fmt in formats:
        relative = f"{name}.{fmt}"
        path = os.path.join(outdir, *relative.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = get_writer(fmt).to_string(events)
        write_atomically(path, data)
        encoded = data.encode("utf-8")
        written.append({"path": relative, "sha256": hashlib.sha256(encoded).hexdigest(),
                        "bytes": len(encoded)})
    return written
