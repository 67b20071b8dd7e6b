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
seconds; its thread runs at a lower OS priority, CAPTION_NICENESS). With background workers, a
clip's gesture steps and captions go to them instead (model_batches.py, the same code): a
niced thread in this process would still hold its GIL, and the event loop and the live lane
wait for it. So a batch of gesture steps never waits behind a batch of frames or of captions.
Each model is its own interpreter (LiteRT) or tf.function (TF) and is only ever called from
its one thread.
Within each batcher a live stream's items go ahead of a clip's (DynamicBatcher priorities).
Every model step is the Pipeline's (no second implementation): `runtime.encode`,
`runtime.gesture_step`, `Pipeline.caption` (caption_batch.py).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from framescribe.models.inference.pipeline import Pipeline

from .dynamic_batcher import BACKGROUND, LIVE, BatcherOptions, DynamicBatcher
from .encoder_pool import EncoderPool
from .model_batches import (
    CaptionRequest,
    GestureChunk,
    GestureChunkResult,
    caption_batch,
    gesture_step_batch,
)

GESTURE_BATCH = 256  # streams per gesture-step batch
CAPTION_BATCH = 16  # segments per caption batch (a clip's captions interleave with streams')
# A clip's frames per gesture-step item: on the live lane's thread (no background workers) a
# live step waits behind at most this many clip steps; background workers take bigger ones.
CLIP_GESTURE_FRAMES, BACKGROUND_CLIP_GESTURE_FRAMES = 8, 64
CAPTION_NICENESS = 10  # the caption thread's OS niceness above the server's (Linux)


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
        # Live streams' gesture steps run on this thread; with background workers a clip's go
        # to them (the threads beyond the first only wait on their pipes).
        self.gesture_thread = ThreadPoolExecutor(1 + background_calls,
                                                 thread_name_prefix="framescribe-gestures")
        # A live stream's captions decode on this thread; with background workers a clip's
        # go to them (the threads beyond the first only wait on their pipes).
        self.caption_thread = ThreadPoolExecutor(1 + background_calls,
                                                 thread_name_prefix="framescribe-captions",
                                                 initializer=_lower_priority)
        self.decode_pool = ThreadPoolExecutor(decode_threads,
                                              thread_name_prefix="framescribe-decode")
        # frames on the decode pool now, by priority (they go to the encoder next)
        self.decoding: dict[int, int] = {LIVE: 0, BACKGROUND: 0}
        # With workers nothing is decoded before the encoder (decoding stays 0): a batch starts
        # as soon as a worker is free, and grows while all of them are busy.
        frames = BatcherOptions(max_batch_size, max_delay_s, max_queued, encoder_calls,
                                max(1, background_calls))
        encode = encoder_pool.encode if encoder_pool is not None else self._encode
        self.encoder = DynamicBatcher(
            "encoder", encode, self.encoder_thread, frames, on_batch,
            upstream=self.decoding.__getitem__, size_of=len,
            process_background=encoder_pool.encode_background if background_calls else None)
        self.gestures = DynamicBatcher(
            "gesture_step", self._gesture_steps, self.gesture_thread,
            BatcherOptions(GESTURE_BATCH, max_delay_s, max(max_queued, GESTURE_BATCH), 1,
                           max(1, background_calls)), on_batch,
            upstream=lambda priority: self.decoding[priority] + self.encoder.pending_of(priority),
            process_background=(encoder_pool.gesture_steps_background if background_calls
                                else None))
        self.captions = DynamicBatcher(
            "caption", self._captions, self.caption_thread,
            BatcherOptions(CAPTION_BATCH, max_delay_s, max(max_queued, CAPTION_BATCH), 1,
                           max(1, background_calls)), on_batch,
            process_background=encoder_pool.caption_background if background_calls else None)

    @property
    def clip_gesture_frames(self) -> int:
        """Frames per gesture-step item of a clip (see CLIP_GESTURE_FRAMES)."""
        background = self.encoder_pool is not None and self.encoder_pool.background_processes
        return BACKGROUND_CLIP_GESTURE_FRAMES if background else CLIP_GESTURE_FRAMES

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

    async def decode_frames(self, frames: int, priority: int, function, *args):
        """function(*args) on the decode pool, counted as `frames` frames of `priority` on their
        way to the encoder while it runs (the batchers do not wait for company when none is
        coming)."""
        self.decoding[priority] += frames
        try:
            return await self.run_on_decode_pool(function, *args)
        finally:
            self.decoding[priority] -= frames

    # -- batch functions (model thread) ----------------------------------------------------
    def _encode(self, chunks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Arrays of fitted uint8 frames (n, size, size, 3) -> their (n, D) features."""
        features = self.pipeline.runtime.encode(np.concatenate(chunks))
        return np.split(features, np.cumsum([len(c) for c in chunks[:-1]]))

    def _gesture_steps(self, chunks: Sequence[GestureChunk]) -> list[GestureChunkResult]:
        return gesture_step_batch(self.pipeline.runtime, chunks)

    def _captions(self, requests: Sequence[CaptionRequest]) -> list[tuple[str, float]]:
        return caption_batch(self.pipeline, requests)


def _lower_priority() -> None:
    """Run the calling thread CAPTION_NICENESS steps nicer (Linux threads have their own);
    elsewhere, leave it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                       os.getpriority(os.PRIO_PROCESS, 0) + CAPTION_NICENESS)
    except (AttributeError, OSError):
        pass
