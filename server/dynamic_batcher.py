"""A dynamic batcher (as in Triton's): requests from all calls are grouped into one model call.

Callers `await batcher.submit(item)` (or `submit_many(items)`); a single worker task takes the
first waiting item, waits up to `max_delay_s` for more (or until `max_batch_size` items are
waiting; an item may count as several, e.g. an array of n frames, through `size_of`), and runs
`process(items) -> results` once for the whole group on the model's executor thread, off the
event loop. Each caller gets its own result (or the batch's exception; a result that is an
exception instance fails just its item). Up to `max_in_flight` groups run at once, for
executors with that many threads (e.g. a pool of worker processes). The wait ends early when
the optional `upstream(priority)` count says no more items of the batch's priority are on
their way (nothing being decoded or encoded upstream for it): a lone request is not held for
company that cannot come, and a live item never waits for a clip's frames, which could not join
its batch anyway. The queue is
bounded: at `max_queued` waiting items `submit` raises QueueFull (unary calls: the server
answers RESOURCE_EXHAUSTED instead of letting memory and latency grow without limit), or with
`wait=True` waits for room (streams: backpressure reaches the client through gRPC flow control).
Items have a priority (LIVE before BACKGROUND): a live stream's items go ahead of a clip's
items already waiting, and a batch holds items of one priority only. Background batches either
run in a lane of their own (`process_background`, up to `max_background_in_flight` at once,
e.g. on lower-priority worker processes), or share the slots, always leaving one of several
free for live items; so clip work never holds every executor thread.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
LIVE, BACKGROUND = 0, 1  # priorities: streams' work first, then clips'
# A background item that has waited this long goes next even while live items wait, so clips
# still progress (slowly) under a load of streams that never lets up.
BACKGROUND_MAX_WAIT_S = 0.25


class QueueFull(RuntimeError):
    """The batcher already holds its maximum number of waiting items."""


@dataclass(frozen=True)
class BatcherOptions:
    max_batch_size: int = 32  # items per process() call
    max_delay_s: float = 0.005  # how long the first waiting item may wait for company
    max_queued: int = 2048  # waiting items before submit() raises QueueFull
    max_in_flight: int = 1  # process() calls running at once (executor threads to match)
    # process_background() calls at once, when the batcher has that lane (threads to match)
    max_background_in_flight: int = 1

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if not 0.0 <= self.max_delay_s <= 1.0:
            raise ValueError(f"max_delay_s must be 0-1 s, got {self.max_delay_s}")
        for name in ("max_in_flight", "max_background_in_flight"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_queued < self.max_batch_size:
            raise ValueError(f"max_queued ({self.max_queued}) must be >= max_batch_size "
                             f"({self.max_batch_size})")


class DynamicBatcher(Generic[Item, Result]):
    """Groups concurrent submit() calls into process() calls. One per model stage."""

    def __init__(self, name: str, process: Callable[[Sequence[Item]], Sequence[Result]],
                 executor: Executor, options: BatcherOptions = BatcherOptions(),
                 on_batch: Callable[[str, int, int], None] | None = None,
                 upstream: Callable[[int], int] | None = None,
                 size_of: Callable[[Item], int] | None = None,
                 process_background: Callable[[Sequence[Item]], Sequence[Result]] | None = None):
        """on_batch(name, batch size, items still queued) is called after each batch (metrics).
        upstream(priority) counts the items of that priority still being prepared that will be
        submitted here soon; None means unknown (always wait up to max_delay_s).
        size_of(item): how many units (e.g. frames) an item counts as in max_batch_size and
        max_queued; None: 1 each.
        process_background: runs the BACKGROUND batches in a lane of their own (None: they
        share process() and its slots)."""
        self.name = name
        self._upstream = upstream
        self._size_of = size_of or (lambda item: 1)
        self._waiting_units: dict[int, int] = {}  # units waiting, by priority
        self._running_units: dict[int, int] = {}  # units in the process() calls now running
        self._process = process
        self._process_background = process_background
        self._executor = executor
        self.options = options
        self._on_batch = on_batch
        self._waiting: list[tuple[Item, asyncio.Future]] = []  # in priority order
        self._priorities: list[int] = []  # of the waiting items (non-decreasing)
        self._arrivals: list[float] = []  # loop time each waiting item was submitted
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()  # set while fewer than max_queued items wait
        self._room.set()
        self._worker: asyncio.Task | None = None
        self._batches: set[asyncio.Task] = set()  # process() calls in flight
        self._background: set[asyncio.Task] = set()  # those of BACKGROUND items
        self._changed = asyncio.Event()  # an item arrived or a batch ended

    @property
    def queued(self) -> int:
        """Units waiting (items, or what size_of counts)."""
        return sum(self._waiting_units.values())

    @property
    def running(self) -> int:
        """Units in the process() calls now running."""
        return sum(self._running_units.values())

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop the worker; items still waiting get a CancelledError."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        for task in self._batches:
            task.cancel()
        await asyncio.gather(*self._batches, return_exceptions=True)
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()
        self._priorities.clear()
        self._arrivals.clear()
        self._waiting_units.clear()

    @property
    def pending(self) -> int:
        """Units waiting or being processed."""
        return self.queued + self.running

    def pending_of(self, priority: int) -> int:
        """Units of one priority waiting or being processed."""
        return self._waiting_units.get(priority, 0) + self._running_units.get(priority, 0)

    async def submit(self, item: Item, wait: bool = False, priority: int = LIVE) -> Result:
        """The item's result. A full queue raises QueueFull, or with wait=True waits."""
        return (await self.submit_many((item,), wait, priority))[0]

    async def submit_many(self, items: Sequence[Item], wait: bool = False,
                          priority: int = LIVE) -> list[Result]:
        """The items' results, in order; they may be processed in different batches. Queued
        together (a full queue is checked once, so it may hold up to len(items) - 1 more than
        max_queued), after the waiting items of the same or a more urgent priority."""
        while self.queued >= self.options.max_queued:
            if not wait:
                raise QueueFull(f"the {self.name} queue is full ({self.options.max_queued} "
                                "items waiting); retry later or send fewer frames at once")
            self._room.clear()
            await self._room.wait()
        self.start()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        place = bisect.bisect_right(self._priorities, priority)
        self._waiting[place:place] = zip(items, futures, strict=True)
        self._priorities[place:place] = [priority] * len(items)
        self._arrivals[place:place] = [loop.time()] * len(items)
        self._waiting_units[priority] = (self._waiting_units.get(priority, 0)
                                         + sum(map(self._size_of, items)))
        self._arrived.set()
        self._changed.set()
        try:
            return [await future for future in futures]
        except BaseException:
            for future in futures:  # a cancelled caller's items are skipped
                future.cancel()
            raise

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            if not self._waiting:
                self._arrived.clear()
                continue
            chosen = self._choose(loop)
            if chosen is None:
                self._changed.clear()  # until a batch ends or an item arrives
                await self._changed.wait()
                continue
            if self._waiting_units.get(chosen, 0) < self.options.max_batch_size \
                    and self.options.max_delay_s:
                await self._gather_more(loop, chosen)
            priority = self._choose(loop)
            if priority is None:  # a live item arrived and its lane is full
                continue
            background = priority >= BACKGROUND
            taken, size = self._take_batch(priority)
            batch = [(i, f) for i, f in taken if not f.done()]
            self._room.set()
            if not self._waiting:
                self._arrived.clear()
            if not batch:
                continue
            task = loop.create_task(self._run_batch(loop, batch, size, priority))
            self._batches.add(task)
            if background:
                self._background.add(task)
            task.add_done_callback(self._batch_ended)

    def _choose(self, loop: asyncio.AbstractEventLoop) -> int | None:
        """The priority of the batch to start now (None: none can start): live items first,
        unless the oldest background item has waited BACKGROUND_MAX_WAIT_S; a priority whose
        lane is full gives way to the other."""
        split = bisect.bisect_left(self._priorities, BACKGROUND)
        live, background = split > 0, split < len(self._priorities)
        starving = live and background \
            and loop.time() - self._arrivals[split] >= BACKGROUND_MAX_WAIT_S
        for priority in ((BACKGROUND, LIVE) if starving else (LIVE, BACKGROUND)):
            waiting = background if priority >= BACKGROUND else live
            if waiting and self._slot_free(priority >= BACKGROUND):
                return priority
        return None

    def _slot_free(self, background: bool) -> bool:
        """Whether a batch of this priority may start now."""
        running_background = len(self._background)
        if self._process_background is not None:  # two lanes
            if background:
                return running_background < self.options.max_background_in_flight
            return len(self._batches) - running_background < self.options.max_in_flight
        if len(self._batches) >= self.options.max_in_flight:
            return False
        return not background or running_background < max(1, self.options.max_in_flight - 1)

    def _batch_ended(self, task: asyncio.Task) -> None:
        self._batches.discard(task)
        self._background.discard(task)
        self._changed.set()

    async def _run_batch(self, loop: asyncio.AbstractEventLoop,
                         batch: list[tuple[Item, asyncio.Future]], size: int,
                         priority: int = LIVE) -> None:
        """One process() call on the executor; every caller gets its result or the error (a
        result that is an exception fails only its own item)."""
        self._running_units[priority] = self._running_units.get(priority, 0) + size
        background = priority >= BACKGROUND
        try:
            process = self._process_background if background and self._process_background \
                else self._process
            results = await loop.run_in_executor(
                self._executor, process, [item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: process() returned {len(results)} "
                                   f"results for {len(batch)} items")
        except Exception as error:  # noqa: BLE001 - delivered to every caller of the batch
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        finally:
            self._running_units[priority] -= size
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if self._on_batch is not None:
            self._on_batch(self.name, size, self.queued)

    def _take_batch(self, priority: int) -> tuple[list[tuple[Item, asyncio.Future]], int]:
        """The waiting items of the next batch: the first ones of `priority` (at least one; up
        to max_batch_size units), and their units."""
        start = bisect.bisect_left(self._priorities, priority)
        end = bisect.bisect_right(self._priorities, priority)
        count, size = 0, 0
        for item, _ in self._waiting[start:end]:
            item_size = self._size_of(item)
            if count and size + item_size > self.options.max_batch_size:
                break
            count, size = count + 1, size + item_size
        taken = self._waiting[start:start + count]
        del self._waiting[start:start + count]
        del self._priorities[start:start + count]
        del self._arrivals[start:start + count]
        self._waiting_units[priority] -= size
        return taken, size

    async def _gather_more(self, loop: asyncio.AbstractEventLoop, priority: int) -> None:
        """Wait up to max_delay_s, returning early once a full batch of `priority` is waiting
        or nothing more of it is on its way (upstream(priority) == 0)."""
        deadline = loop.time() + self.options.max_delay_s
        while self._waiting_units.get(priority, 0) < self.options.max_batch_size:
            if self._upstream is not None and self._upstream(priority) == 0:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return
            finally:
                self._arrived.set()
