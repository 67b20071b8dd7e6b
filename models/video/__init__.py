"""Frames in: the one video reader (files, folders, cameras, URLs, raw stdin) with its
repaired clock, sampling to a model's frame rate, and fitting frames to an encoder's input.
OpenCV and numpy only: the TensorFlow-free client uses it too."""

from framescribe.models.video.frame_clock import FrameClock, nominal_period, repaired
from framescribe.models.video.frame_sampling import (
    FrameSampler,
    fitted_chunks,
    sample_frames,
    sampled_chunks,
)
from framescribe.models.video.frames import (
    MAX_FRAME_SIDE,
    TimedFrame,
    VideoError,
    check_frame,
    fit_frame,
)
from framescribe.models.video.video_source import (
    SourceError,
    VideoSource,
    is_live,
    open_source,
    read_video,
    source_kind,
)

__all__ = ["MAX_FRAME_SIDE", "FrameClock", "FrameSampler", "SourceError", "TimedFrame",
           "VideoError", "VideoSource", "check_frame", "fit_frame",
           "fitted_chunks", "is_live", "nominal_period", "open_source", "read_video", "repaired",
           "sample_frames", "sampled_chunks", "source_kind"]
