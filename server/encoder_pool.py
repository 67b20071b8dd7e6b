"""Encoder worker processes for a LiteRT bundle: batches of wire images -> features (and, on
the background workers that serve clips, the recurrent heads' gesture-step and caption
batches).

The encoder batcher calls `EncoderPool.encode` from up to `processes` threads at once; each call
takes an idle worker (encoder_worker.py), sends it the batch and waits for the reply with the
GIL released. A worker that dies, or does not answer a batch within `timeout_s` (a watchdog
thread kills it, which ends the blocked write or read), fails only its batch (RuntimeError:
INTERNAL) and is replaced by a thread in the background; meanwhile the other workers serve.
A bad frame fails only its own item (INVALID_ARGUMENT), never the other calls' frames.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
import time
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
    read_heads_reply,
    read_reply,
    read_u32,
    write_heads_request,
    write_request,
)
from .frame_decoding import FrameError

log = logging.getLogger("framescribe.server")
START_TIMEOUT_S = 120.0  # a worker's startup (imports, loading the encoder)
STOP_TIMEOUT_S = 5.0
BACKGROUND_NICENESS = 19  # background workers' OS niceness above the server's
PIPE_BUFFER = 1 << 16  # bytes buffered per pipe: small headers go out with the next frame


class WorkerFailed(RuntimeError):
    """A batch failed because its worker died, hung or could not be restarted (logged by the
    pool when it happens; the caller answers INTERNAL without another traceback)."""


def default_processes() -> int:
    """Workers for this machine: one more than the cores (so a core never waits while a
    worker reads or writes its pipe), at most 8."""
    return min(8, (os.cpu_count() or 1) + 1)


class EncoderWorker:
    """One worker process and its pipes. Used by one thread at a time."""

    def __init__(self, bundle: Path, max_pixels_per_frame: int, background: bool = False):
        """background: a worker for clips' batches (frames, gesture steps, captions), at
        BACKGROUND_NICENESS."""
        self.background = background
        command = [sys.executable, "-m", "framescribe.server.encoder_worker", str(bundle),
                   "--max-pixels-per-frame", str(max_pixels_per_frame),
                   "--niceness", str(BACKGROUND_NICENESS if background else 0)]
        if background:
            command.append("--heads")
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

    def heads(self, kind: str, items: Sequence) -> list:
        """A gesture-step or caption batch (a background worker only): read_heads_reply."""
        write_heads_request(self.process.stdin, kind, items)
        return read_heads_reply(self.process.stdout)

    def stop(self) -> None:
        """Close its stdin (it exits), then wait; kill it if it does not."""
        try:
            self.process.stdin.close()
            self.process.wait(STOP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


class Watchdog:
    """Kills a worker that has not answered its batch by its deadline (SIGKILL ends even a
    stopped process), so the thread blocked writing to it or reading from it gets
    BrokenPipeError or WorkerExited. One thread for the whole pool."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._deadlines: dict[EncoderWorker, float] = {}  # insertion order = deadline order
        self._killed: set[EncoderWorker] = set()
        self._changed = threading.Condition()
        self._closed = False
        threading.Thread(target=self._run, name="encoder-watchdog", daemon=True).start()

    def arm(self, worker: EncoderWorker) -> None:
        with self._changed:
            self._deadlines[worker] = time.monotonic() + self.timeout_s
            if len(self._deadlines) == 1:  # later deadlines never wake it sooner
                self._changed.notify()

    def disarm(self, worker: EncoderWorker) -> bool:
        """True if the worker was killed for being late."""
        with self._changed:
            self._deadlines.pop(worker, None)
            if worker in self._killed:
                self._killed.remove(worker)
                return True
            return False

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                now = time.monotonic()
                for worker, deadline in list(self._deadlines.items()):
                    if deadline > now:
                        break
                    del self._deadlines[worker]
                    self._killed.add(worker)
                    worker.process.kill()
                first = next(iter(self._deadlines.values()), None)
                self._changed.wait(None if first is None else first - now)


