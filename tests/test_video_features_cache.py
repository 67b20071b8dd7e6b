"""Tests for the on-disk frame-feature cache and clip_range."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from fixtures.dataset_fixtures import write_video, write_wlasl_fixture

from framescribe.models.data.lasa_airwriting_paths import GESTURE_FRAMES
from framescribe.models.data.moving_digits import MovingDigits
from framescribe.models.data.video_features_cache import (
    ENCODE_CHUNK,
    VideoFeatures,
    cached_video_features,
    clip_range,
    video_features,
)
from framescribe.models.data.wlasl_dataset import load_wlasl
from framescribe.models.video import VideoError


class ChannelMeans:
    """A real small encoder: mean of each colour channel, (n, s, s, 3) uint8 -> (n, 3)."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, ...]] = []

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[3] == 3
        self.batches.append(frames.shape)
        return frames.mean(axis=(1, 2))


@pytest.fixture(scope="module")
def digits_video(tmp_path_factory) -> Path:
    """16 moving-digits frames at 10 fps."""
    folder = tmp_path_factory.mktemp("video")
    return write_video(folder / "digits.mp4", MovingDigits("train", size=2)[1].frames)


def _features(
    path: Path, encode, cache_dir: Path, encoder_id: str = "means-v1", frame_rate: float = 10.0
) -> VideoFeatures:
    return cached_video_features(
        path,
        encode,
        frame_rate=frame_rate,
        input_size=32,
        cache_dir=cache_dir,
        encoder_id=encoder_id,
    )


def _same(a: VideoFeatures, b: VideoFeatures) -> None:
    for name in ("features", "timestamps", "source_frames"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert getattr(a, name).dtype == getattr(b, name).dtype


def test_first_call_computes_second_reads_cache(digits_video, tmp_path) -> None:
    encode = ChannelMeans()
    first = _features(digits_video, encode, tmp_path)
    assert encode.batches == [(16, 32, 32, 3)]
    assert first.features.shape == (16, 3) and first.features.dtype == np.float32
    np.testing.assert_allclose(first.timestamps, np.arange(16) / 10.0)
    np.testing.assert_array_equal(first.source_frames, np.arange(16))
    second = _features(digits_video, encode, tmp_path)
    assert len(encode.batches) == 1
    _same(first, second)
    assert [p.suffix for p in tmp_path.iterdir()] == [".npz"]  # no temporary files left
    _same(first, video_features(digits_video, ChannelMeans(), frame_rate=10.0, input_size=32))


def test_encoder_id_video_change_and_settings_recompute(digits_video, tmp_path) -> None:
    encode = ChannelMeans()
    _features(digits_video, encode, tmp_path)
    _features(digits_video, encode, tmp_path, encoder_id="means-v2")
    assert len(encode.batches) == 2 and len(list(tmp_path.iterdir())) == 2
    _features(digits_video, encode, tmp_path, frame_rate=5.0)
    assert encode.batches[-1] == (8, 32, 32, 3)
    copy = tmp_path / "copy" / "digits.mp4"
    copy.parent.mkdir()
    copy.write_bytes(digits_video.read_bytes())
    _features(copy, encode, tmp_path)
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # "edited" video
    _features(copy, encode, tmp_path)
    assert len(encode.batches) == 5


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_cache_is_recomputed_and_repaired(digits_video, tmp_path, damage) -> None:
    encode = ChannelMeans()
    first = _features(digits_video, encode, tmp_path)
    (cache_file,) = tmp_path.iterdir()
    content = cache_file.read_bytes()
    cache_file.write_bytes(
        {"truncate": content[: len(content) // 2], "garbage": b"x" * 500, "empty": b""}[damage]
    )
    _same(first, _features(digits_video, encode, tmp_path))
    assert len(encode.batches) == 2
    _same(first, _features(digits_video, encode, tmp_path))
    assert len(encode.batches) == 2  # the repaired file is used


def test_subsampling_records_source_frames(tmp_path) -> None:
    frames = np.zeros((300, 8, 8, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(300)[:, None, None] % 256
    video = write_video(tmp_path / "long.mp4", frames, fps=25.0)
    encode = ChannelMeans()
    sampled = _features(video, encode, tmp_path / "cache", frame_rate=25.0)
    assert [b[0] for b in encode.batches] == [ENCODE_CHUNK, 300 - ENCODE_CHUNK]
    np.testing.assert_array_equal(sampled.source_frames, np.arange(300))
    slow = _features(video, encode, tmp_path / "cache", frame_rate=5.0)
    np.testing.assert_array_equal(slow.source_frames, np.arange(0, 300, 5))
    np.testing.assert_allclose(slow.timestamps, np.arange(0, 300, 5) / 25.0)
    np.testing.assert_allclose(slow.features, sampled.features[::5])


def test_video_errors_name_the_file(tmp_path) -> None:
    missing = tmp_path / "missing.mp4"
    with pytest.raises(VideoError, match=str(missing)):
        _features(missing, ChannelMeans(), tmp_path / "cache")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match=str(text)):
        _features(text, ChannelMeans(), tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_bad_encoder_output(digits_video, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"encoder returned shape \(16,\) for 16 frames"):
        _features(digits_video, lambda frames: frames.mean(axis=(1, 2, 3)), tmp_path)


def _sampled_every_5(frames: int = 30) -> VideoFeatures:
    source = np.arange(0, frames, 5)
    return VideoFeatures(source[:, None].astype(np.float32), source / 25.0, source)


def test_clip_range() -> None:
    features = _sampled_every_5()  # source frames 0, 5, ..., 25
    assert clip_range(features, 5, 15)[:, 0].tolist() == [5, 10]
    assert clip_range(features, 3, None)[:, 0].tolist() == [5, 10, 15, 20, 25]
    assert clip_range(features, 0, None).shape == (6, 1)
    assert clip_range(features, 6, 9)[:, 0].tolist() == [5]  # between samples: nearest middle
    assert clip_range(features, 8, 10)[:, 0].tolist() == [10]
    assert clip_range(features, 25, 26)[:, 0].tolist() == [25]
    with pytest.raises(ValueError, match="starts after the video's last sampled frame 25"):
        clip_range(features, 40, 50)
    with pytest.raises(ValueError, match="empty or negative"):
        clip_range(features, 5, 5)


def test_wlasl_fixture_clip_through_cache(tmp_path) -> None:
    data = load_wlasl(write_wlasl_fixture(tmp_path / "wlasl", clips_per_gloss=3, glosses=["Sine"]))
    for clip in data.clips:
        features = _features(clip.path, ChannelMeans(), tmp_path / "cache")
        gesture = clip_range(features, clip.frame_start, clip.frame_end)
        assert gesture.shape == (GESTURE_FRAMES, 3)
