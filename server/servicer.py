"""FrameScribeService: AnnotateClip, StreamAnnotate and GetModelInfo on one ServingModel.

Every failure becomes a gRPC status with a message a person can act on (see the codes in
proto/framescribe/v1/framescribe_service.proto); a bad request never affects other calls and
never sends a traceback. Unexpected errors are logged here and answered with INTERNAL.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import grpc
import numpy as np

from framescribe.models.inference.events import CaptionSegment, GestureEvent
from framescribe.models.inference.pipeline_options import SessionSettings
from framescribe.models.video import (
    FrameSampler,
    VideoError,
    fit_frame,
    fitted_chunks,
    read_video,
)
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

from .encoder_pool import fitted_frames_as_images
from .frame_decoding import FrameLimits, decode_image, decode_landmarks, frame_time_seconds
from .metrics import ServerMetrics
from .request_errors import RequestError, invalid, status_for
from .request_options import TASK_ENUMS, request_settings
from .server_options import ServerOptions
from .serving_model import ServingModel
from .stream_session import StreamSession
from .wire_events import caption_pb, gesture_pb, milliseconds, stream_response

log = logging.getLogger("framescribe.server")

CLIP_WINDOW = 64  # frames of one AnnotateClip request in the encoder queue at once
DECODE_CHUNK = 8  # frames per decode job and encoder item (a list's chunks decode in parallel)



class StreamSlots:
    """Counts active streams against max_streams (one event loop: no lock needed)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0

    def acquire(self) -> None:
        if self.active >= self.limit:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"too many streams: the server serves at most {self.limit} at "
                               "once; retry later")
        self.active += 1

    def release(self) -> None:
        self.active -= 1


