"""FrameScribeService: AnnotateClip, StreamAnnotate and GetModelInfo on one ServingModel.

Every failure becomes a gRPC status with a message a person can act on (see the codes in
proto/framescribe/v1/framescribe_service.proto); a bad request never affects other calls and
never sends a traceback. Unexpected errors are logged here and answered with INTERNAL.
"""

from __future__ import annotations

import asyncio
import functools
import logging
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
)
from framescribe.v1 import framescribe_service_pb2 as pb
from framescribe.v1 import framescribe_service_pb2_grpc as pb_grpc

from .admission import ClipAdmission, StreamSlots
from .call_landmarks import CallLandmarks
from .clip_decoder import ClipDecoder, ClipSpan
from .dynamic_batcher import BACKGROUND, LIVE
from .encoder_pool import WorkerFailed, fitted_frames_as_images
from .frame_decoding import FrameLimits, decode_image, frame_time_seconds
from .metrics import ServerMetrics
from .request_errors import RequestError, invalid, status_for
from .request_options import TASK_ENUMS, request_settings
from .server_options import ServerOptions
from .serving_model import ServingModel
from .stream_call import StreamCall
from .stream_session import StreamSession
from .wire_events import caption_pb, gesture_pb, milliseconds
from .wire_guard import received_request_bytes

log = logging.getLogger("framescribe.server")

CLIP_WINDOW = 64  # frames of one AnnotateClip request in the encoder queue at once
DECODE_CHUNK = 8  # frames per decode job and encoder item (a list's chunks decode in parallel)



