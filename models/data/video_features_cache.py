"""Per-video frame features, computed once and cached on disk as .npz.

A video is read (read_video), sampled to ``frame_rate`` and each kept frame fitted to the
encoder's square input (fitted_chunks), and encoded in chunks of at most ENCODE_CHUNK frames.
The cache key hashes the video's absolute path, size and modification time with the sampling
and encoder settings, so an edited video or another encoder never reuses a stale entry; an
unreadable or inconsistent cache file is recomputed and replaced. Files are written atomically
(temporary file + os.replace), so concurrent writers at worst compute twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framescribe.models.video import (
    TimedFrame,
    VideoError,
    fitted_chunks,
    read_video,
)

ENCODE_CHUNK = 256  # frames per encode() call, at most
CACHE_VERSION = 1  # bump when the cached arrays change meaning

Encoder = Callable[[np.ndarray], np.ndarray]  # uint8 (n, size, size, 3) -> (n, D)


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class VideoFeatures:
    """Features of a video's sampled frames.

    features: (n, D) float32, one row per sampled frame.
    timestamps: (n,) float64 seconds from the start of the video.
    source_frames: (n,) int64 index (0-based) of each sampled frame among the video's frames.
    """

    features: np.ndarray
    timestamps: np.ndarray
    source_frames: np.ndarray

    def __len__(self) -> int:
        return len(self.features)


def cache_key(
    path: str | os.PathLike, *, frame_rate: float, input_size: int, encoder_id: str
) -> str:
    """Hex SHA-256 of (absolute path, size, mtime, frame_rate, input_size, encoder_id)."""
    path = os.path.abspath(os.fspath(path))
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise VideoError(f"{path}: no such file") from None
    fields = [
        CACHE_VERSION,
        path,
        stat.st_size,
        stat.st_mtime_ns,
        float(frame_rate),
        int(input_size),
        encoder_id,
    ]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def cached_video_features(
    path: str | os.PathLike,
    encode: Encoder,
    *,
    frame_rate: float,
    input_size: int,
    cache_dir: str | os.PathLike,
    encoder_id: str,
) -> VideoFeatures:
    """The video's features from ``cache_dir`` if cached for these settings, else computed
    (video_features) and cached. ``encoder_id`` must change whenever ``encode`` does (e.g.
    name + weights hash). Video errors propagate as VideoError naming the file."""
    key = cache_key(path, frame_rate=frame_rate, input_size=input_size, encoder_id=encoder_id)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem)[:48]  # readable, safe anywhere
    cache_file = Path(cache_dir) / f"{stem}-{key[:32]}.npz"
    cached = _load(cache_file, key)
    if cached is not None:
        return cached
    features = video_features(path, encode, frame_rate=frame_rate, input_size=input_size)
    _save(cache_file, key, features)
    return features


def video_features(
    path: str | os.PathLike, encode: Encoder, *, frame_rate: float, input_size: int
) -> VideoFeatures:
    """Read, sample, fit and encode a video, without any cache."""
    if not frame_rate > 0:
        raise ValueError(f"frame_rate must be > 0 frames per second, got {frame_rate}")
    source_index: dict[float, int] = {}  # repaired timestamps are unique: time -> frame

    def counted() -> Iterator[TimedFrame]:
        for index, frame in enumerate(read_video(path)):
            source_index[frame.timestamp] = index
            yield frame

    features, times = [], []
    for chunk_times, frames in fitted_chunks(counted(), frame_rate, input_size, ENCODE_CHUNK):
        features.append(_encode(encode, frames, path))
        times.append(chunk_times)
    if not features:
        raise VideoError(f"{path}: no frames")
    timestamps = np.concatenate(times)
    return VideoFeatures(
        features=np.concatenate(features),
        timestamps=timestamps,
        source_frames=np.asarray([source_index[t] for t in timestamps], np.int64),
    )


def clip_range(features: VideoFeatures, frame_start: int, frame_end: int | None) -> np.ndarray:
    """Features (k >= 1, D) of the sampled frames whose source frame is in [start, end).

    frame_end None means to the end of the video. A range that falls between two sampled
    frames yields the sampled frame nearest its middle; a range starting after the video's
    last frame is a ValueError (e.g. annotations that index an untrimmed original video).
    """
    if frame_start < 0 or (frame_end is not None and frame_end <= frame_start):
        raise ValueError(f"frame range [{frame_start}, {frame_end}) is empty or negative")
    source = features.source_frames
    if frame_start > source[-1]:
        raise ValueError(
            f"frame range [{frame_start}, {frame_end}) starts after the video's last sampled "
            f"frame {int(source[-1])}"
        )
    inside = source >= frame_start
    if frame_end is not None:
        inside &= source < frame_end
    if inside.any():
        return features.features[inside]
    middle = (frame_start + frame_end - 1) / 2  # frame_end is set: the tail always has frames
    return features.features[[int(np.argmin(np.abs(source - middle)))]]


def _encode(encode: Encoder, batch: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    out = np.asarray(encode(batch), np.float32)
    if out.ndim != 2 or len(out) != len(batch):
        raise ValueError(
            f"{path}: encoder returned shape {out.shape} for {len(batch)} frames "
            f"(expected ({len(batch)}, D))"
        )
    return out


def _load(cache_file: Path, key: str) -> VideoFeatures | None:
    """The cached features, or None when absent, unreadable or not for ``key``."""
    try:
        with np.load(cache_file, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            features = VideoFeatures(
                features=np.asarray(data["features"], np.float32),
                timestamps=np.asarray(data["timestamps"], np.float64),
                source_frames=np.asarray(data["source_frames"], np.int64),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    n = len(features.features)
    consistent = (
        features.features.ndim == 2
        and n > 0
        and features.timestamps.shape == (n,)
        and features.source_frames.shape == (n,)
    )
    return features if consistent else None


def _save(cache_file: Path, key: str, features: VideoFeatures) -> None:
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=cache_file.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(
                file,
                key=np.asarray(key),
                features=features.features,
                timestamps=features.timestamps,
                source_frames=features.source_frames,
            )
        os.replace(temp, cache_file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
