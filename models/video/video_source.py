"""The one video reader: video files, image folders, cameras, stream URLs, raw stdin.

    with open_source("talk.mp4", frame_rate=10) as source:
        for timestamp, image in source:  # seconds, (h, w, 3) uint8 RGB
            ...

Every entry point reads video through here (the pipeline, the server's clip files, the batch
engines, the client and the CLI), so every one sees the same frames at the same times.
Timestamps: files and URLs use the container's clock repaired by frame_clock (in order, never
backwards or repeated, counted from the first frame); cameras the wall clock since the first
frame; image folders and raw frames index / fps. With `frame_rate`, one frame per
1/frame_rate seconds is kept. A source is read once (iterate it once). Problems raise
SourceError (a VideoError) naming the source. Needs only OpenCV and numpy.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from framescribe.models.video.frame_clock import REORDER_WINDOW, FrameClock, nominal_period
from framescribe.models.video.frame_sampling import FrameSampler
from framescribe.models.video.frames import TimedFrame, VideoError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
URL_SCHEMES = ("rtsp://", "http://", "https://")
DIRECTORY_FPS = 10.0  # frames per second of an image folder when no frame_rate is given
# Raw pixel formats (ffmpeg's names): bytes per pixel, conversion to RGB (None: already RGB).
RAW_FORMATS: dict[str, tuple[int, int | None]] = {
    "rgb24": (3, None), "bgr24": (3, cv2.COLOR_BGR2RGB), "gray": (1, cv2.COLOR_GRAY2RGB)}

Frame = TimedFrame  # (timestamp seconds, (h, w, 3) uint8 RGB)


SourceError = VideoError  # a source that cannot be opened or read; the message names it


class VideoSource:
    """An iterable of (timestamp_seconds, RGB uint8 image), sampled to `frame_rate` if given.

    `description` names the source; `frame_count` is its number of frames before sampling
    (None when unknown: cameras, live streams, raw frames). Close it, or use `with`.
    """

    def __init__(self, description: str, frame_count: int | None = None,
                 frame_rate: float | None = None):
        self.description = description
        self.frame_count = frame_count
        self.frame_rate = frame_rate
        self.closed = False

    def _read(self) -> Iterator[Frame]:
        """Every frame of the source, in order, with its timestamp."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        if self.closed:
            raise SourceError(f"{self.description}: the source is closed")
        sampler = FrameSampler(self.frame_rate) if self.frame_rate else None
        for timestamp, image in self._read():
            try:
                if sampler is None or sampler.accept(timestamp):
                    yield TimedFrame(timestamp, image)
            except VideoError as error:
                raise SourceError(f"{self.description}: {error}") from None

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class CaptureSource(VideoSource):
    """Frames decoded by cv2.VideoCapture (a file, a URL or a camera), their times repaired
    by a FrameClock holding back `reorder` frames (0 for live sources: no added latency)."""

    def __init__(self, capture: cv2.VideoCapture, description: str,
                 clock: Callable[[cv2.VideoCapture], float], frame_rate: float | None = None,
                 reorder: int = REORDER_WINDOW):
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        super().__init__(description, count if count > 0 else None, frame_rate)
        self.capture = capture
        self._clock = clock  # the just-read frame's raw timestamp, seconds
        self.reorder = reorder

    def _read(self) -> Iterator[Frame]:
        clock = FrameClock(nominal_period(self.capture.get(cv2.CAP_PROP_FPS)), self.reorder)
        read = 0
        while not self.closed:
            ok, bgr = self.capture.read()
            if not ok:
                break
            read += 1
            for timestamp, held in clock.push(self._clock(self.capture), bgr):
                yield timestamp, cv2.cvtColor(held, cv2.COLOR_BGR2RGB)
        for timestamp, held in clock.finish():
            if self.closed:
                return
            yield timestamp, cv2.cvtColor(held, cv2.COLOR_BGR2RGB)
        if read == 0 and not self.closed:
            raise SourceError(f"{self.description}: no frames could be decoded")

    def close(self) -> None:
        super().close()
        self.capture.release()


