"""Client SDK for FrameScribeService: typed results, retries, sync and asyncio clients.

    with Client("localhost:50051") as client:
        print(client.model_info().gesture_labels)
        result = client.annotate_clip(video_file="talk.mp4")
        for event in client.stream(open_source("0"), StreamConfig(interim=True)):
            print(event)  # Caption | Gesture | InterimGesture, as each is ready

A file or a backlog (frames ready faster than real time) streams cheaper in lists:
`client.stream(video, frames_per_message=16)`; live sources keep the default 1.
`AsyncClient` has the same constructor and methods, awaited (`async for` for streams). Frames are
`(timestamp_seconds, image)` pairs; an image is a uint8 numpy array (h, w, 3) RGB or (h, w) grey,
JPEG-encoded here, or the bytes of a JPEG or PNG file. Every gRPC failure is raised as
FramescribeError with the status code kept. Needs no TensorFlow.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import cv2
import grpc
import grpc.aio
import numpy as np

from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

MIB = 1024 * 1024
TASKS = ("captions", "gestures")
_TASK_ENUMS = {"captions": pb.TASK_CAPTIONS, "gestures": pb.TASK_GESTURES}
_TASK_NAMES = {value: name for name, value in _TASK_ENUMS.items()}
_GESTURE_INPUTS = {pb.GESTURE_INPUT_IMAGES: "images", pb.GESTURE_INPUT_LANDMARKS: "landmarks"}
_MAGIC = ((b"\xff\xd8\xff", pb.IMAGE_FORMAT_JPEG), (b"\x89PNG\r\n\x1a\n", pb.IMAGE_FORMAT_PNG))
# The most frames_per_message a stream accepts here; the server's own limit
# (ModelInfo.max_frames_per_message, 64 by default) may be lower: INVALID_ARGUMENT above it.
MAX_FRAMES_PER_MESSAGE = 256


# -- typed results -------------------------------------------------------------------------
@dataclass(frozen=True)
class Caption:
    """A caption for one segment of frames; times in seconds."""

    start: float
    end: float
    text: str
    log_prob: float  # natural log of the caption's probability (0 or less)


@dataclass(frozen=True)
class Gesture:
    """A final gesture event; times in seconds, confidence 0-1."""

    label: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class InterimGesture:
    """The top label at one sampled frame of a stream; label None while idle."""

    timestamp: float  # seconds
    label: str | None
    confidence: float  # 0-1


Event = Caption | Gesture | InterimGesture


@dataclass(frozen=True)
class ClipResult:
    """Everything AnnotateClip found in one clip."""

    captions: tuple[Caption, ...]
    gestures: tuple[Gesture, ...]
    frames_used: int  # after sampling to the model's frame rate
    duration: float  # seconds covered


@dataclass(frozen=True)
class ModelInfo:
    """What the server has loaded, and the limits it enforces."""

    bundle_name: str
    bundle_version: str
    backbone: str
    input_size: int  # pixels per side of the encoder's input; 0 without an image encoder
    frame_rate: float  # frames per second the models sample to
    gesture_labels: tuple[str, ...]
    vocabulary_size: int  # caption words, special tokens included
    runtime: str  # "tf" or "litert"
    tasks: tuple[str, ...]  # of TASKS
    gesture_input: str  # "images" or "landmarks"
    caption_segment_frames: int  # default frames per caption segment
    max_message_bytes: int
    max_pixels_per_frame: int  # width * height
    max_frames_per_clip: int
    max_clip_bytes: int  # encoded video file
    max_streams: int  # streams served at once
    max_frames_per_message: int  # frames in one stream message (FrameList); 0: older server


@dataclass(frozen=True)
class StreamConfig:
    """What to compute. Zero values mean the server's defaults; `interim` applies to streams."""

    tasks: tuple[str, ...] | None = None  # None: every task the bundle supports
    segment_frames: int = 0  # frames per caption segment: 0 or 2-1024
    beam_size: int = 0  # caption beam width: 0 or 1-16 (1 = greedy)
    min_confidence: float = 0.0  # of a final gesture event, 0-1 (0 = the bundle's value)
    interim: bool = False  # streams: an InterimGesture for every sampled frame

    def __post_init__(self) -> None:
        if self.tasks is not None:
            tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
            unknown = [t for t in tasks if t not in TASKS]
            if not tasks or unknown:
                raise ValueError(f"tasks must be a non-empty subset of {TASKS} or None, "
                                 f"got {self.tasks!r}")
            object.__setattr__(self, "tasks", tuple(dict.fromkeys(tasks)))
        if self.segment_frames != 0 and not 2 <= self.segment_frames <= 1024:
            raise ValueError(f"segment_frames must be 0 or 2-1024, got {self.segment_frames}")
        if not 0 <= self.beam_size <= 16:
            raise ValueError(f"beam_size must be 0-16, got {self.beam_size}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be 0-1, got {self.min_confidence}")


