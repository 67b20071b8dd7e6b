"""One StreamAnnotate call's state and work, independent of gRPC.

Frames arrive with timestamps, one request's frames at a time (one frame, or a list); each
request's features are computed concurrently (decode on the decode pool, then the shared encoder
batcher), while one consumer task takes them in order,
steps the gesture classifier (through the shared gesture batcher, all frames that are ready at
once as one chunk), feeds the event tracker, and hands full caption segments to the caption
batcher. Results go to `emit` as soon as each is ready. State per stream is O(1) in its length:
recurrent states, the tracker, the open caption segment and a bounded window of timestamps.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from framescribe.models.inference.caption_search import DecodingOptions
from framescribe.models.inference.gesture_events import EventOptions, GestureEventTracker
from framescribe.models.inference.pipeline import CaptionSegment, GestureEvent

from .serving_model import CaptionRequest, GestureChunk, ServingModel

IN_FLIGHT_FRAMES = 64  # frames of one stream being decoded/encoded at once (backpressure)
TIMESTAMP_WINDOW = 4096  # recent frame times kept to time gesture events (~7 min at 10 fps)


@dataclass(frozen=True)
class StreamSettings:
    tasks: tuple[str, ...]
    segment_frames: int  # frames per caption segment
    decoding: DecodingOptions
    events: EventOptions
    interim: bool  # send the top label of every sampled frame


@dataclass(frozen=True)
class InterimLabel:
    """Top label at one frame; label None while idle is the most likely."""

    timestamp: float  # seconds
    label: str | None
    confidence: float


@dataclass(frozen=True)
class InterimLabels:
    """The interim labels of one multi-frame request's sampled frames, in time order."""

    labels: tuple[InterimLabel, ...]


@dataclass(frozen=True)
class _Request:
    """One request's sampled frames on their way through the models."""

    times: tuple[float, ...]  # seconds, increasing
    features: asyncio.Future  # -> (len(times), D) features
    arrived: float  # perf_counter seconds at push()
    grouped: bool  # emit the interim labels together (InterimLabels)