class ImageDirectorySource(VideoSource):
    """The images of one folder, sorted by name, at `fps` frames per second."""

    def __init__(self, paths: list[Path], description: str, fps: float,
                 frame_rate: float | None = None):
        super().__init__(description, len(paths), frame_rate)
        self.paths = paths
        self.fps = fps

    def _read(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            if self.closed:
                return
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise SourceError(f"{path}: not an image OpenCV can read")
            yield index / self.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class RawFrameSource(VideoSource):
    """Raw frames of a fixed size read back to back from a binary stream (ffmpeg's rawvideo)."""

    def __init__(self, stream: BinaryIO, description: str, size: tuple[int, int],
                 pixel_format: str, fps: float, frame_rate: float | None = None):
        super().__init__(description, None, frame_rate)
        self.stream = stream
        self.width, self.height = size
        self.pixel_format = pixel_format
        self.fps = fps
        channels, self._conversion = RAW_FORMATS[pixel_format]
        self.frame_bytes = self.width * self.height * channels

    def _read(self) -> Iterator[Frame]:
        index = 0
        while not self.closed and (data := self._read_frame()) is not None:
            pixels = np.frombuffer(data, np.uint8).reshape(self.height, self.width, -1)
            image = pixels if self._conversion is None else cv2.cvtColor(pixels,
                                                                         self._conversion)
            yield index / self.fps, image
            index += 1

    def _read_frame(self) -> bytes | None:
        """Exactly frame_bytes bytes; None at the end of the stream."""
        data = bytearray()
        while len(data) < self.frame_bytes:
            chunk = self.stream.read(self.frame_bytes - len(data))
            if not chunk:
                break
            data += chunk
        if not data:
            return None
        if len(data) < self.frame_bytes:
            raise SourceError(f"{self.description}: the last frame has {len(data)} bytes; a "
                              f"{self.width}x{self.height} {self.pixel_format} frame has "
                              f"{self.frame_bytes} (wrong raw_size or pixel format?)")
        return bytes(data)


def source_kind(spec: str | int | os.PathLike) -> str:
    """What a source spec names: "stdin" ("-"), "camera" (an index), "url" (rtsp/http(s)) or
    "path" (a video file or an image folder)."""
    text = os.fspath(spec) if isinstance(spec, os.PathLike) else str(spec)
    if text == "-":
        return "stdin"
    if text.isdigit():
        return "camera"
    if text.lower().startswith(URL_SCHEMES):
        return "url"
    return "path"


def is_live(spec: str | int | os.PathLike) -> bool:
    """Whether the spec names a live source (frames come in real time): all but paths."""
    return source_kind(spec) != "path"


def open_source(spec: str | int | os.PathLike, *, frame_rate: float | None = None,
                raw_size: tuple[int, int] | None = None, raw_pixel_format: str = "rgb24",
                raw_fps: float = 30.0, raw_stream: BinaryIO | None = None) -> VideoSource:
    """A VideoSource for `spec`: a video file, a folder of images, a camera index ("0"), an
    rtsp/http(s) URL, or "-" for raw frames on stdin (or `raw_stream`) of `raw_size`
    (width, height) pixels in `raw_pixel_format` at `raw_fps` frames per second.
    `frame_rate` (frames per second) samples the frames down; None keeps them all."""
    if frame_rate is not None and not frame_rate > 0:
        raise SourceError(f"{spec}: frame_rate must be > 0 frames per second, got {frame_rate}")
    text = os.fspath(spec) if isinstance(spec, os.PathLike) else str(spec)
    kind = source_kind(text)
    if kind == "stdin":
        return _open_raw(raw_stream, raw_size, raw_pixel_format, raw_fps, frame_rate)
    if kind == "camera":
        return _open_camera(int(text), frame_rate)
    if kind == "url":
        return _open_capture(text, f"stream {text}", "cannot open the stream (unreachable, or "
                             "a protocol or codec OpenCV lacks)", _position, frame_rate,
                             reorder=0)
    path = Path(text)
    if path.is_dir():
        return _open_directory(path, frame_rate)
    if not path.is_file():
        raise SourceError(f"{text}: no such file or directory")
    if path.stat().st_size == 0:
        raise SourceError(f"{text}: empty file (0 bytes)")
    return _open_capture(text, f"video file {text}", "cannot open it as a video (not a video, "
                         "or a codec OpenCV lacks)", _position, frame_rate)


def _position(capture: cv2.VideoCapture) -> float:
    return capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0


def _open_capture(target: str, description: str, problem: str, clock,
                  frame_rate: float | None, reorder: int = REORDER_WINDOW) -> CaptureSource:
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL: errors say enough
    capture = cv2.VideoCapture(target)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"{target}: {problem}")
    return CaptureSource(capture, description, clock, frame_rate, reorder)


def _open_camera(index: int, frame_rate: float | None) -> CaptureSource:
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"camera {index}: not available (no such device, no permission, or "
                          "in use by another program)")
    return CaptureSource(capture, f"camera {index}", _wall_clock(), frame_rate, reorder=0)


def _wall_clock() -> Callable[[cv2.VideoCapture], float]:
    """Seconds since the first frame was read."""
    start = None

    def clock(_: cv2.VideoCapture) -> float:
        nonlocal start
        now = time.monotonic()
        start = now if start is None else start
        return now - start

    return clock


def _open_directory(path: Path, frame_rate: float | None) -> ImageDirectorySource:
    paths = sorted(p for p in path.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SourceError(f"{path}: no images in the directory (looked for "
                          f"{', '.join(IMAGE_SUFFIXES)})")
    fps = frame_rate or DIRECTORY_FPS
    return ImageDirectorySource(paths, f"image directory {path} ({len(paths)} images)", fps,
                                frame_rate)


def _open_raw(stream, size, pixel_format: str, fps: float,
              frame_rate: float | None) -> RawFrameSource:
    where = "stdin" if stream is None else "raw stream"
    if size is None:
        raise SourceError(f"{where}: raw frames need raw_size=(width, height), e.g. what "
                          "ffmpeg's -s WxH was given")
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise SourceError(f"{where}: raw_size must be two positive integers (width, height), "
                          f"got {size!r}")
    if pixel_format not in RAW_FORMATS:
        raise SourceError(f"{where}: raw_pixel_format must be one of {', '.join(RAW_FORMATS)}, "
                          f"got {pixel_format!r}")
    if not fps > 0:
        raise SourceError(f"{where}: raw_fps must be > 0 frames per second, got {fps}")
    description = f"{where} ({size[0]}x{size[1]} {pixel_format} at {fps:g} fps)"
    return RawFrameSource(sys.stdin.buffer if stream is None else stream, description,
                          size, pixel_format, fps, frame_rate)


def read_video(path: str | os.PathLike) -> Iterator[TimedFrame]:
    """Every frame of a video file, RGB, with repaired timestamps in seconds (open_source)."""
    with open_source(path) as source:
        if os.path.isdir(os.fspath(path)):
            raise SourceError(f"{os.fspath(path)}: a folder, not a video file")
        yield from source
