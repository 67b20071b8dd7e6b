"""One StreamAnnotate call: the client's messages in, its events out, every resource bounded.

    call = StreamCall(model, limits, metrics, settings_of, features_of)
    async for response in call.run(request_iterator, context): ...

- The first message is the StreamConfig, then frames (one Frame or a FrameList per message),
  sampled to the bundle's rate and handed to a StreamSession (the streaming core) at LIVE
  priority.
- Backpressure both ways: the session holds a bounded number of frames and caption windows
  (StreamSession.push waits), and the events the client has not read yet are bounded by
  `max_queued_responses`: at that many the call stops reading the client's frames, so gRPC flow
  control slows the client instead of the server buffering; it reads again as the client reads.
- A watchdog ends a stream that holds its slot without using it: no message for
  `idle_timeout_s` while the server waits for one (DEADLINE_EXCEEDED), fewer frames than
  `min_stream_frame_rate` per second over a window of STREAM_RATE_WINDOW_S, or a stream older
  than `max_stream_duration_s` (RESOURCE_EXHAUSTED). It ends the call even when the client
  reads nothing (the status goes out in the trailers, which flow control does not hold).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import grpc

from framescribe.models.inference.pipeline_options import SessionSettings
from framescribe.models.video import FrameSampler

from .dynamic_batcher import LIVE
from .frame_decoding import frame_time_seconds
from .metrics import ServerMetrics
from .request_errors import RequestError, invalid, status_for
from .server_options import STREAM_RATE_WINDOW_S, ServerOptions
from .serving_model import ServingModel
from .stream_session import StreamSession
from .wire_events import stream_response

_END = object()  # end of a stream's results
FORCED_END_S = 1.0  # how long a broken rule waits for the responding side to end the call


class ResponseQueue:
    """The events of one stream on their way to its client. `put` never blocks (the session
    emits from callbacks); `room` is set while fewer than `limit` events wait."""

    def __init__(self, limit: int):
        self.limit = limit
        self._items: deque = deque()
        self._ready = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item) -> None:
        self._items.append(item)
        self._ready.set()
        if len(self._items) >= self.limit:
            self.room.clear()

    def fail(self, error: BaseException) -> None:
        """End the stream with `error`, ahead of the events still waiting."""
        self._items.appendleft(error)
        self._ready.set()

    async def get(self):
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if len(self._items) < self.limit:
            self.room.set()
        return item


class StreamCall:
    """Serves one StreamAnnotate call (see the module docstring)."""

    def __init__(self, model: ServingModel, limits: ServerOptions, metrics: ServerMetrics,
                 settings_of: Callable[[object], SessionSettings],
                 features_of: Callable[[Sequence[tuple[object, int]]], Awaitable]):
        """settings_of(StreamConfig) -> the session's settings; features_of((Frame, index)
        pairs) -> awaitable (n, D) features (the servicer's one frame path)."""
        self.model = model
        self.limits = limits
        self.metrics = metrics
        self._settings_of = settings_of
        self._features_of = features_of
        self.responses = ResponseQueue(limits.max_queued_responses)
        self.started = time.monotonic()
        self.frames_read = 0  # frames received so far
        self.waiting_since: float | None = None  # monotonic, while waiting for a message
        self._handler: asyncio.Task | None = None

    async def run(self, request_iterator, context) -> AsyncIterator:
        """The call's responses; failures become the call's status (via `abort`)."""
        requests = aiter(request_iterator)
        self._handler = asyncio.current_task()  # gRPC's task driving this call
        session = reader = watchdog = None
        try:
            config = await self._next_request(requests, first=True)
            if config is None or config.WhichOneof("request") != "config":
                raise invalid("the first message of a stream must be a StreamConfig "
                               "(request.config), then frames")
            session = StreamSession(self.model, self._settings_of(config.config),
                                    self.responses.put, self.metrics.frame_latency.observe,
                                    priority=LIVE,
                                    max_pending_captions=self.limits.max_pending_captions)
            loop = asyncio.get_running_loop()
            reader = loop.create_task(self._read(requests, session))
            watchdog = loop.create_task(self._watch(context, reader))
            while (item := await self.responses.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield stream_response(item)
        finally:
            for task in (reader, watchdog):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if session is not None:
                await session.cancel()

    # -- reading ---------------------------------------------------------------------------
    async def _read(self, requests, session: StreamSession) -> None:
        """Reads frames until the client half-closes, then finishes the session. Reads a
        message only while the client keeps up with the responses."""
        try:
            sampler = FrameSampler(self.model.pipeline.manifest.frame_rate)
            last = None
            index = 0  # frames so far, for error messages
            message = 2  # the position of the next message in the stream (the config was 1)
            while True:
                await self.responses.room.wait()
                request = await self._next_request(requests)
                if request is None:
                    break
                frames = self._frames(request, message)
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
                self.frames_read += len(frames)
                if kept:
                    await session.push(times, self._features_of(kept),
                                       grouped=request.WhichOneof("request") == "frames")
                message += 1
            await session.finish()
            self.responses.put(_END)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - handed to the responding side
            self.responses.fail(error)

    def _frames(self, request, message: int) -> Sequence:
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
        """The next message, None at the end. The first waits at most the idle timeout (no
        watchdog runs yet); later ones are timed by the watchdog."""
        self.waiting_since = time.monotonic()
        try:
            if first:
                return await asyncio.wait_for(anext(requests), self.limits.idle_timeout_s)
            return await anext(requests)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise self._idle("the StreamConfig") from None
        finally:
            self.waiting_since = None

    def _idle(self, what: str) -> RequestError:
        return RequestError(grpc.StatusCode.DEADLINE_EXCEEDED,
                            f"no message for {self.limits.idle_timeout_s:g} s while waiting "
                            f"for {what}: idle streams are closed")

    # -- the watchdog ----------------------------------------------------------------------
    async def _watch(self, context, reader: asyncio.Task) -> None:
        """Ends the call when it breaks a rule of the module docstring."""
        limits = self.limits
        window_start, frames_before = self.started, 0
        while True:
            now = time.monotonic()
            checks = [self.started + limits.max_stream_duration_s,
                      window_start + STREAM_RATE_WINDOW_S]
            if self.waiting_since is not None:
                checks.append(self.waiting_since + limits.idle_timeout_s)
            await asyncio.sleep(max(0.0, min(checks) - now) + 0.01)
            now = time.monotonic()
            error = None
            if self.waiting_since is not None \
                    and now - self.waiting_since >= limits.idle_timeout_s:
                error = self._idle("a frame")
            elif now - self.started >= limits.max_stream_duration_s:
                error = RequestError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"the stream ran for {limits.max_stream_duration_s:g} s, the longest "
                    "this server allows (max_stream_duration_s); start a new stream")
            elif now - window_start >= STREAM_RATE_WINDOW_S:
                frames = self.frames_read - frames_before
                if frames < limits.min_stream_frame_rate * STREAM_RATE_WINDOW_S:
                    error = RequestError(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"the stream sent {frames} frames in {STREAM_RATE_WINDOW_S:g} s; a "
                        f"stream must average at least {limits.min_stream_frame_rate:g} "
                        "frames/s (min_stream_frame_rate) and read its responses to keep its "
                        "slot")
                window_start, frames_before = now, self.frames_read
            if error is not None:
                reader.cancel()
                await self._end(context, error)
                return

    async def _end(self, context, error: RequestError) -> None:
        """Fail the call with `error`: the responding side raises it (which cancels this
        task). If it is stuck sending to a client that reads nothing, a status cannot get past
        the unsent message either: cancel the call's task, which frees its slot and state."""
        self.responses.fail(error)
        await asyncio.sleep(FORCED_END_S)
        self.metrics.record_error("StreamAnnotate", error.code)
        code, message = status_for(error)
        context.set_code(code)
        context.set_details(message)
        if self._handler is not None:
            self._handler.cancel()
