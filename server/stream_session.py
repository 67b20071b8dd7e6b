"""One stream's state and work on the server, independent of gRPC: the streaming core
(models/inference: sampling done by the caller, CaptionWindower, GestureTimeline) driven by the
server's batched model calls, for StreamAnnotate and AnnotateClip alike.

Frames arrive with timestamps, one request's frames at a time (one frame, or a list); each
request's features are computed concurrently (decode, then the shared encoder batcher), while
one consumer task takes them in order, steps the gesture classifier (through the shared gesture
batcher, all frames that are ready at once as one chunk), feeds the gesture timeline, and hands
closed caption windows to the caption batcher. Results go to `emit` as soon as each is ready.
State per stream is O(1) in its length: recurrent states, the timeline, the open caption window.
Work per stream is bounded too: IN_FLIGHT_FRAMES frames between push and their gesture result,
and `max_pending_captions` closed windows waiting for the caption decoder (the consumer waits
for room, and `push` waits while the frames are in flight), so a stream (or a clip) whose
options outrun the models slows its own input instead of queueing without end. A clip's
session runs at BACKGROUND priority, a live stream's at LIVE (see DynamicBatcher).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from framescribe.models.inference.caption_windows import CaptionWindow, CaptionWindower
from framescribe.models.inference.events import CaptionSegment, InterimGesture
from framescribe.models.inference.gesture_timeline import GestureTimeline
from framescribe.models.inference.pipeline_options import SessionSettings

from .dynamic_batcher import LIVE
from .model_batches import CaptionRequest, GestureChunk
from .serving_model import ServingModel

IN_FLIGHT_FRAMES = 64  # frames of one stream being decoded/encoded at once (backpressure)
TRACK_SLICE = 16  # a clip's frames through the gesture timeline between event-loop yields


@dataclass(frozen=True)
class InterimLabels:
    """The interim labels of one multi-frame request's sampled frames, in time order (sent
    as one InterimGestureList)."""

    labels: tuple[InterimGesture, ...]


@dataclass(frozen=True)
class _Request:
    """One request's sampled frames on their way through the models."""

    times: tuple[float, ...]  # seconds, increasing
    features: asyncio.Future  # -> (len(times), D) features
    arrived: float  # perf_counter seconds at push()
    grouped: bool  # emit the interim labels together (InterimLabels)


