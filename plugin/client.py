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

The clients are here; requests are built in client_requests.py, responses read in
client_responses.py, the connection (channel, retries, errors) is client_connection.py, and
the options and result types are client_types.py (all re-exported here).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import grpc
import grpc.aio

from framescribe.models.inference.events import CaptionSegment, Event, GestureEvent, InterimGesture
from framescribe.plugin.client_connection import Connection, RequestPump
from framescribe.plugin.client_requests import (
    async_stream_requests,
    check_config,
    check_frames_per_message,
    clip_request,
    encode_image,
    stream_requests,
)
from framescribe.plugin.client_responses import (
    parse_clip_result,
    parse_model_info,
    parse_stream_events,
)
from framescribe.plugin.client_types import (
    MIB,
    ClipResult,
    FramescribeError,
    ModelInfo,
    StreamConfig,
)
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

__all__ = [
    "AsyncClient",
    "Caption",
    "Client",
    "ClipResult",
    "FramescribeError",
    "Gesture",
    "InterimGesture",
    "ModelInfo",
    "StreamConfig",
    "encode_image",
]


# -- typed results -------------------------------------------------------------------------
# The event types are the model side's own (one definition, no TensorFlow behind them):
# Caption, Gesture and InterimGesture are those classes under the SDK's names.
Caption = CaptionSegment
Gesture = GestureEvent


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
        self._connection = Connection(target, tls, token, timeout, retries, jpeg_quality,
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
        return parse_model_info(self._unary(self._stub.GetModelInfo, pb.GetModelInfoRequest()))

    def annotate_clip(self, frames: Iterable | None = None, *,
                      video_file: str | os.PathLike | bytes | None = None,
                      config: StreamConfig = StreamConfig()) -> ClipResult:
        """Captions and gestures of one whole clip: frames ((timestamp_s, image) pairs) or an
        encoded video file (a path or its bytes)."""
        request = clip_request(frames, video_file, config, self._connection.jpeg_quality)
        return parse_clip_result(self._unary(self._stub.AnnotateClip, request))

    def stream(self, frames: Iterable, config: StreamConfig = StreamConfig(), *,
               timeout: float | None = None, frames_per_message: int = 1) -> Iterator[Event]:
        """Events as they arrive while `frames` are sent from gRPC's sending thread; `timeout`
        (seconds) limits the whole stream. Stopping the iteration cancels the stream.

        frames_per_message (1-256, at most the server's max_frames_per_message): send lists of
        that many consecutive frames, each list waiting until all its frames are read: for
        files and backlogs, where it saves the ~50 µs each message costs both sides; keep 1
        (the default) for a live source."""
        check_config(config)
        check_frames_per_message(frames_per_message)
        self._check_open()
        return self._events(frames, config, timeout, frames_per_message)

    def _events(self, frames, config, timeout, frames_per_message) -> Iterator[Event]:
        pump = RequestPump(stream_requests(frames, config, self._connection.jpeg_quality,
                                           frames_per_message))
        call = self._stub.StreamAnnotate(iter(pump), timeout=timeout,
                                         metadata=self._connection.metadata)
        pump.attach(call)
        try:
            for response in call:
                yield from parse_stream_events(response)
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
        response = await self._unary(self._stub.GetModelInfo, pb.GetModelInfoRequest())
        return parse_model_info(response)

    async def annotate_clip(self, frames: Iterable | AsyncIterable | None = None, *,
                            video_file: str | os.PathLike | bytes | None = None,
                            config: StreamConfig = StreamConfig()) -> ClipResult:
        """As Client.annotate_clip; encoding runs on a worker thread."""
        if isinstance(frames, AsyncIterable):
            frames = [item async for item in frames]
        request = await asyncio.to_thread(clip_request, frames, video_file, config,
                                          self._connection.jpeg_quality)
        return parse_clip_result(await self._unary(self._stub.AnnotateClip, request))

    def stream(self, frames: Iterable | AsyncIterable, config: StreamConfig = StreamConfig(),
               *, timeout: float | None = None,
               frames_per_message: int = 1) -> AsyncIterator[Event]:
        """As Client.stream, for `async for`; frames may be an iterable or async iterable.
        With frames_per_message > 1 one worker-thread call reads and encodes each list."""
        check_config(config)
        check_frames_per_message(frames_per_message)
        self._check_open()
        return self._events(frames, config, timeout, frames_per_message)

    async def _events(self, frames, config, timeout,
                      frames_per_message) -> AsyncIterator[Event]:
        pump = RequestPump(async_stream_requests(frames, config,
                                                 self._connection.jpeg_quality,
                                                 frames_per_message))
        call = self._stub.StreamAnnotate(aiter(pump), timeout=timeout,
                                         metadata=self._connection.metadata)
        pump.attach(call)
        try:
            async for response in call:
                for event in parse_stream_events(response):
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