class EncoderPool:
    """`processes` EncoderWorkers on one bundle for live work (`encode`), and
    `background_processes` more at a lower OS priority for clips (`encode_background`), so a
    clip's frames never take CPU or a worker from a stream's. Thread-safe; blocking calls."""

    def __init__(self, bundle: str | os.PathLike, processes: int, max_pixels_per_frame: int,
                 timeout_s: float = 30.0, background_processes: int = 0):
        """Starts the workers (in parallel) and waits until all are ready. timeout_s: how long
        a worker may take to answer a batch before it is killed and replaced."""
        if processes < 1 or background_processes < 0:
            raise ValueError(f"an encoder pool needs at least 1 process (and 0 or more "
                             f"background ones), got {processes} and {background_processes}")
        if timeout_s <= 0:
            raise ValueError(f"an encoder pool's timeout must be positive, got {timeout_s} s")
        self.bundle = Path(bundle)
        self.processes = processes
        self.background_processes = background_processes
        self.timeout_s = timeout_s
        self._max_pixels = max_pixels_per_frame
        # None: a slot whose worker could not be restarted (the call that takes it tries again)
        self._idle: queue.SimpleQueue[EncoderWorker | None] = queue.SimpleQueue()
        self._idle_background: queue.SimpleQueue[EncoderWorker | None] = queue.SimpleQueue()
        self._all: list[EncoderWorker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._watchdog = Watchdog(timeout_s)
        workers = [self._spawn(background) for background in
                   [False] * processes + [True] * background_processes]
        try:
            with ThreadPoolExecutor(len(workers)) as starting:
                list(starting.map(EncoderWorker.wait_ready, workers))
        except BaseException:
            self.close()
            raise
        for worker in workers:
            self._idle_of(worker.background).put(worker)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [worker.process.pid for worker in self._all]

    def _idle_of(self, background: bool) -> queue.SimpleQueue:
        return self._idle_background if background else self._idle

    def _spawn(self, background: bool) -> EncoderWorker:
        with self._lock:  # under the lock: close() stops every worker it may start
            if self._closed:
                raise RuntimeError("the encoder pool is closed")
            worker = EncoderWorker(self.bundle, self._max_pixels, background)
            self._all.append(worker)
        return worker

    def encode(self, items: Sequence[Sequence[tuple[pb.Image, int]]]) -> list:
        """Per item (its (Image, frame index) pairs), its (frames, D) float32 features or the
        exception that item gets: FrameError for a bad frame, RuntimeError for a failure.
        RuntimeError for the whole batch if the worker failed, died or did not answer within
        timeout_s (then it is replaced in the background)."""
        return self._run(lambda worker: worker.encode(items), background=False)

    def encode_background(self, items: Sequence[Sequence[tuple[pb.Image, int]]]) -> list:
        """`encode` on a background worker (a clip's frames), if the pool has any."""
        return self._run(lambda worker: worker.encode(items),
                         background=self.background_processes > 0)

    def gesture_steps_background(self, chunks: Sequence) -> list:
        """A GestureChunkResult per GestureChunk (model_batches.py), stepped on a background
        worker: a clip's gesture steps, off the server's GIL. Fails like `encode`."""
        return self._heads("gestures", chunks)

    def caption_background(self, requests: Sequence) -> list[tuple[str, float]]:
        """(text, log_prob) per CaptionRequest (model_batches.py), beam-searched on a
        background worker: a clip's captions, off the server's GIL. Fails like `encode`."""
        return self._heads("captions", requests)

    def _heads(self, kind: str, items: Sequence) -> list:
        if not self.background_processes:
            raise RuntimeError(f"this encoder pool has no background workers for {kind}")
        return self._run(lambda worker: worker.heads(kind, items), background=True)

    def _run(self, work, background: bool):
        """work(worker) on an idle worker of the lane, under the watchdog."""
        idle = self._idle_of(background)
        worker = idle.get()
        if worker is None:
            self._replace_in_background(background=background)
            raise WorkerFailed("an encoder worker process could not be restarted (its error is "
                               "in the log); trying again")
        self._watchdog.arm(worker)
        try:
            results = work(worker)
        except BaseException as error:
            late = self._watchdog.disarm(worker)
            if isinstance(error, BatchFailed) and not late:
                idle.put(worker)  # it answered in full and goes on serving
                raise
            # Exited, killed, or the pipe may hold half a reply: replace the worker.
            self._retire(worker, late)
            if late:
                raise WorkerFailed(f"an encoder worker timed out after {self.timeout_s:g} s on "
                                   "a batch; it was killed and another one is started") from None
            if isinstance(error, WorkerExited | BrokenPipeError):
                raise WorkerFailed("an encoder worker process exited during a batch; "
                                   "another one is started") from None
            raise
        if self._watchdog.disarm(worker):  # killed as it answered: the reply is whole
            self._retire(worker, late=True)
        else:
            idle.put(worker)
        return results

    def _retire(self, worker: EncoderWorker, late: bool) -> None:
        """Log why, kill it, and start another one in the background."""
        code = worker.process.poll()
        log.error("encoder worker %d %s; another one is starting in the background",
                  worker.process.pid,
                  f"timed out after {self.timeout_s:g} s on a batch and was killed" if late else
                  "is out of step" if code is None else f"exited with code {code}")
        worker.process.kill()
        self._replace_in_background(worker, worker.background)

    def _replace_in_background(self, dead: EncoderWorker | None = None,
                               background: bool = False) -> None:
        threading.Thread(target=self._replace, args=(dead, background),
                         name="encoder-worker-start", daemon=True).start()

    def _replace(self, dead: EncoderWorker | None, background: bool) -> None:
        """Reap `dead`, then start a worker into the free slot; the slot stays free (None) if
        it cannot start. Runs on its own thread: no request waits for a worker to start."""
        if dead is not None:
            dead.process.wait()
            with self._lock:
                self._all.remove(dead)
        try:
            worker = self._spawn(background)
        except Exception as error:  # noqa: BLE001 - closed, or no process could be started
            self._lost_slot(error, background)
            return
        hung = threading.Timer(START_TIMEOUT_S, worker.process.kill)  # a start that hangs
        hung.start()
        try:
            worker.wait_ready()
        except RuntimeError as error:
            with self._lock:
                self._all.remove(worker)
            self._lost_slot(error, background)
            return
        finally:
            hung.cancel()
        log.info("encoder worker %d started", worker.process.pid)
        self._idle_of(background).put(worker)

    def _lost_slot(self, error: Exception, background: bool) -> None:
        """A replacement could not start: the slot stays free (None); the call that takes it
        fails and tries again."""
        if not self._closed:
            log.error("%s", error)
            self._idle_of(background).put(None)

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._all)
        self._watchdog.close()
        for worker in workers:
            worker.stop()


def fitted_frames_as_images(frames: np.ndarray) -> list[pb.Image]:
    """Fitted uint8 RGB frames (n, size, size, 3) as RGB24 Images, for a worker's input."""
    height, width = frames.shape[1:3]
    return [pb.Image(format=pb.IMAGE_FORMAT_RGB24, width=width, height=height,
                     data=frame.tobytes()) for frame in frames]