class FrameScribeServicer(pb_grpc.FrameScribeServiceServicer):
    def __init__(self, model: ServingModel, limits: ServerOptions, metrics: ServerMetrics):
        """limits: the server's options (the limits a call is held to)."""
        self.model = model
        self.pipeline = model.pipeline
        self.limits = limits
        self.metrics = metrics
        self.streams = StreamSlots(limits.max_streams)
        self.frame_limits = FrameLimits(max_pixels_per_frame=limits.max_pixels_per_frame)
        self.draining = False
        self.requires_token = False  # set by the app when a bearer token is configured
        manifest = self.pipeline.manifest
        self.tasks = tuple(t for t, present in (("captions", manifest.caption_decoder),
                                                ("gestures", manifest.gesture_classifier))
                           if present is not None)

    # -- GetModelInfo ----------------------------------------------------------------------
    async def GetModelInfo(self, request, context):
        return await self._unary("GetModelInfo", context, self._model_info())

    async def _model_info(self) -> pb.GetModelInfoResponse:
        manifest, limits = self.pipeline.manifest, self.limits
        return pb.GetModelInfoResponse(
            bundle_name=manifest.name, bundle_version=manifest.version,
            backbone=manifest.backbone, input_size=manifest.input_size,
            frame_rate=manifest.frame_rate, gesture_labels=list(self.pipeline.labels or ()),
            vocabulary_size=len(self.pipeline.vocabulary) if self.pipeline.vocabulary else 0,
            runtime=self.pipeline.runtime.name, tasks=[TASK_ENUMS[t] for t in self.tasks],
            gesture_input=(pb.GESTURE_INPUT_LANDMARKS if self.pipeline.reads_landmarks
                           else pb.GESTURE_INPUT_IMAGES),
            caption_segment_frames=manifest.caption_segment_frames,
            max_message_bytes=limits.max_message_bytes,
            max_pixels_per_frame=limits.max_pixels_per_frame,
            max_frames_per_clip=limits.max_frames_per_clip,
            max_clip_bytes=limits.max_clip_bytes, max_streams=limits.max_streams,
            max_frames_per_message=limits.max_frames_per_message,
            max_concurrent_clips=limits.max_concurrent_clips,
            max_request_bytes_in_flight=limits.max_request_bytes_in_flight,
            max_stream_duration_s=limits.max_stream_duration_s,
            min_stream_frame_rate=limits.min_stream_frame_rate,
            idle_timeout_s=limits.idle_timeout_s,
            max_queued_responses=limits.max_queued_responses,
            max_pending_captions=limits.max_pending_captions,
            clip_decode_timeout_s=limits.clip_decode_timeout_s)

    # -- AnnotateClip ----------------------------------------------------------------------
    async def AnnotateClip(self, request, context):
        return await self._unary("AnnotateClip", context, self._annotate_clip(request))

    async def _annotate_clip(self, request) -> pb.AnnotateClipResponse:
        """The clip's frames through one StreamSession (the streaming core, as a stream would
        run them), its events collected into one response."""
        self._refuse_while_draining()
        settings = self._settings(request.tasks, request.caption_options,
                                  request.gesture_options)
        kind = request.WhichOneof("clip")
        if kind == "video_file":
            times, features = await self._video_file_features(request.video_file)
        elif kind == "frames":
            times, features = await self._frame_list_features(request.frames.frames)
        else:
            raise invalid("the request has no clip: set `frames` or `video_file`")
        events: list = []
        session = StreamSession(self.model, settings, events.append)
        try:
            for start in range(0, len(times), CLIP_WINDOW):
                await session.push(times[start:start + CLIP_WINDOW],
                                   _ready(features[start:start + CLIP_WINDOW]))
            await session.finish()
        finally:
            await session.cancel()
        return pb.AnnotateClipResponse(
            frames_used=len(times),
            duration_ms=milliseconds(times[-1] - times[0] + settings.period),
            captions=[caption_pb(e) for e in events if isinstance(e, CaptionSegment)],
            gestures=[gesture_pb(e) for e in events if isinstance(e, GestureEvent)])

    async def _frame_list_features(self, frames) -> tuple[np.ndarray, np.ndarray]:
        if not frames:
            raise invalid("the clip has no frames")
        if len(frames) > self.limits.max_frames_per_clip:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"the clip has {len(frames)} frames; the limit is "
                               f"{self.limits.max_frames_per_clip} (send a stream instead)")
        sampler = FrameSampler(self.pipeline.manifest.frame_rate)
        kept = []
        for i, frame in enumerate(frames):
            t = frame_time_seconds(frame, f"frame {i}")
            try:
                if sampler.accept(t):
                    kept.append((t, i, frame))
            except VideoError as error:
                raise invalid(f"frame {i}: {error}") from None
        features = await _in_windows([(f, i) for _, i, f in kept], self._frames_features)
        return np.array([t for t, _, _ in kept]), features

    async def _video_file_features(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        if not data:
            raise invalid("video_file is empty")
        if len(data) > self.limits.max_clip_bytes:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"video_file has {len(data)} bytes; the limit is "
                               f"{self.limits.max_clip_bytes}")
        if self.pipeline.reads_landmarks:  # before decoding a video nobody can use
            raise invalid("this bundle's gestures read hand landmarks (Frame.landmarks), "
                           "not video")
        times, frames = await self.model.run_on_decode_pool(self._read_video_bytes, data)
        return times, await _in_windows(frames, self._encode_fitted)

    def _read_video_bytes(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Decode pool: video bytes -> (times (n,), fitted frames (n, size, size, 3)), sampled
        to the model rate."""
        size = self.pipeline.manifest.input_size
        with tempfile.NamedTemporaryFile(suffix=".video") as file:
            file.write(data)
            file.flush()
            try:
                chunks = list(fitted_chunks(read_video(file.name),
                                            self.pipeline.manifest.frame_rate, size, CLIP_WINDOW))
            except VideoError as error:
                raise invalid(f"video_file: {str(error).replace(file.name, 'the video')}"
                               ) from None
        if not chunks:
            raise invalid("video_file has no frames OpenCV can read")
        return np.concatenate([t for t, _ in chunks]), np.concatenate([f for _, f in chunks])

    # -- StreamAnnotate --------------------------------------------------------------------
    async def StreamAnnotate(self, request_iterator, context) -> AsyncIterator:
        with self.metrics.track_request("StreamAnnotate"):
            async for response in self._stream(request_iterator, context):
                yield response

    async def _stream(self, request_iterator, context) -> AsyncIterator:
        session = reader = None
        acquired = False
        try:
            self._refuse_while_draining()
            self.streams.acquire()
            acquired = True
            self.metrics.active_streams.set(self.streams.active)
            requests = aiter(request_iterator)
            config = await self._next_request(requests, first=True)
            if config is None or config.WhichOneof("request") != "config":
                raise invalid("the first message of a stream must be a StreamConfig "
                               "(request.config), then frames")
            out: asyncio.Queue = asyncio.Queue()
            session = StreamSession(self.model, self._stream_settings(config.config),
                                    out.put_nowait, self.metrics.frame_latency.observe)
            reader = asyncio.get_running_loop().create_task(
                self._read_stream(requests, session, out))
            while (item := await out.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield stream_response(item)
        except Exception as error:  # noqa: BLE001 - every failure becomes a status
            await self._abort(context, "StreamAnnotate", error)
        finally:
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            if session is not None:
                await session.cancel()
            if acquired:
                self.streams.release()
                self.metrics.active_streams.set(self.streams.active)

    async def _read_stream(self, requests, session: StreamSession, out: asyncio.Queue) -> None:
        """Reads frames (one per message, or FrameLists) until the client half-closes, then
        finishes the session."""
        try:
            sampler = FrameSampler(self.pipeline.manifest.frame_rate)
            last = None
            index = 0  # frames so far, for error messages
            message = 2  # the position of the next message in the stream (the config was 1)
            while (request := await self._next_request(requests)) is not None:
                frames = self._stream_frames(request, message)
                kept, times = [], []
                for frame in frames:
                    t = frame_time_seconds(frame, f"frame {index}")
                    if last is not None and t <= last:
                        raise invalid(f"frame {index}: timestamp_ms {frame.timestamp_ms} is "
                                       f"not after the previous frame's {round(last * 1000)}; "
                                       "stream timestamps must strictly increase")
                    last = t
                    if sampler.accept(t):
                        kept.append((frame, index))
                        times.append(t)
                    index += 1
                if kept:
                    await session.push(times, self._frames_features(kept, streaming=True),
                                       grouped=request.WhichOneof("request") == "frames")
                message += 1
            await session.finish()
            out.put_nowait(_END)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - handed to the responding side
            out.put_nowait(error)

    def _stream_frames(self, request, message: int) -> Sequence:
        """The frames of one stream message after the config: one Frame or a FrameList."""
        kind = request.WhichOneof("request")
        if kind == "frame":
            return (request.frame,)
        if kind == "frames":
            frames = request.frames.frames
            if not 1 <= len(frames) <= self.limits.max_frames_per_message:
                raise invalid(f"message {message}: a FrameList in a stream carries 1-"
                               f"{self.limits.max_frames_per_message} frames "
                               f"(max_frames_per_message), got {len(frames)}")
            return frames
        raise invalid(f"message {message}: only the first message may be a StreamConfig; "
                       "send frames (Frame or FrameList) after it")

    async def _next_request(self, requests, first: bool = False):
        """The next message, None at the end; an idle client is closed after the timeout."""
        try:
            return await asyncio.wait_for(anext(requests), self.limits.idle_timeout_s)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            what = "the StreamConfig" if first else "a frame"
            raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED,
                               f"no message for {self.limits.idle_timeout_s:g} s while waiting "
                               f"for {what}: idle streams are closed") from None

    def _stream_settings(self, config) -> SessionSettings:
        settings = self._settings(config.tasks, config.caption_options, config.gesture_options)
        return replace(settings, interim=config.gesture_options.interim_results)

    def _settings(self, tasks, caption_options, gesture_options) -> SessionSettings:
        return request_settings(self.pipeline.manifest, self.tasks, tasks, caption_options,
                                gesture_options)

    # -- frames ----------------------------------------------------------------------------
    async def _frames_features(self, frames: Sequence[tuple[object, int]],
                               streaming: bool = False) -> np.ndarray:
        """(n, D) features of (Frame, index) pairs: images decoded and resized on the decode
        pool (DECODE_CHUNK frames per job), then encoded by the shared encoder batcher; or
        landmark features for landmark bundles. Streams wait for room in a full encoder
        queue (backpressure); clips get RESOURCE_EXHAUSTED."""
        if self.pipeline.reads_landmarks:
            landmarks = np.stack([self._landmarks(frame, index) for frame, index in frames])
            return self.pipeline.landmark_features(landmarks)
        for frame, index in frames:
            if frame.WhichOneof("content") != "image":
                raise invalid(f"frame {index}: this bundle reads images; set Frame.image")
        if self.model.encodes_images:  # the encoder workers decode them
            items = [[(frame.image, index) for frame, index in chunk]
                     for chunk in _chunks(frames, DECODE_CHUNK)]
        else:
            items = await asyncio.gather(*(
                self.model.decode_frames(len(chunk), self._decode_and_fit, chunk)
                for chunk in _chunks(frames, DECODE_CHUNK)))
        return np.concatenate(await self.model.encoder.submit_many(items, wait=streaming))

    async def _encode_fitted(self, frames: np.ndarray) -> np.ndarray:
        """Fitted frames (n, size, size, 3) -> (n, D) features, DECODE_CHUNK frames per
        encoder item."""
        if self.model.encodes_images:
            numbered = list(zip(fitted_frames_as_images(frames), range(len(frames)),
                                strict=True))
            items = _chunks(numbered, DECODE_CHUNK)
        else:
            items = _chunks(frames, DECODE_CHUNK)
        return np.concatenate(await self.model.encoder.submit_many(items))

    def _landmarks(self, frame, index: int) -> np.ndarray:
        """One frame's (543, 3) landmarks, or INVALID_ARGUMENT when it carries an image."""
        if frame.WhichOneof("content") != "landmarks":
            raise invalid(f"frame {index}: this bundle's gestures read hand landmarks "
                           "(Frame.landmarks, see GetModelInfo.gesture_input), not images")
        return decode_landmarks(frame.landmarks, f"frame {index}")

    def _decode_and_fit(self, frames: Sequence[tuple[object, int]]) -> np.ndarray:
        """Decode pool: (Frame, index) pairs -> fitted uint8 images (n, size, size, 3)."""
        size = self.pipeline.manifest.input_size
        return np.stack([fit_frame(decode_image(frame.image, self.frame_limits,
                                                f"frame {index}"), size)
                         for frame, index in frames])

    def _refuse_while_draining(self) -> None:
        if self.draining:
            raise RequestError(grpc.StatusCode.UNAVAILABLE,
                               "the server is shutting down; retry on another instance")

    # -- errors and metrics ----------------------------------------------------------------
    async def _unary(self, method: str, context, work):
        with self.metrics.track_request(method):
            try:
                return await work
            except Exception as error:  # noqa: BLE001 - every failure becomes a status
                await self._abort(context, method, error)

    async def _abort(self, context, method: str, error: Exception) -> None:
        code, message = status_for(error)
        if code == grpc.StatusCode.INTERNAL:
            log.exception("%s failed", method, exc_info=error)
        self.metrics.record_error(method, code)
        await context.abort(code, message)


_END = object()  # end of a stream's results


def _chunks(items: Sequence, size: int) -> list:
    """items in consecutive slices of `size` (the last may be shorter)."""
    return [items[start:start + size] for start in range(0, len(items), size)]


async def _ready(value):
    """An awaitable of a value already computed (StreamSession.push takes awaitables)."""
    return value


async def _in_windows(items: Sequence, features_of) -> np.ndarray:
    """Features of a clip's items, CLIP_WINDOW at a time so one request cannot flood the
    encoder queue: features_of(items) -> awaitable (len(items), D) -> stacked (n, D)."""
    return np.concatenate([await features_of(window)
                           for window in _chunks(items, CLIP_WINDOW)])
