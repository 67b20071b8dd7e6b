"""The loaded bundle behind three dynamic batchers: encoder, gesture steps, captions.

The encoder runs in one of two ways:
- With an EncoderPool (LiteRT bundles; the default there), batches of wire images go to worker
  processes that decode, fit and encode them (encoder_worker.py), several batches at once, each
  on its own GIL; clips' batches go to the pool's background workers, at a lower OS priority.
  `encodes_images` is True.
- Otherwise (TF, or `encoder_processes = 0`) images are decoded and resized on a small thread
  pool, which stacks each job's frames into one array, and the encoder runs on one dedicated
  thread in this process (on the GPU when TF sees one).
The recurrent heads run on two more threads, one per lane: gesture steps (the live lane: the
interim labels streams wait for) and captions (a beam search over a clip's segments may take
seconds; its thread runs at a lower OS priority, CAPTION_NICENESS). So a batch of gesture steps
never waits behind a batch of frames or of captions. Each model is its own interpreter (LiteRT)
or tf.function (TF) and is only ever called from its one thread. Within each batcher a live
stream's items go ahead of a clip's (DynamicBatcher priorities). Every model step is the
Pipeline's (no second implementation): `runtime.encode`, `runtime.gesture_step`,
`Pipeline.caption`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from framescribe.models.inference.caption_search import DecodingOptions
from framescribe.models.inference.pipeline import Pipeline

from .dynamic_batcher import BatcherOptions, DynamicBatcher
from .encoder_pool import EncoderPool

GESTURE_BATCH = 256  # streams per gesture-step batch
CAPTION_BATCH = 16  # segments per caption batch (a clip's captions interleave with streams')
CAPTION_NICENESS = 10  # the caption thread's OS niceness above the server's (Linux)


@dataclass(frozen=True)
class GestureChunk:
    """Consecutive frames of one stream: features (T, D) and the recurrent states before them
    (list of (units,) arrays; None = the initial state)."""

    features: np.ndarray
    states: list[np.ndarray] | None


@dataclass(frozen=True)
class GestureChunkResult:
    probabilities: np.ndarray  # (T, 1 + labels)
    states: list[np.ndarray]  # after the chunk's last frame


@dataclass(frozen=True)
class CaptionRequest:
    features: np.ndarray  # (frames, D) of one segment
    decoding: DecodingOptions


class ServingModel:
    """Async, batched access to one Pipeline's models. Create and use inside an event loop."""

    def __init__(self, pipeline: Pipeline, *, max_batch_size: int, max_delay_s: float,
                 max_queued: int, decode_threads: int,
                 on_batch: Callable[[str, int, int], None] | None = None,
                 encoder_pool: EncoderPool | None = None):
        """encoder_pool: worker processes for the encoder (owned from here on: close() stops
        them); None encodes in this process."""
        self.pipeline = pipeline
        self.encoder_pool = encoder_pool
        encoder_calls = encoder_pool.processes if encoder_pool is not None else 1
        background_calls = encoder_pool.background_processes if encoder_pool is not None else 0
        self.encoder_thread = ThreadPoolExecutor(encoder_calls + background_calls,
                                                 thread_name_prefix="framescribe-encoder")
        self.gesture_thread = ThreadPoolExecutor(1, thread_name_prefix="framescribe-gestures")
        self.caption_thread = ThreadPoolExecutor(1, thread_name_prefix="framescribe-captions",
                                                 initializer=_lower_priority)
        self.decode_pool = ThreadPoolExecutor(decode_threads,
                                              thread_name_prefix="framescribe-decode")
        self.decoding = 0  # frames on the decode pool now (they go to the encoder next)
        # With workers nothing is decoded before the encoder (decoding stays 0): a batch starts
        # as soon as a worker is free, and grows while all of them are busy.
        frames = BatcherOptions(max_batch_size, max_delay_s, max_queued, encoder_calls,
                                max(1, background_calls))
        encode = encoder_pool.encode if encoder_pool is not None else self._encode
        self.encoder = DynamicBatcher(
            "encoder", encode, self.encoder_thread, frames, on_batch,
            upstream=lambda: self.decoding, size_of=len,
            process_background=encoder_pool.encode_background if background_calls else None)
        self.gestures = DynamicBatcher(
            "gesture_step", self._gesture_steps, self.gesture_thread,
            BatcherOptions(GESTURE_BATCH, max_delay_s, max(max_queued, GESTURE_BATCH)), on_batch,
            upstream=lambda: self.decoding + self.encoder.pending)
        self.captions = DynamicBatcher(
            "caption", self._captions, self.caption_thread,
            BatcherOptions(CAPTION_BATCH, max_delay_s, max(max_queued, CAPTION_BATCH)), on_batch)

    @property
    def encodes_images(self) -> bool:
        """True: encoder items are wire images, (pb.Image, frame index) pairs, decoded in the
        worker processes; False: fitted uint8 arrays (n, size, size, 3)."""
        return self.encoder_pool is not None

    @property
    def batchers(self) -> tuple[DynamicBatcher, ...]:
        return self.encoder, self.gestures, self.captions

    async def close(self) -> None:
        for batcher in self.batchers:
            await batcher.stop()
        self.encoder_thread.shutdown(wait=True, cancel_futures=True)
        self.gesture_thread.shutdown(wait=True, cancel_futures=True)
        self.caption_thread.shutdown(wait=True, cancel_futures=True)
        self.decode_pool.shutdown(wait=True, cancel_futures=True)
        if self.encoder_pool is not None:
            await asyncio.to_thread(self.encoder_pool.close)

    async def run_on_decode_pool(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.decode_pool, function, *args)

    async def decode_frames(self, frames: int, function, *args):
        """function(*args) on the decode pool, counted as `frames` frames on their way to the
        encoder while it runs (the batchers do not wait for company when none is coming)."""
        self.decoding += frames
        try:
            return await self.run_on_decode_pool(function, *args)
        finally:
            self.decoding -= frames

    # -- batch functions (model thread) ----------------------------------------------------
    def _encode(self, chunks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Arrays of fitted uint8 frames (n, size, size, 3) -> their (n, D) features."""
        features = self.pipeline.runtime.encode(np.concatenate(chunks))
        return np.split(features, np.cumsum([len(c) for c in chunks[:-1]]))

    def _gesture_steps(self, chunks: Sequence[GestureChunk]) -> list[GestureChunkResult]:
        """Step every chunk's frames in time order; at step t, all chunks longer than t go
        through one gesture_step call together."""
        runtime = self.pipeline.runtime
        states = [np.stack(s) for s in zip(*[
            c.states if c.states is not None else
            [row[0] for row in runtime.gesture_initial_state(1)] for c in chunks], strict=True)]
        lengths = np.array([len(c.features) for c in chunks])
        probabilities = [[] for _ in chunks]
        for t in range(int(lengths.max())):
            active = np.flatnonzero(lengths > t)
            features = np.stack([chunks[i].features[t] for i in active])
            probs, new = runtime.gesture_step(features, [s[active] for s in states])
            for k, i in enumerate(active):
                probabilities[i].append(probs[k])
            for s, n in zip(states, new, strict=True):
                s[active] = n
        return [GestureChunkResult(np.stack(p), [s[i] for s in states])
                for i, p in enumerate(probabilities)]

    def _captions(self, requests: Sequence[CaptionRequest]) -> list[tuple[str, float]]:
        """Segments with the same length and options decode together in one beam search."""
        results: list[tuple[str, float] | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((len(r.features), r.decoding), []).append(i)
        for (_, decoding), members in groups.items():
            batch = np.stack([requests[i].features for i in members])
            for i, result in zip(members, self.pipeline.caption(batch, decoding), strict=True):
                results[i] = result
        return results


def _lower_priority() -> None:
    """Run the calling thread CAPTION_NICENESS steps nicer (Linux threads have their own);
    elsewhere, leave it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                       os.getpriority(os.PRIO_PROCESS, 0) + CAPTION_NICENESS)
    except (AttributeError, OSError):
        pass
