"""Building FrameScribeService requests (both clients): images, frames, clip and stream
requests, and the checks on what a caller passes."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import cv2
import numpy as np

from framescribe.models.data.islr_layout import ISLR_LANDMARKS
from framescribe.plugin.client_types import MAX_FRAMES_PER_MESSAGE, StreamConfig
from framescribe.v1 import framescribe_service_pb2 as pb

TASK_ENUMS = {"captions": pb.TASK_CAPTIONS, "gestures": pb.TASK_GESTURES}
_MAGIC = ((b"\xff\xd8\xff", pb.IMAGE_FORMAT_JPEG), (b"\x89PNG\r\n\x1a\n", pb.IMAGE_FORMAT_PNG))


def encode_image(image, quality: int = 90, where: str = "image") -> pb.Image:
    """A wire Image from a uint8 RGB (h, w, 3) / grey (h, w) array (JPEG-encoded at `quality`)
    or from JPEG/PNG file bytes. ValueError naming `where` for anything else."""
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        for magic, image_format in _MAGIC:
            if data.startswith(magic):
                return pb.Image(format=image_format, data=data)
        raise ValueError(f"{where}: image bytes are neither JPEG nor PNG (they start with "
                         f"{data[:8]!r})")
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{where}: an image must be a uint8 numpy array or JPEG/PNG bytes, "
                         f"got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{where}: image arrays must be uint8, got {image.dtype}")
    if image.shape[2:] not in ((), (3,)) or image.ndim < 2 or 0 in image.shape:
        raise ValueError(f"{where}: image arrays must be (height, width, 3) RGB or "
                         f"(height, width) grey, got shape {image.shape}")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"{where}: OpenCV could not JPEG-encode the image {image.shape}")
    return pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=data.tobytes())


def fitted_lossless(frames: Iterable, info) -> Iterator[tuple[float, bytes]]:
    """(timestamp_s, image) pairs -> (timestamp_s, PNG bytes) of the image as the server's
    bundle reads it (ModelInfo `info`): fitted to the encoder's (input_size, input_size)
    input, or for a landmark bundle as it is (its landmarker reads whole frames). The server
    then sees exactly the frames the in-process pipeline would; an encoder's frame costs the
    wire a few kB however large the source video is. The CLI and the GStreamer element send
    frames this way, so they give the same events as every other entry point."""
    from framescribe.models.video import check_frame, fit_frame

    landmarks = info.gesture_input == "landmarks"
    for timestamp, image in frames:
        if isinstance(image, np.ndarray) and (landmarks or info.input_size > 0):
            fitted = check_frame(image) if landmarks else fit_frame(image, info.input_size)
            ok, data = cv2.imencode(".png", cv2.cvtColor(fitted, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
            if not ok:
                raise ValueError(f"OpenCV could not PNG-encode a frame {fitted.shape}")
            image = data.tobytes()
        yield timestamp, image


def extracted_landmarks(frames: Iterable, kind: str) -> Iterator[tuple[float, np.ndarray]]:
    """(timestamp_s, image) pairs -> (timestamp_s, (543, 3) float32 landmarks) by the models'
    one landmark stage with MediaPipe's `kind` landmarker (ModelInfo.landmark_kind), here on
    this machine: sent instead of the images, no pixels leave it. Needs the model side's
    MediaPipe (the error says how to get it)."""
    from framescribe.models.inference.landmark_stage import LandmarkStage

    with LandmarkStage(kind) as stage:
        for timestamp, image in frames:
            yield timestamp, stage.landmarks([timestamp], [image])[0]


def _is_landmarks(payload) -> bool:
    return isinstance(payload, np.ndarray) and payload.dtype.kind == "f" \
        and payload.shape == (ISLR_LANDMARKS, 3)


def encode_frame(item, index: int, quality: int = 90) -> pb.Frame:
    """A wire Frame from a (timestamp_seconds, image) pair, or (timestamp_seconds, (543, 3)
    float landmarks) for a landmark bundle (NaN = not found); `index` names it in errors."""
    where = f"frame {index}"
    try:
        timestamp, image = item
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a (timestamp_seconds, image) pair, "
                         f"got {type(item).__name__}") from None
    if not isinstance(timestamp, int | float | np.number) or not math.isfinite(timestamp):
        raise ValueError(f"{where}: the timestamp must be a finite number of seconds, "
                         f"got {timestamp!r}")
    if _is_landmarks(image):
        return pb.Frame(timestamp_ms=round(float(timestamp) * 1000),
                        landmarks=pb.Landmarks(values=np.asarray(image, np.float32).ravel()))
    return pb.Frame(timestamp_ms=round(float(timestamp) * 1000),
                    image=encode_image(image, quality, where))


def _caption_options(config: StreamConfig) -> pb.CaptionOptions:
    return pb.CaptionOptions(segment_frames=config.segment_frames, beam_size=config.beam_size)


def _gesture_options(config: StreamConfig, streaming: bool) -> pb.GestureOptions:
    return pb.GestureOptions(min_confidence=config.min_confidence,
                             interim_results=streaming and config.interim)


def _task_enums(config: StreamConfig) -> list[int]:
    return [TASK_ENUMS[t] for t in config.tasks or ()]


def clip_request(frames: Iterable | None, video_file, config: StreamConfig,
                 quality: int = 90) -> pb.AnnotateClipRequest:
    """AnnotateClip's request from frames or a video file (path or bytes); exactly one."""
    check_config(config)
    if (frames is None) == (video_file is None):
        raise ValueError("pass either frames or video_file (exactly one)")
    request = pb.AnnotateClipRequest(tasks=_task_enums(config),
                                     caption_options=_caption_options(config),
                                     gesture_options=_gesture_options(config, streaming=False))
    if frames is not None:
        request.frames.frames.extend(encode_frame(item, i, quality)
                                     for i, item in enumerate(frames))
    elif isinstance(video_file, bytes | bytearray | memoryview):
        request.video_file = bytes(video_file)
    elif isinstance(video_file, str | os.PathLike):
        with open(video_file, "rb") as file:
            request.video_file = file.read()
    else:
        raise ValueError(f"video_file must be a path or bytes, got {type(video_file).__name__}")
    return request


