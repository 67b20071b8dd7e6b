"""Encoder worker processes for a LiteRT bundle: batches of wire images -> features.

The encoder batcher calls `EncoderPool.encode` from up to `processes` threads at once; each call
takes an idle worker (encoder_worker.py), sends it the batch and waits for the reply with the
GIL released. A worker that dies is replaced, and only its batch fails (INTERNAL); a bad frame
fails only its own item (INVALID_ARGUMENT), never the other calls' frames in the batch.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from framescribe.v1 import framescribe_service_pb2 as pb

from .encoder_worker import (
    READY,
    BatchFailed,
    ItemOutcome,
    WorkerExited,
    read_exactly,
    read_reply,
    read_u32,
    write_request,
)
from .frame_decoding import FrameError

log = logging.getLogger("framescribe.server")
START_TIMEOUT_S = 120.0  # a worker's startup (imports, loading the encoder)
STOP_TIMEOUT_S = 5.0
PIPE_BUFFER = 1 << 16  # bytes buffered per pipe: small headers go out with the next frame


def default_processes() -> int:
    """Workers for this machine: one more than the cores (so a core never waits while a
    worker reads or writes its pipe), at most 8."""
    return min(8, (os.cpu_count() or 1) + 1)


class EncoderWorker:
    """One worker process and its pipes. Used by one thread at a time."""

    def __init__(self, bundle: Path, max_pixels_per_frame: int):
        command = [sys.executable, "-m", "framescribe.server.encoder_worker", str(bundle),
                   "--max-pixels-per-frame", str(max_pixels_per_frame)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        bufsize=PIPE_BUFFER)
        self.width = 0  # feature width, known once ready

    def wait_ready(self) -> None:
        """Until the worker has loaded the encoder; RuntimeError if it could not."""
        try:
            if bytes(read_exactly(self.process.stdout, len(READY))) != READY:
                raise WorkerExited("it did not greet")
            self.width = read_u32(self.process.stdout)
        except WorkerExited:
            code = self.process.wait(START_TIMEOUT_S)
            raise RuntimeError(f"an encoder worker process failed to start (exit code {code}; "
                               "its error is in the log above)") from None

    def encode(self, items: Sequence[Sequence[tuple[pb.Image, int]]]) -> list:
        """Per item, its (frames, width) features or the FrameError/RuntimeError to raise."""
        counts = [len(frames) for frames in items]
        write_request(self.process.stdin, [
            [(image.SerializeToString(), index) for image, index in frames] for frames in items])
        return [reply if not isinstance(reply, ItemOutcome) else
                FrameError(reply.refused) if reply.refused is not None else
                RuntimeError(f"the encoder worker failed on a frame: {reply.failed}")
                for reply in read_reply(self.process.stdout, counts, self.width)]

    def stop(self) -> None:
        """Close its stdin (it exits), then wait; kill it if it does not."""
        try:
            self.process.stdin.close()
            self.process.wait(STOP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


class EncoderPool:
    """`processes` EncoderWorkers on one bundle. Thread-safe; blocking calls."""

    def __init__(self, bundle: str | os.PathLike, processes: int, max_pixels_per_frame: int):
        """Starts the workers (in parallel) and waits until all are ready."""
        if processes < 1:
            raise ValueError(f"an encoder pool needs at least 1 process, got {processes}")
        self.bundle = Path(bundle)
        self.processes = processes
        self._max_pixels = max_pixels_per_frame
        self._idle: queue.SimpleQueue[EncoderWorker | None] = queue.SimpleQueue()  # None: to start
        self._all: list[EncoderWorker] = []
        self._lock = threading.Lock()
        self._closed = False
        workers = [self._spawn() for _ in range(processes)]
        try:
            with ThreadPoolExecutor(processes) as starting:
                list(starting.map(EncoderWorker.wait_ready, workers))
        except BaseException:
            self.close()
            raise
        for worker in workers:
            self._idle.put(worker)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [worker.process.pid for worker in self._all]

    def _spawn(self) -> EncoderWorker:
        worker = EncoderWorker(self.bundle, self._max_pixels)
        with self._lock:
            self._all.append(worker)
        return worker

    def encode(self, items: Sequence[Sequence[tuple[pb.Image, int]]]) -> list:
        """Per item (its (Image, frame index) pairs), its (frames, D) float32 features or the
        exception that item gets: FrameError for a bad frame, RuntimeError for a failure.
        RuntimeError for the whole batch if the worker failed or died (then it is replaced)."""
        worker = self._idle.get()
        if worker is None:  # a slot whose worker could not be restarted: try again
            worker = self._start_into_slot()
        try:
            results = worker.encode(items)
        except BatchFailed:
            self._idle.put(worker)  # it answered in full and goes on serving
            raise
        except BaseException as error:
            # Exited, or the pipe may hold half a reply: replace the worker.
            self._retire(worker)
            self._idle.put(None)
            if isinstance(error, WorkerExited | BrokenPipeError):
                raise RuntimeError("an encoder worker process exited while encoding a batch; "
                                   "another one is started") from None
            raise
        self._idle.put(worker)
        return results

    def _start_into_slot(self) -> EncoderWorker:
        """A new worker for a free slot; the slot stays free (None) if it cannot start."""
        try:
            worker = self._spawn()
            worker.wait_ready()
            return worker
        except BaseException:
            self._idle.put(None)
            raise

    def _retire(self, worker: EncoderWorker) -> None:
        code = worker.process.poll()
        log.error("encoder worker %d %s; another starts with the next batch", worker.process.pid,
                  "is out of step" if code is None else f"exited with code {code}")
        worker.process.kill()
        worker.process.wait()
        with self._lock:
            self._all.remove(worker)

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._all)
        for worker in workers:
            worker.stop()


def fitted_frames_as_images(frames: np.ndarray) -> list[pb.Image]:
    """Fitted uint8 RGB frames (n, size, size, 3) as RGB24 Images, for a worker's input."""
    height, width = frames.shape[1:3]
    return [pb.Image(format=pb.IMAGE_FORMAT_RGB24, width=width, height=height,
                     data=frame.tobytes()) for frame in frames]