class StreamSession:
    """Feed with `push`, end with `finish`; `cancel` frees everything at once."""

    def __init__(self, model: ServingModel, settings: StreamSettings,
                 emit: Callable[[object], None],
                 observe_latency: Callable[[float], None] = lambda seconds: None):
        """emit receives CaptionSegment, GestureEvent, InterimLabel and InterimLabels objects,
        in order of readiness (captions in time order; gesture results in time order).
        observe_latency gets each frame's seconds from push() to its gesture result (or its
        features)."""
        self.model = model
        self._observe_latency = observe_latency
        self.settings = settings
        self._emit = emit
        self._pending: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._in_flight = 0  # frames pushed and not yet processed
        self._room = asyncio.Event()  # set while _in_flight < IN_FLIGHT_FRAMES
        self._room.set()
        self._consumer = asyncio.get_running_loop().create_task(self._consume())
        self._states = None
        self._tracker = GestureEventTracker(settings.events)
        self._times: deque[float] = deque(maxlen=TIMESTAMP_WINDOW)
        self._frames_seen = 0  # index of the next frame in the tracker's numbering
        self._segment: list[np.ndarray] = []
        self._segment_times: list[float] = []
        # End time of the last full segment: the next sampled frame's timestamp (as in
        # Pipeline.caption_segments), known once that frame arrives.
        self._segment_end: asyncio.Future | None = None
        self._last_time: float | None = None
        self._last_caption: asyncio.Task | None = None
        self._caption_tasks: set[asyncio.Task] = set()
        self.period = 1.0 / model.pipeline.manifest.frame_rate

    async def push(self, times: Sequence[float], features: Awaitable[np.ndarray],
                   grouped: bool = False) -> None:
        """Queue one request's sampled frames: `times` (seconds, increasing) and `features`,
        which computes their (len(times), D) features. `grouped`: emit their interim labels
        together as one InterimLabels. Waits while IN_FLIGHT_FRAMES frames are still being
        processed (backpressure on the client)."""
        self._raise_failed_caption()
        while self._in_flight >= IN_FLIGHT_FRAMES:
            await self._wait_for_room()
        self._in_flight += len(times)
        if self._in_flight >= IN_FLIGHT_FRAMES:
            self._room.clear()
        self._pending.put_nowait(_Request(tuple(times), asyncio.ensure_future(features),
                                          time.perf_counter(), grouped))

    async def _wait_for_room(self) -> None:
        """Until the consumer frees room; its error if it ended instead."""
        room = asyncio.ensure_future(self._room.wait())
        done, _ = await asyncio.wait({room, self._consumer},
                                     return_when=asyncio.FIRST_COMPLETED)
        if room not in done:
            room.cancel()
            self._consumer.result()  # raises the consumer's error
            raise RuntimeError("stream consumer ended early")

    async def finish(self) -> None:
        """End of input: finish every frame, caption the last partial segment, close the open
        gesture."""
        self._pending.put_nowait(None)
        await self._consumer
        if self._segment:
            self._caption_segment()
        if self._segment_end is not None and not self._segment_end.done():
            self._segment_end.set_result(self._last_time + self.period)
        if self._caption_tasks:
            await asyncio.gather(*self._caption_tasks)
        if "gestures" in self.settings.tasks:
            event = self._tracker.flush()
            if event is not None:
                self._emit(self._gesture_event(event))

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
        one batcher item, then events, then caption segments."""
        features = np.concatenate([r.features.result() for r in chunk])
        if "gestures" in self.settings.tasks:
            result = await self.model.gestures.submit(GestureChunk(features, self._states),
                                                      wait=True)
            self._states = result.states
            row = 0
            for request in chunk:
                self._track(request, result.probabilities[row:row + len(request.times)])
                row += len(request.times)
        now = time.perf_counter()
        for request in chunk:
            for _ in request.times:
                self._observe_latency(now - request.arrived)
        if "captions" in self.settings.tasks:
            times = [t for r in chunk for t in r.times]
            for t, f in zip(times, features, strict=True):
                if self._segment_end is not None and not self._segment_end.done():
                    self._segment_end.set_result(t)
                self._last_time = t
                self._segment.append(f)
                self._segment_times.append(t)
                if len(self._segment) == self.settings.segment_frames:
                    self._caption_segment()

    def _track(self, request: _Request, probabilities: np.ndarray) -> None:
        """Feed one request's frames' (n, 1 + labels) probabilities to the event tracker; emit
        their interim labels (one InterimLabels for a grouped request), then the final events
        that ended on them."""
        labels, events = [], []
        names = self.model.pipeline.labels
        for t, row in zip(request.times, probabilities, strict=True):
            self._times.append(t)
            interim, event = self._tracker.update(row)
            self._frames_seen += 1
            if self.settings.interim:
                labels.append(InterimLabel(t, names[interim.label], interim.confidence)
                              if interim is not None else InterimLabel(t, None, float(row[0])))
            if event is not None:
                events.append(self._gesture_event(event))
        if request.grouped and labels:
            self._emit(InterimLabels(tuple(labels)))
        else:
            for label in labels:
                self._emit(label)
        for event in events:
            self._emit(event)

    def _frame_time(self, index: int) -> float:
        """Time of frame `index` (tracker numbering); the oldest kept one if it fell out."""
        oldest = self._frames_seen - len(self._times)
        return self._times[max(0, index - oldest)]

    def _gesture_event(self, event) -> GestureEvent:
        """A tracker event (frame indices) as a GestureEvent (seconds)."""
        end = (self._frame_time(event.end) if event.end < self._frames_seen
               else self._frame_time(event.end - 1) + self.period)
        return GestureEvent(self.model.pipeline.labels[event.label],
                            self._frame_time(event.start), end, event.confidence)

    def _caption_segment(self) -> None:
        """Caption the open segment in the background; captions are emitted in order, each
        once its end (the next frame's time, or the last frame's plus a period) is known."""
        features, start = np.stack(self._segment), self._segment_times[0]
        self._segment, self._segment_times = [], []
        previous = self._last_caption
        end = self._segment_end = asyncio.get_running_loop().create_future()

        async def caption() -> None:
            text, log_prob = await self.model.captions.submit(
                CaptionRequest(features, self.settings.decoding), wait=True)
            if previous is not None:
                await previous
            self._emit(CaptionSegment(start, await end, text, log_prob))

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