def _config_request(config: StreamConfig) -> pb.StreamAnnotateRequest:
    return pb.StreamAnnotateRequest(config=pb.StreamConfig(
        tasks=_task_enums(config), caption_options=_caption_options(config),
        gesture_options=_gesture_options(config, streaming=True)))


def stream_requests(frames: Iterable, config: StreamConfig, quality: int,
                    frames_per_message: int = 1) -> Iterator[pb.StreamAnnotateRequest]:
    """The config, then one `frame` per message (frames_per_message 1) or lists of up to
    frames_per_message consecutive frames (the last one may be shorter)."""
    yield _config_request(config)
    if frames_per_message == 1:
        for index, item in enumerate(frames):
            yield pb.StreamAnnotateRequest(frame=encode_frame(item, index, quality))
        return
    iterator, index = iter(frames), 0
    while (frame_list := _next_frame_list(iterator, index, frames_per_message,
                                          quality)) is not None:
        yield pb.StreamAnnotateRequest(frames=frame_list)
        index += len(frame_list.frames)


def _encode_frame_list(items: list, index: int, quality: int) -> pb.FrameList:
    """A wire FrameList of (timestamp_s, image) pairs; the first is frame `index` in errors."""
    return pb.FrameList(frames=[encode_frame(item, index + offset, quality)
                                for offset, item in enumerate(items)])


def _next_frame_list(frames: Iterator, index: int, size: int,
                     quality: int) -> pb.FrameList | None:
    """The next up to `size` frames read and encoded, None once `frames` is exhausted. It
    waits for all `size` (a live source's next `size` frames): meant for files and backlogs."""
    items = list(itertools.islice(frames, size))
    return _encode_frame_list(items, index, quality) if items else None


_END = object()


def _next_frame(frames: Iterator, index: int, quality: int) -> pb.Frame | object:
    item = next(frames, _END)
    return _END if item is _END else encode_frame(item, index, quality)


async def async_stream_requests(frames: Iterable | AsyncIterable, config: StreamConfig,
                                quality: int, frames_per_message: int = 1
                                 ) -> AsyncIterator[pb.StreamAnnotateRequest]:
    """As stream_requests; reading a sync iterable (a camera) and JPEG encoding run on a
    worker thread, off the event loop."""
    yield _config_request(config)
    if frames_per_message > 1:
        async for frame_list in _async_frame_lists(frames, frames_per_message, quality):
            yield pb.StreamAnnotateRequest(frames=frame_list)
        return
    index = 0
    if isinstance(frames, AsyncIterable):
        async for item in frames:
            frame = await asyncio.to_thread(encode_frame, item, index, quality)
            yield pb.StreamAnnotateRequest(frame=frame)
            index += 1
        return
    iterator = iter(frames)
    while (frame := await asyncio.to_thread(_next_frame, iterator, index, quality)) is not _END:
        yield pb.StreamAnnotateRequest(frame=frame)
        index += 1


async def _async_frame_lists(frames: Iterable | AsyncIterable, size: int,
                             quality: int) -> AsyncIterator[pb.FrameList]:
    """FrameLists of up to `size` frames, each read (sync iterable) and encoded in one worker
    thread call."""
    index = 0
    if isinstance(frames, AsyncIterable):
        async for items in _async_groups(frames, size):
            yield await asyncio.to_thread(_encode_frame_list, items, index, quality)
            index += len(items)
        return
    iterator = iter(frames)
    while (frame_list := await asyncio.to_thread(_next_frame_list, iterator, index, size,
                                                 quality)) is not None:
        yield frame_list
        index += len(frame_list.frames)


async def _async_groups(items: AsyncIterable, size: int) -> AsyncIterator[list]:
    """Lists of `size` consecutive items (the last one may be shorter)."""
    group: list = []
    async for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def check_config(config) -> None:
    if not isinstance(config, StreamConfig):
        raise ValueError(f"config must be a StreamConfig, got {type(config).__name__}")


def check_frames_per_message(frames_per_message) -> None:
    if isinstance(frames_per_message, bool) or not isinstance(frames_per_message, int) or \
            not 1 <= frames_per_message <= MAX_FRAMES_PER_MESSAGE:
        raise ValueError(f"frames_per_message must be an int 1-{MAX_FRAMES_PER_MESSAGE}, got "
                         f"{frames_per_message!r}")