class FramescribeError(Exception):
    """A failed call: the gRPC status `code` and the server's `details`."""

    def __init__(self, code: grpc.StatusCode, details: str):
        self.code = code
        self.details = " ".join(details.split())
        super().__init__(f"{code.name}: {self.details}")


# -- requests (shared by both clients) -------------------------------------------------------
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


def encode_frame(item, index: int, quality: int = 90) -> pb.Frame:
    """A wire Frame from a (timestamp_seconds, image) pair; `index` names it in errors."""
    where = f"frame {index}"
    try:
        timestamp, image = item
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a (timestamp_seconds, image) pair, "
                         f"got {type(item).__name__}") from None
    if not isinstance(timestamp, int | float | np.number) or not math.isfinite(timestamp):
        raise ValueError(f"{where}: the timestamp must be a finite number of seconds, "
                         f"got {timestamp!r}")
    return pb.Frame(timestamp_ms=round(float(timestamp) * 1000),
                    image=encode_image(image, quality, where))


def _caption_options(config: StreamConfig) -> pb.CaptionOptions:
    return pb.CaptionOptions(segment_frames=config.segment_frames, beam_size=config.beam_size)


def _gesture_options(config: StreamConfig, streaming: bool) -> pb.GestureOptions:
    return pb.GestureOptions(min_confidence=config.min_confidence,
                             interim_results=streaming and config.interim)


def _task_enums(config: StreamConfig) -> list[int]:
    return [_TASK_ENUMS[t] for t in config.tasks or ()]


def _clip_request(frames: Iterable | None, video_file, config: StreamConfig,
                  quality: int = 90) -> pb.AnnotateClipRequest:
    """AnnotateClip's request from frames or a video file (path or bytes); exactly one."""
    _check_config(config)
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


