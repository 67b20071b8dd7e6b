"""The in-process pipeline on real video files: timing, segments, and clear errors."""

import cv2
import numpy as np
import pytest

from framescribe.models.inference.pipeline import Pipeline, PipelineOptions
from framescribe.models.video import TimedFrame, VideoError, sample_frames


def write_video(path, frames: int, width: int, height: int, fps: float = 20.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def pipeline(tiny_bundle):
    return Pipeline.from_bundle(tiny_bundle)


def test_annotates_a_video_file_with_timed_segments(pipeline, tmp_path):
    video = write_video(tmp_path / "clip.avi", frames=76, width=96, height=72)  # 3.8 s, 20 fps
    result = pipeline.annotate(video)
    assert result.frames == 38  # sampled to the bundle's 10 fps
    assert result.duration == pytest.approx(3.8, abs=0.01)
    assert [round(c.start, 2) for c in result.captions] == [0.0, 1.6]  # 16-frame segments
    assert result.captions[-1].end == pytest.approx(3.8, abs=0.01)  # the short tail joins
    assert all(isinstance(c.text, str) for c in result.captions)
    for event in result.gestures:
        assert 0.0 <= event.start < event.end <= 3.8 + 1e-6
        assert 0.0 <= event.confidence <= 1.0


@pytest.mark.parametrize("width,height", [(1, 1), (17, 33), (641, 479), (2000, 10)])
def test_odd_resolutions_are_handled(pipeline, width, height):
    frames = np.random.default_rng(0).integers(0, 255, (12, height, width, 3), dtype=np.uint8)
    result = pipeline.annotate(frames, PipelineOptions(tasks=("gestures",)))
    assert result.frames == 12


def test_grey_frames_and_timestamps(pipeline):
    frames = [(t / 30.0, np.full((40, 50), 128, np.uint8)) for t in range(30)]
    result = pipeline.annotate(frames, PipelineOptions(tasks=("captions",),
                                                       segment_frames=5))
    assert result.frames == 10  # 1 s of 30 fps sampled at 10 fps
    assert len(result.captions) == 2


def test_unreadable_missing_and_empty_videos(pipeline, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty.mp4: empty file"):
        pipeline.annotate(empty)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError,
                       match="garbage.mp4: (cannot open it as a video|no frames could be decoded)"):
        pipeline.annotate(garbage)
    with pytest.raises(VideoError, match="missing.mp4: no such file"):
        pipeline.annotate(tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="no frames"):
        pipeline.annotate([])


def test_bad_frames_are_rejected(pipeline):
    with pytest.raises(VideoError, match="must be uint8"):
        pipeline.annotate(np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(VideoError, match="RGB"):
        pipeline.annotate(np.zeros((3, 8, 8, 4), np.uint8))
    with pytest.raises(VideoError, match="must not decrease"):
        pipeline.annotate([(1.0, np.zeros((8, 8, 3), np.uint8)),
                           (0.5, np.zeros((8, 8, 3), np.uint8))])


def test_sampling_keeps_one_frame_per_period():
    frames = (TimedFrame(i / 25.0, np.zeros((2, 2, 3), np.uint8)) for i in range(100))
    kept = [f.timestamp for f in sample_frames(frames, 10.0)]
    assert len(kept) == 40
    assert np.all(np.diff(kept) > 0.07)
