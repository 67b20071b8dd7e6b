"""The dynamic batcher groups concurrent requests, bounds its queue and reports errors."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from framescribe.server.dynamic_batcher import (
    BACKGROUND,
    LIVE,
    BatcherOptions,
    DynamicBatcher,
    QueueFull,
)


def run(coroutine):
    return asyncio.run(coroutine)


def make(process, **options):
    executor = ThreadPoolExecutor(1)
    batches = []

    def recording(items):
        batches.append(list(items))
        return process(items)

    return DynamicBatcher("test", recording, executor, BatcherOptions(**options)), batches


def test_concurrent_requests_share_one_call():
    async def main():
        batcher, batches = make(lambda items: [x * 10 for x in items], max_batch_size=8,
                                max_delay_s=0.05)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
        await batcher.stop()
        return results, batches

    results, batches = run(main())
    assert results == [0, 10, 20, 30, 40]
    assert batches == [[0, 1, 2, 3, 4]]


def test_batches_never_exceed_the_maximum():
    async def main():
        batcher, batches = make(lambda items: list(items), max_batch_size=4, max_delay_s=0.01)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        await batcher.stop()
        return results, batches

    results, batches = run(main())
    assert results == list(range(10))
    assert [len(b) for b in batches] == [4, 4, 2]


def test_a_full_queue_refuses_with_queue_full():
    async def main():
        batcher, _ = make(lambda items: list(items), max_batch_size=2, max_delay_s=0.2,
                          max_queued=2)
        first = [asyncio.ensure_future(batcher.submit(i)) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="queue is full"):
            await batcher.submit(99)
        done = await asyncio.gather(*first)
        await batcher.stop()
        return done

    assert run(main()) == [0, 1]


def test_an_error_reaches_every_caller_of_the_batch_and_the_batcher_goes_on():
    calls = []

    def process(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise ValueError("bad batch")
        return list(items)

    async def main():
        batcher, _ = make(process, max_batch_size=4, max_delay_s=0.02)
        failed = await asyncio.gather(*(batcher.submit(i) for i in range(3)),
                                      return_exceptions=True)
        later = await batcher.submit(7)
        await batcher.stop()
        return failed, later

    failed, later = run(main())
    assert all(isinstance(e, ValueError) for e in failed)
    assert later == 7


def test_a_cancelled_caller_is_skipped():
    async def main():
        batcher, batches = make(lambda items: list(items), max_batch_size=8, max_delay_s=0.05)
        keep = asyncio.ensure_future(batcher.submit(1))
        drop = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)
        drop.cancel()
        result = await keep
        await batcher.stop()
        return result, batches

    result, batches = run(main())
    assert result == 1 and batches == [[1]]


@pytest.mark.parametrize("options, message", [
    ({"max_batch_size": 0}, "max_batch_size must be >= 1"),
    ({"max_delay_s": 2.0}, "max_delay_s must be 0-1 s"),
    ({"max_batch_size": 8, "max_queued": 4}, "must be >= max_batch_size"),
    ({"max_in_flight": 0}, "max_in_flight must be >= 1"),
])
def test_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        BatcherOptions(**options)


def test_waiting_submit_gets_room_instead_of_an_error():
    async def main():
        batcher, _ = make(lambda items: list(items), max_batch_size=2, max_delay_s=0.05,
                          max_queued=2)
        results = await asyncio.gather(*(batcher.submit(i, wait=True) for i in range(7)))
        await batcher.stop()
        return results

    assert run(main()) == list(range(7))


def test_submit_many_returns_results_in_order_across_batches():
    async def main():
        batcher, batches = make(lambda items: [x * 10 for x in items], max_batch_size=4,
                                max_delay_s=0.01)
        results = await batcher.submit_many(list(range(10)))
        await batcher.stop()
        return results, batches

    results, batches = run(main())
    assert results == [x * 10 for x in range(10)]
    assert [len(b) for b in batches] == [4, 4, 2]


async def _two_live_items_batch_sizes(upstream) -> list[int]:
    """The batch sizes when a live item is submitted, then another 0.1 s later, to a batcher
    whose delay (1 s) would let the second join the first."""
    executor = ThreadPoolExecutor(1)
    batches = []
    batcher = DynamicBatcher("test", lambda items: batches.append(list(items)) or list(items),
                             executor, BatcherOptions(max_batch_size=8, max_delay_s=1.0),
                             upstream=upstream)
    first = asyncio.ensure_future(batcher.submit(1, priority=LIVE))
    await asyncio.sleep(0.1)
    await asyncio.gather(first, batcher.submit(2, priority=LIVE))
    await batcher.stop()
    return [len(b) for b in batches]


def test_nothing_upstream_means_no_wait_for_company():
    """With upstream() == 0 a lone item runs at once; a second one submitted 0.1 s later
    forms its own batch, although the delay (1 s) would have let it join the first."""
    assert run(_two_live_items_batch_sizes(lambda priority: 0)) == [1, 1]
    assert run(_two_live_items_batch_sizes(None)) == [2]


def test_a_live_item_does_not_wait_for_a_clips_frames_upstream():
    """upstream counts by priority: a lone live item waits for live company only. With only
    background items on their way it runs at once (a second live item 0.1 s later forms its
    own batch; delay 1 s), as a live stream's gesture step must not wait for the frames a clip
    has in the encoder, which go to another batch anyway; with live items on their way, it
    waits and the two share a batch."""
    assert run(_two_live_items_batch_sizes(lambda p: 0 if p == LIVE else 100)) == [1, 1]
    assert run(_two_live_items_batch_sizes(lambda p: 100 if p == LIVE else 0)) == [2]


def test_pending_is_counted_by_priority():
    """pending_of(priority): the units of that priority waiting or running, the others not."""

    async def main():
        release = threading.Event()
        executor = ThreadPoolExecutor(1)
        batcher = DynamicBatcher("test", lambda items: release.wait(10) and list(items),
                                 executor, BatcherOptions(max_batch_size=4, max_delay_s=0.0),
                                 size_of=len)
        running = asyncio.ensure_future(batcher.submit("abc", priority=BACKGROUND))
        await asyncio.sleep(0.1)  # its batch is running, blocked
        waiting = asyncio.ensure_future(batcher.submit("de", priority=LIVE))
        await asyncio.sleep(0.1)
        counts = batcher.pending_of(LIVE), batcher.pending_of(BACKGROUND), batcher.pending
        release.set()
        await asyncio.gather(running, waiting)
        after = batcher.pending_of(LIVE), batcher.pending_of(BACKGROUND)
        await batcher.stop()
        return counts, after

    assert run(main()) == ((2, 3, 5), (0, 0))


def test_sized_items_fill_batches_by_units():
    """Arrays of frames count as their length: a batch holds up to max_batch_size frames (an
    item bigger than that goes alone), and the queue limit counts frames too."""

    async def main():
        executor = ThreadPoolExecutor(1)
        batches = []
        batcher = DynamicBatcher("test", lambda items: batches.append([len(i) for i in items])
                                 or [len(i) for i in items], executor,
                                 BatcherOptions(max_batch_size=8, max_delay_s=0.05,
                                                max_queued=8), size_of=len)
        first = asyncio.ensure_future(batcher.submit_many([[0] * 3, [0] * 4, [0] * 2]))
        await asyncio.sleep(0)
        assert batcher.queued == 9
        with pytest.raises(QueueFull):
            await batcher.submit([0])
        results = await first
        alone = await batcher.submit([0] * 12)
        await batcher.stop()
        return results, alone, batches

    results, alone, batches = run(main())
    assert results == [3, 4, 2] and alone == 12
    assert batches == [[3, 4], [2], [12]]


def test_an_exception_result_fails_only_its_item():
    async def main():
        batcher, batches = make(lambda items: [ValueError(f"bad {x}") if x == 2 else x
                                               for x in items], max_batch_size=8,
                                max_delay_s=0.05)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(4)),
                                       return_exceptions=True)
        await batcher.stop()
        return results, batches

    results, batches = run(main())
    assert batches == [[0, 1, 2, 3]]
    assert results[:2] == [0, 1] and results[3] == 3
    assert isinstance(results[2], ValueError) and str(results[2]) == "bad 2"


def test_batches_in_flight_run_at_once_up_to_the_limit():
    """Two process() calls overlap on a two-thread executor with max_in_flight=2 (each waits
    for the other to start), and never three."""
    import threading

    both_started = threading.Barrier(2, timeout=5)
    running, most = [0], [0]
    lock = threading.Lock()

    def process(items):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        both_started.wait()  # a BrokenBarrierError if the second call never starts
        with lock:
            running[0] -= 1
        return list(items)

    async def main():
        batcher = DynamicBatcher("test", process, ThreadPoolExecutor(3),
                                 BatcherOptions(max_batch_size=2, max_delay_s=0.0,
                                                max_in_flight=2))
        results = await asyncio.gather(*(batcher.submit(i) for i in range(8)))
        await batcher.stop()
        return results

    assert run(main()) == list(range(8))
    assert most[0] == 2


# -- priorities: live streams before clips --------------------------------------------------
def test_live_items_go_ahead_of_waiting_background_items_in_batches_of_their_own():
    async def main():
        batcher, batches = make(lambda items: list(items), max_batch_size=8, max_delay_s=0.05)
        background = [asyncio.ensure_future(batcher.submit(f"clip{i}", priority=BACKGROUND))
                      for i in range(6)]
        await asyncio.sleep(0)  # the clip's items wait for company...
        live = [asyncio.ensure_future(batcher.submit(f"live{i}", priority=LIVE))
                for i in range(2)]  # ...when the live ones arrive
        results = await asyncio.gather(*background, *live)
        await batcher.stop()
        return results, batches

    results, batches = run(main())
    assert results == [f"clip{i}" for i in range(6)] + ["live0", "live1"]
    assert batches == [["live0", "live1"], [f"clip{i}" for i in range(6)]]


def test_background_batches_leave_one_slot_for_live_items():
    async def main():
        executor = ThreadPoolExecutor(2)
        release = threading.Event()
        running: list[str] = []

        def process(items):
            running.extend(items)
            if items[0].startswith("clip"):
                release.wait(5)
            return list(items)

        batcher = DynamicBatcher("test", process, executor, BatcherOptions(
            max_batch_size=1, max_delay_s=0.0, max_in_flight=2))
        clips = [asyncio.ensure_future(batcher.submit(f"clip{i}", priority=BACKGROUND))
                 for i in range(3)]
        await asyncio.sleep(0.2)
        started_clips = list(running)  # one clip batch runs, the other waits: a slot is free
        live = await asyncio.wait_for(batcher.submit("live", priority=LIVE), 2)
        release.set()
        await asyncio.gather(*clips)
        await batcher.stop()
        executor.shutdown()
        return started_clips, live

    started_clips, live = run(main())
    assert started_clips == ["clip0"]
    assert live == "live"


def test_background_items_still_progress_under_endless_live_load():
    """Live items that never stop coming do not starve a clip: a background item that has
    waited BACKGROUND_MAX_WAIT_S goes next."""
    async def main():
        batcher, batches = make(lambda items: (time.sleep(0.01), list(items))[1],
                                max_batch_size=1, max_delay_s=0.0)
        flooding = True

        async def flood():
            while flooding:
                await batcher.submit("live")

        floods = [asyncio.ensure_future(flood()) for _ in range(4)]
        await asyncio.sleep(0.05)
        clip = await asyncio.wait_for(batcher.submit("clip", priority=BACKGROUND), 10)
        live_batches_before = batches.index(["clip"])
        flooding = False
        await asyncio.gather(*floods)
        await batcher.stop()
        return clip, live_batches_before

    clip, live_batches_before = run(main())
    assert clip == "clip"
    assert live_batches_before > 5  # the live items did go first for a while