def _stream_requests(frames: Iterable, config: StreamConfig, quality: int,
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


async def _async_stream_requests(frames: Iterable | AsyncIterable, config: StreamConfig,
                                 quality: int, frames_per_message: int = 1
                                 ) -> AsyncIterator[pb.StreamAnnotateRequest]:
    """As _stream_requests; reading a sync iterable (a camera) and JPEG encoding run on a
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


def _check_config(config) -> None:
    if not isinstance(config, StreamConfig):
        raise ValueError(f"config must be a StreamConfig, got {type(config).__name__}")


def _check_frames_per_message(frames_per_message) -> None:
    if isinstance(frames_per_message, bool) or not isinstance(frames_per_message, int) or \
            not 1 <= frames_per_message <= MAX_FRAMES_PER_MESSAGE:
        raise ValueError(f"frames_per_message must be an int 1-{MAX_FRAMES_PER_MESSAGE}, got "
                         f"{frames_per_message!r}")


class _RequestPump:
    """Feeds a stream's requests to gRPC; an exception raised while producing them (a bad
    frame) cancels the call and is re-raised to the reader instead of being lost in gRPC."""

    def __init__(self, requests: Iterable | AsyncIterable):
        self._requests = requests
        self._call = None
        self.error: Exception | None = None

    def __iter__(self) -> Iterator:
        try:
            yield from self._requests
        except Exception as error:  # noqa: BLE001 - handed to the reading side
            self._fail(error)

    async def __aiter__(self) -> AsyncIterator:
        try:
            async for request in self._requests:
                yield request
        except Exception as error:  # noqa: BLE001 - handed to the reading side
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        self.error = error
        if self._call is not None:
            self._call.cancel()

    def attach(self, call) -> None:
        self._call = call
        if self.error is not None:
            call.cancel()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


# -- responses -------------------------------------------------------------------------------
def _seconds(ms: int) -> float:
    return ms / 1000.0


def _caption(c: pb.CaptionSegment) -> Caption:
    return Caption(_seconds(c.start_ms), _seconds(c.end_ms), c.text, c.log_prob)


def _gesture(g: pb.GestureEvent) -> Gesture:
    return Gesture(g.label, _seconds(g.start_ms), _seconds(g.end_ms), g.confidence)


def _interim(i: pb.InterimGesture) -> InterimGesture:
    return InterimGesture(_seconds(i.timestamp_ms), i.label or None, i.confidence)


def _stream_events(response: pb.StreamAnnotateResponse) -> list[Event]:
    """The typed events of one StreamAnnotate response, in order: one, several (the interim
    labels of a FrameList) or none (an event kind newer than this client)."""
    kind = response.WhichOneof("event")
    if kind == "caption":
        return [_caption(response.caption)]
    if kind == "gesture":
        return [_gesture(response.gesture)]
    if kind == "interim_gesture":
        return [_interim(response.interim_gesture)]
    if kind == "interim_gestures":
        return [_interim(i) for i in response.interim_gestures.labels]
    return []


def _clip_result(response: pb.AnnotateClipResponse) -> ClipResult:
    return ClipResult(captions=tuple(map(_caption, response.captions)),
                      gestures=tuple(map(_gesture, response.gestures)),
                      frames_used=response.frames_used,
                      duration=_seconds(response.duration_ms))


def _model_info(response: pb.GetModelInfoResponse) -> ModelInfo:
    r = response
    return ModelInfo(
        bundle_name=r.bundle_name, bundle_version=r.bundle_version, backbone=r.backbone,
        input_size=r.input_size, frame_rate=r.frame_rate, gesture_labels=tuple(r.gesture_labels),
        vocabulary_size=r.vocabulary_size, runtime=r.runtime,
        tasks=tuple(_TASK_NAMES[t] for t in r.tasks if t in _TASK_NAMES),
        gesture_input=_GESTURE_INPUTS.get(r.gesture_input, "images"),
        caption_segment_frames=r.caption_segment_frames, max_message_bytes=r.max_message_bytes,
        max_pixels_per_frame=r.max_pixels_per_frame, max_frames_per_clip=r.max_frames_per_clip,
        max_clip_bytes=r.max_clip_bytes, max_streams=r.max_streams,
        max_frames_per_message=r.max_frames_per_message)


# -- connection settings (shared by both clients) --------------------------------------------
@dataclass(frozen=True)
class _Connection:
    """A client's validated constructor arguments and what follows from them."""

    target: str
    tls: bool | str | os.PathLike | None
    token: str | None
    timeout: float | None  # seconds per unary attempt
    retries: int
    jpeg_quality: int
    max_message_bytes: int
    retry_delay: float  # seconds before the first retry; doubles after each
    max_retry_delay: float  # seconds

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not self.target.strip():
            raise ValueError(f"target must be 'host:port', got {self.target!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds or None, got {self.timeout}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1-100, got {self.jpeg_quality}")
        if self.max_message_bytes < 1024:
            raise ValueError(f"max_message_bytes must be >= 1024, got {self.max_message_bytes}")
        if self.retry_delay < 0 or self.max_retry_delay < 0:
            raise ValueError("retry delays must be >= 0 seconds")
        if self.token is not None and not self.token.strip():
            raise ValueError("token must not be empty (use None for no token)")

    def open_channel(self, module):
        """A channel from `module` (grpc or grpc.aio), TLS when asked."""
        options = [("grpc.max_send_message_length", self.max_message_bytes),
                   ("grpc.max_receive_message_length", self.max_message_bytes)]
        if self.tls is None or self.tls is False:
            return module.insecure_channel(self.target, options=options)
        roots = None
        if self.tls is not True:
            with open(self.tls, "rb") as file:
                roots = file.read()
        credentials = grpc.ssl_channel_credentials(root_certificates=roots)
        return module.secure_channel(self.target, credentials, options=options)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def retry_after(self, error: grpc.RpcError, attempt: int) -> float | None:
        """Seconds to wait before retrying a failed unary attempt (0-based), None to give up:
        UNAVAILABLE only, exponential backoff from retry_delay with jitter, capped."""
        if error.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries:
            return None
        return min(self.max_retry_delay, self.retry_delay * 2 ** attempt) * random.uniform(0.5, 1)

    def error(self, error: grpc.RpcError, attempts: int = 1) -> FramescribeError:
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.UNAVAILABLE:
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            details = f"{self.target} is unavailable{tries}: {details}"
        return FramescribeError(code, details)