class StreamSession:
    """Feed with `push`, end with `finish`; `cancel` frees everything at once."""

    def __init__(self, model: ServingModel, settings: SessionSettings,
                 emit: Callable[[object], None],
                 observe_latency: Callable[[float], None] = lambda seconds: None, *,
                 priority: int = LIVE, max_pending_captions: int = 8):
        """emit receives CaptionSegment, GestureEvent, InterimGesture and InterimLabels
        objects, in order of readiness (captions in time order; gesture results in time
        order). observe_latency gets each frame's seconds from push() to its gesture result
        (or its features). priority: of this session's model work in the shared batchers."""
        self.model = model
        self.priority = priority
        self.max_pending_captions = max_pending_captions
        self._observe_latency = observe_latency
        self.settings = settings
        self._emit = emit
        self._pending: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._in_flight = 0  # frames pushed and not yet processed
        self._room = asyncio.Event()  # set while _in_flight < IN_FLIGHT_FRAMES
        self._room.set()
        self._consumer = asyncio.get_running_loop().create_task(self._consume())
        self._states = None
        self._timeline = GestureTimeline(model.pipeline.labels, settings.events,
                                         settings.period, settings.interim) \
            if "gestures" in settings.tasks else None
        self._windows = CaptionWindower(settings.segment_frames, settings.period) \
            if "captions" in settings.tasks else None
        self._last_caption: asyncio.Task | None = None
        self._caption_tasks: set[asyncio.Task] = set()

    async def push(self, times: Sequence[float], features: Awaitable[np.ndarray],
                   grouped: bool = False) -> None:
        """Queue one request's sampled frames: `times` (seconds, increasing) and `features`,
        which computes their (len(times), D) features. `grouped`: emit their interim labels
        together as one InterimLabels. Waits while IN_FLIGHT_FRAMES frames are still being
        processed (backpressure on the client)."""
        try:
            self._raise_failed_caption()
            while self._in_flight >= IN_FLIGHT_FRAMES:
                await self._wait_for_room()
        except BaseException:
            if inspect.iscoroutine(features):
                features.close()  # never started: nothing to cancel, nothing to warn about
            raise
        self._in_flight += len(times)
        if self._in_flight >= IN_FLIGHT_FRAMES:
            self._room.clear()
        self._pending.put_nowait(_Request(tuple(times), asyncio.ensure_future(features),
                                          time.perf_counter(), grouped))

    async def _wait_for_room(self) -> None:
        """Until the consumer frees room; its error if it ended instead."""
        room = asyncio.ensure_future(self._room.wait())
        try:
            done, _ = await asyncio.wait({room, self._consumer},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not room.done():
                room.cancel()
        if room not in done:
            self._consumer.result()  # raises the consumer's error
            raise RuntimeError("stream consumer ended early")

    async def finish(self) -> None:
        """End of input: finish every frame, close the open gesture event, caption the last
        window."""
        self._pending.put_nowait(None)
        await self._consumer
        if self._timeline is not None:
            for event in self._timeline.finish():
                self._emit(event)
        if self._windows is not None:
            for window in self._windows.finish():
                await self._room_for_a_caption()
                self._caption(window)
        if self._caption_tasks:
            await asyncio.gather(*self._caption_tasks)

    async def cancel(self) -> None:
        tasks = [self._consumer, *self._caption_tasks]
        while not self._pending.empty():
            request = self._pending.get_nowait()
            if request is not None:
                tasks.append(request.features)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- consumer --------------------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            request = await self._pending.get()
            if request is None:
                return
            await request.features
            chunk = [request]
            ended = False
            # Every following request whose frames are already encoded joins this chunk.
            while not self._pending.empty():
                head = self._pending._queue[0]  # noqa: SLF001 - peek without taking
                if head is None:
                    ended = True
                    self._pending.get_nowait()
                    break
                if not head.features.done():
                    break
                chunk.append(self._pending.get_nowait())
            await self._process(chunk)
            self._in_flight -= sum(len(r.times) for r in chunk)
            if self._in_flight < IN_FLIGHT_FRAMES:
                self._room.set()
            if ended:
                return

    async def _process(self, chunk: list[_Request]) -> None:
        """Consecutive requests whose features are ready: gesture steps for all their frames in
        one batcher item, then events, then caption windows."""
        features = np.concatenate([r.features.result() for r in chunk])
        if self._timeline is not None:
            probabilities = await self._gesture_probabilities(features)
            row = 0
            for request in chunk:
                await self._track(request, probabilities[row:row + len(request.times)])
                row += len(request.times)
        now = time.perf_counter()
        for request in chunk:
            for _ in request.times:
                self._observe_latency(now - request.arrived)
        if self._windows is not None:
            times = [t for r in chunk for t in r.times]
            for window in self._windows.add(times, features):
                await self._room_for_a_caption()
                self._caption(window)

    async def _room_for_a_caption(self) -> None:
        """Until fewer than max_pending_captions of this session's windows are captioning (the
        consumer, and so push, wait: the stream's input slows to what its captions allow)."""
        while len(captioning := [t for t in self._caption_tasks if not t.done()]) \
                >= self.max_pending_captions:
            await asyncio.wait(captioning, return_when=asyncio.FIRST_COMPLETED)
        self._raise_failed_caption()

    async def _gesture_probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, D) features -> (n, 1 + labels) gesture probabilities, stepping the carried
        state: one gesture batcher item for a live stream; for a clip,
        ServingModel.clip_gesture_frames at a time, so a live step never waits long behind
        clip steps."""
        step = len(features) if self.priority == LIVE else self.model.clip_gesture_frames
        probabilities = []
        for start in range(0, len(features), step):
            result = await self.model.gestures.submit(
                GestureChunk(features[start:start + step], self._states), wait=True,
                priority=self.priority)
            self._states = result.states
            probabilities.append(result.probabilities)
        return np.concatenate(probabilities)

    async def _track(self, request: _Request, probabilities: np.ndarray) -> None:
        """One request's frames' (n, 1 + labels) probabilities through the timeline: emit their
        interim labels (one InterimLabels for a grouped request), then the events they closed.
        A clip's frames go TRACK_SLICE at a time, yielding to the event loop between slices:
        a clip's window in one go held the loop that live streams share for milliseconds."""
        if self.priority == LIVE or request.grouped:
            self._track_slice(request.times, probabilities, request.grouped)
            return
        for start in range(0, len(request.times), TRACK_SLICE):
            self._track_slice(request.times[start:start + TRACK_SLICE],
                              probabilities[start:start + TRACK_SLICE], grouped=False)
            await asyncio.sleep(0)

    def _track_slice(self, times: Sequence[float], probabilities: np.ndarray,
                     grouped: bool) -> None:
        interims, events = self._timeline.add(times, probabilities)
        if grouped and interims:
            self._emit(InterimLabels(tuple(interims)))
        else:
            for interim in interims:
                self._emit(interim)
        for event in events:
            self._emit(event)

    def _caption(self, window: CaptionWindow) -> None:
        """Caption a closed window in the background; captions are emitted in time order."""
        previous = self._last_caption

        async def caption() -> None:
            text, log_prob = await self.model.captions.submit(
                CaptionRequest(window.features, self.settings.decoding), wait=True,
                priority=self.priority)
            if previous is not None:
                await previous
            self._emit(CaptionSegment(window.start, window.end, text, log_prob))

        task = asyncio.get_running_loop().create_task(caption())
        self._caption_tasks.add(task)
        task.add_done_callback(self._forget_if_succeeded)
        self._last_caption = task

    def _forget_if_succeeded(self, task: asyncio.Task) -> None:
        """Finished caption tasks are dropped; failed ones stay, so push/finish raise them."""
        if not task.cancelled() and task.exception() is None:
            self._caption_tasks.discard(task)

    def _raise_failed_caption(self) -> None:
        for task in self._caption_tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()