class FrameScribeServicer(pb_grpc.FrameScribeServiceServicer):
    def __init__(self, model: ServingModel, limits: ServerOptions, metrics: ServerMetrics):
        """limits: the server's options (the limits a call is held to)."""
        self.model = model
        self.pipeline = model.pipeline
        self.limits = limits
        self.metrics = metrics
        self.streams = StreamSlots(limits.max_streams)
        self.clips = ClipAdmission(limits.max_concurrent_clips,
                                   limits.max_request_bytes_in_flight)
        self.frame_limits = FrameLimits(max_pixels_per_frame=limits.max_pixels_per_frame)
        self.draining = False
        self.requires_token = False  # set by the app when a bearer token is configured
        self.clip_decoder: ClipDecoder | None = None  # set by the app: decodes video files
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
            landmark_kind=self.pipeline.landmark_kind if self.pipeline.reads_landmarks else "",
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
        return await self._unary("AnnotateClip", context, self._admitted_clip(request, context))

    async def _admitted_clip(self, request, context) -> pb.AnnotateClipResponse:
        """The clip, if the server can take one more (ClipAdmission)."""
        self._refuse_while_draining()
        size = received_request_bytes()
        with self.clips.admit(request.ByteSize() if size is None else size):
            return await self._annotate_clip(request, context)

    async def _annotate_clip(self, request, context) -> pb.AnnotateClipResponse:
        """The clip's frames through one StreamSession (the streaming core, as a stream would
        run them), its events collected into one response. A video file's frames reach the
        session a chunk at a time, as its decode worker sends them: never stacked whole."""
        settings = self._settings(request.tasks, request.caption_options,
                                  request.gesture_options)
        kind = request.WhichOneof("clip")
        if kind not in ("video_file", "frames"):
            raise invalid("the request has no clip: set `frames` or `video_file`")
        events: list = []
        session = StreamSession(self.model, settings, events.append, priority=BACKGROUND,
                                max_pending_captions=self.limits.max_pending_captions)
        landmarks = self._call_landmarks()
        try:
            if kind == "video_file":
                span = await self._video_file_features(request.video_file, session, context)
            else:
                times, features = await self._frame_list_features(
                    request.frames.frames, functools.partial(self._frames_features,
                                                             landmarks=landmarks))
                for start in range(0, len(times), CLIP_WINDOW):
                    await session.push(times[start:start + CLIP_WINDOW],
                                       _ready(features[start:start + CLIP_WINDOW]))
                span = ClipSpan(len(times), float(times[0]), float(times[-1]))
            await session.finish()
        finally:
            await session.cancel()
            if landmarks is not None:
                await landmarks.close()
        return pb.AnnotateClipResponse(
            frames_used=span.frames,
            duration_ms=milliseconds(span.last_s - span.first_s + settings.period),
            captions=[caption_pb(e) for e in events if isinstance(e, CaptionSegment)],
            gestures=[gesture_pb(e) for e in events if isinstance(e, GestureEvent)])

    def _call_landmarks(self) -> CallLandmarks | None:
        """A landmark bundle's per-call landmark frames (None for an image bundle)."""
        if not self.pipeline.reads_landmarks:
            return None
        return CallLandmarks(self.pipeline, self.model, self.frame_limits)

    async def _frame_list_features(self, frames, features_of) -> tuple[np.ndarray, np.ndarray]:
        """A frame list's sampled times (n,) in seconds and features (n, D). Its frames are
        timed and sampled CLIP_WINDOW at a time, yielding to the event loop between windows:
        3,000 frames in one go held the loop (and every live stream on it) for 10-20 ms."""
        if not frames:
            raise invalid("the clip has no frames")
        if len(frames) > self.limits.max_frames_per_clip:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"the clip has {len(frames)} frames; the limit is "
                               f"{self.limits.max_frames_per_clip} (send a stream instead)")
        sampler = FrameSampler(self.pipeline.manifest.frame_rate)
        kept = []
        for i, frame in enumerate(frames):
            if i and i % CLIP_WINDOW == 0:
                await asyncio.sleep(0)
            t = frame_time_seconds(frame, f"frame {i}")
            try:
                if sampler.accept(t):
                    kept.append((t, i, frame))
            except VideoError as error:
                raise invalid(f"frame {i}: {error}") from None
        features = await _in_windows([(f, i) for _, i, f in kept], features_of)
        return np.array([t for t, _, _ in kept]), features

    async def _video_file_features(self, data: bytes, session: StreamSession,
                                   context) -> ClipSpan:
        """An encoded video file into `session`: checked here (bytes, bundle), then demuxed,
        decoded, sampled and fitted by a clip decode worker process (clip_decoder.py), frame
        by frame under the frame, pixel and memory limits, within min(clip_decode_timeout_s,
        the call's remaining deadline); each chunk of fitted frames is encoded and pushed as
        it arrives. A decoder that crashes or hangs fails only this call (INVALID_ARGUMENT or
        DEADLINE_EXCEEDED) and is replaced in the background. Returns the sampled frames'
        span."""
        if not data:
            raise invalid("video_file is empty")
        if len(data) > self.limits.max_clip_bytes:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"video_file has {len(data)} bytes; the limit is "
                               f"{self.limits.max_clip_bytes}")
        if self.pipeline.reads_landmarks:  # before decoding a video nobody can use
            raise invalid("this bundle's gestures read hand landmarks (Frame.landmarks), "
                           "not video")
        if self.clip_decoder is None:
            raise RequestError(grpc.StatusCode.UNAVAILABLE,
                               "this server runs no clip decode workers: send frames instead")
        limit = self.limits.clip_decode_timeout_s
        remaining = context.time_remaining()
        by_deadline = remaining is not None and remaining < limit
        limit = remaining if by_deadline else limit

        async def take(times: np.ndarray, frames: np.ndarray) -> None:
            await session.push(times, self._encode_fitted(frames))

        return await self.clip_decoder.decode(data, limit, by_deadline, take)

    # -- StreamAnnotate --------------------------------------------------------------------
    async def StreamAnnotate(self, request_iterator, context) -> AsyncIterator:
        with self.metrics.track_request("StreamAnnotate"):
            async for response in self._stream(request_iterator, context):
                yield response

    async def _stream(self, request_iterator, context) -> AsyncIterator:
        """A StreamCall in one of the stream slots."""
        acquired = False
        landmarks = self._call_landmarks()
        try:
            self._refuse_while_draining()
            self.streams.acquire()
            acquired = True
            self.metrics.active_streams.set(self.streams.active)
            call = StreamCall(self.model, self.limits, self.metrics, self._stream_settings,
                              functools.partial(self._frames_features, streaming=True,
                                                landmarks=landmarks))
            async for response in call.run(request_iterator, context):
                yield response
        except Exception as error:  # noqa: BLE001 - every failure becomes a status
            # Set, not abort(): ending the generator with the status raises nothing, so no
            # exception's traceback ties this call's frames into a cycle for the collector.
            code, message = self._failure("StreamAnnotate", error)
            context.set_code(code)
            context.set_details(message)
        finally:
            if acquired:
                self.streams.release()
                self.metrics.active_streams.set(self.streams.active)
            if landmarks is not None:
                await landmarks.close()

    def _stream_settings(self, config) -> SessionSettings:
        settings = self._settings(config.tasks, config.caption_options, config.gesture_options)
        return replace(settings, interim=config.gesture_options.interim_results)

    def _settings(self, tasks, caption_options, gesture_options) -> SessionSettings:
        return request_settings(self.pipeline.manifest, self.tasks, tasks, caption_options,
                                gesture_options)

    # -- frames ----------------------------------------------------------------------------
    async def _frames_features(self, frames: Sequence[tuple[object, int]],
                               streaming: bool = False,
                               landmarks: CallLandmarks | None = None) -> np.ndarray:
        """(n, D) features of (Frame, index) pairs: images decoded and resized on the decode
        pool (DECODE_CHUNK frames per job), then encoded by the shared encoder batcher; or,
        for a landmark bundle, the call's landmark features (`landmarks`: from the frames'
        landmarks, or extracted from their images). Streams wait for room in a full encoder
        queue (backpressure); clips get RESOURCE_EXHAUSTED."""
        if landmarks is not None:
            return await landmarks.features(frames)
        for frame, index in frames:
            if frame.WhichOneof("content") != "image":
                raise invalid(f"frame {index}: this bundle reads images; set Frame.image")
        priority = LIVE if streaming else BACKGROUND
        if self.model.encodes_images:  # the encoder workers decode them
            items = [[(frame.image, index) for frame, index in chunk]
                     for chunk in _chunks(frames, DECODE_CHUNK)]
        else:
            items = await asyncio.gather(*(
                self.model.decode_frames(len(chunk), priority, self._decode_and_fit, chunk)
                for chunk in _chunks(frames, DECODE_CHUNK)))
        return np.concatenate(await self.model.encoder.submit_many(
            items, wait=streaming, priority=priority))

    async def _encode_fitted(self, frames: np.ndarray) -> np.ndarray:
        """Fitted frames (n, size, size, 3) -> (n, D) features, DECODE_CHUNK frames per
        encoder item."""
        if self.model.encodes_images:
            numbered = list(zip(fitted_frames_as_images(frames), range(len(frames)),
                                strict=True))
            items = _chunks(numbered, DECODE_CHUNK)
        else:
            items = _chunks(frames, DECODE_CHUNK)
        return np.concatenate(await self.model.encoder.submit_many(items, priority=BACKGROUND))

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
        await context.abort(*self._failure(method, error))

    def _failure(self, method: str, error: Exception) -> tuple[grpc.StatusCode, str]:
        """The status a failed call gets; logged (INTERNAL) and counted."""
        code, message = status_for(error)
        if isinstance(error, WorkerFailed):  # the pool has logged the worker's fate
            log.error("%s failed: %s", method, error)
        elif code == grpc.StatusCode.INTERNAL:
            log.exception("%s failed", method, exc_info=error)
        self.metrics.record_error(method, code)
        return code, message


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