class _ClientBase:
    """Constructor of both clients. tls: None/False plaintext, True system roots, or a PEM
    root certificate file; token: sent as `authorization: Bearer <token>`; timeout: seconds
    per unary attempt (None: none); retries: of UNAVAILABLE unary calls, waiting retry_delay
    seconds doubling up to max_retry_delay (with jitter); jpeg_quality: 1-100 for numpy
    frames; max_message_bytes: both ways."""

    _module = grpc

    def __init__(self, target: str, *, tls: bool | str | os.PathLike | None = None,
                 token: str | None = None, timeout: float | None = 30.0, retries: int = 3,
                 jpeg_quality: int = 90, max_message_bytes: int = 32 * MIB,
                 retry_delay: float = 0.2, max_retry_delay: float = 5.0):
        self._connection = _Connection(target, tls, token, timeout, retries, jpeg_quality,
                                       max_message_bytes, retry_delay, max_retry_delay)
        self._channel = self._connection.open_channel(self._module)
        self._stub = pb_grpc.FrameScribeServiceStub(self._channel)
        self.closed = False

    @property
    def target(self) -> str:
        return self._connection.target

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"the client of {self.target} is closed")

    def _unary_args(self) -> dict:
        return {"timeout": self._connection.timeout, "metadata": self._connection.metadata}


class Client(_ClientBase):
    """A blocking client of one server. Thread-safe; close it (or use `with`)."""

    def model_info(self) -> ModelInfo:
        return _model_info(self._unary(self._stub.GetModelInfo, pb.GetModelInfoRequest()))

    def annotate_clip(self, frames: Iterable | None = None, *,
                      video_file: str | os.PathLike | bytes | None = None,
                      config: StreamConfig = StreamConfig()) -> ClipResult:
        """Captions and gestures of one whole clip: frames ((timestamp_s, image) pairs) or an
        encoded video file (a path or its bytes)."""
        request = _clip_request(frames, video_file, config, self._connection.jpeg_quality)
        return _clip_result(self._unary(self._stub.AnnotateClip, request))

    def stream(self, frames: Iterable, config: StreamConfig = StreamConfig(), *,
               timeout: float | None = None, frames_per_message: int = 1) -> Iterator[Event]:
        """Events as they arrive while `frames` are sent from gRPC's sending thread; `timeout`
        (seconds) limits the whole stream. Stopping the iteration cancels the stream.

        frames_per_message (1-256, at most the server's max_frames_per_message): send lists of
        that many consecutive frames, each list waiting until all its frames are read: for
        files and backlogs, where it saves the ~50 µs each message costs both sides; keep 1
        (the default) for a live source."""
        _check_config(config)
        _check_frames_per_message(frames_per_message)
        self._check_open()
        return self._events(frames, config, timeout, frames_per_message)

    def _events(self, frames, config, timeout, frames_per_message) -> Iterator[Event]:
        pump = _RequestPump(_stream_requests(frames, config, self._connection.jpeg_quality,
                                             frames_per_message))
        call = self._stub.StreamAnnotate(iter(pump), timeout=timeout,
                                         metadata=self._connection.metadata)
        pump.attach(call)
        try:
            for response in call:
                yield from _stream_events(response)
        except grpc.RpcError as error:
            pump.raise_error()
            raise self._connection.error(error) from None
        finally:
            call.cancel()
        pump.raise_error()

    def _unary(self, method, request):
        self._check_open()
        attempt = 0
        while True:
            try:
                return method(request, **self._unary_args())
            except grpc.RpcError as error:
                delay = self._connection.retry_after(error, attempt)
                if delay is None:
                    raise self._connection.error(error, attempt + 1) from None
            time.sleep(delay)
            attempt += 1

    def close(self) -> None:
        self.closed = True
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncClient(_ClientBase):
    """An asyncio client of one server (grpc.aio); create it inside the loop that uses it."""

    _module = grpc.aio

    async def model_info(self) -> ModelInfo:
        return _model_info(await self._unary(self._stub.GetModelInfo, pb.GetModelInfoRequest()))

    async def annotate_clip(self, frames: Iterable | AsyncIterable | None = None, *,
                            video_file: str | os.PathLike | bytes | None = None,
                            config: StreamConfig = StreamConfig()) -> ClipResult:
        """As Client.annotate_clip; encoding runs on a worker thread."""
        if isinstance(frames, AsyncIterable):
            frames = [item async for item in frames]
        request = await asyncio.to_thread(_clip_request, frames, video_file, config,
                                          self._connection.jpeg_quality)
        return _clip_result(await self._unary(self._stub.AnnotateClip, request))

    def stream(self, frames: Iterable | AsyncIterable, config: StreamConfig = StreamConfig(),
               *, timeout: float | None = None,
               frames_per_message: int = 1) -> AsyncIterator[Event]:
        """As Client.stream, for `async for`; frames may be an iterable or async iterable.
        With frames_per_message > 1 one worker-thread call reads and encodes each list."""
        _check_config(config)
        _check_frames_per_message(frames_per_message)
        self._check_open()
        return self._events(frames, config, timeout, frames_per_message)

    async def _events(self, frames, config, timeout,
                      frames_per_message) -> AsyncIterator[Event]:
        pump = _RequestPump(_async_stream_requests(frames, config,
                                                   self._connection.jpeg_quality,
                                                   frames_per_message))
        call = self._stub.StreamAnnotate(aiter(pump), timeout=timeout,
                                         metadata=self._connection.metadata)
        pump.attach(call)
        try:
            async for response in call:
                for event in _stream_events(response):
                    yield event
        except (grpc.RpcError, asyncio.CancelledError) as error:
            pump.raise_error()
            if isinstance(error, asyncio.CancelledError):
                raise
            raise self._connection.error(error) from None
        finally:
            call.cancel()
        pump.raise_error()

    async def _unary(self, method, request):
        self._check_open()
        attempt = 0
        while True:
            try:
                return await method(request, **self._unary_args())
            except grpc.RpcError as error:
                delay = self._connection.retry_after(error, attempt)
                if delay is None:
                    raise self._connection.error(error, attempt + 1) from None
            await asyncio.sleep(delay)
            attempt += 1

    async def close(self) -> None:
        self.closed = True
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
