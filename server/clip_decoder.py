"""Clip decode worker processes for AnnotateClip's video files (the server's side).

    decoder = await ClipDecoder.start(ClipDecodeSettings(...), processes=1)
    span = await decoder.decode(data, time_limit_s, take)   # await take(times, frames) per chunk
    await decoder.close()

Encoded files are demuxed and decoded only in the workers (clip_decode_worker.py), frame by
frame, with the limits in ClipDecodeSettings; the worker sends sampled, fitted chunks and waits
for each to be taken (at most AHEAD ahead), so a long clip is never held whole on either side.
`decode` fails only its own call:
- a worker that crashes (or is killed): INVALID_ARGUMENT, "the decoder crashed (...)";
- one that runs past the time limit (clip_decode_timeout_s, or less of the call's deadline):
  it is killed, DEADLINE_EXCEEDED;
- a call that ends early (its consumer fails, or it is cancelled): the worker is killed.
A killed worker is replaced in the background, off the request path. Use on one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import numpy as np

from .clip_decode_worker import CHUNK, END, FAIL, FAILED, READY, TOO_MANY, U32
from .request_errors import RequestError, invalid

log = logging.getLogger("framescribe.server")
START_TIMEOUT_S = 60.0  # a worker's startup (imports OpenCV and numpy)
STOP_TIMEOUT_S = 5.0
RESTART_DELAY_S = 1.0  # between failed starts of a replacement
MEMORY_LIMIT_MIB = 4096  # RLIMIT_AS of a worker (a second line of defence)
_WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}

__all__ = ["ClipDecodeSettings", "ClipDecoder", "ClipSpan"]


@dataclass(frozen=True)
class ClipDecodeSettings:
    """What every job is held to (the worker's command line) and its output's shape."""

    frame_rate: float  # sampled frames per second (the model's)
    size: int  # fitted frames are (size, size, 3) uint8
    chunk_frames: int  # sampled frames per chunk
    max_pixels_per_frame: int
    max_side: int
    max_frames: int  # frames decoded (before sampling), max_frames_per_clip
    memory_limit_mib: int = MEMORY_LIMIT_MIB

    def command(self) -> list[str]:
        return [sys.executable, "-m", "framescribe.server.clip_decode_worker",
                "--frame-rate", repr(self.frame_rate), "--size", str(self.size),
                "--chunk-frames", str(self.chunk_frames),
                "--max-pixels-per-frame", str(self.max_pixels_per_frame),
                "--max-side", str(self.max_side), "--max-frames", str(self.max_frames),
                "--memory-limit-mib", str(self.memory_limit_mib)]


@dataclass(frozen=True)
class ClipSpan:
    """The sampled frames of a decoded clip: how many, and the first and last times (s)."""

    frames: int
    first_s: float
    last_s: float


class WorkerCrashed(Exception):
    """A worker's pipe closed in the middle of a job."""


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(cls, settings: ClipDecodeSettings) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            *settings.command(), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env={**_WORKER_ENV, **os.environ})
        worker = cls(process)
        try:
            greeting = await asyncio.wait_for(worker.read(len(READY)), START_TIMEOUT_S)
            if greeting != READY:
                raise WorkerCrashed("it did not greet")
        except (WorkerCrashed, TimeoutError):
            await worker.kill()
            raise RuntimeError("a clip decode worker process failed to start (exit code "
                               f"{process.returncode}; its error is in the log above)") from None
        except BaseException:  # cancelled (the decoder is closing)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise
        return worker

    async def read(self, size: int) -> bytes:
        try:
            return await self.process.stdout.readexactly(size)
        except asyncio.IncompleteReadError:
            raise WorkerCrashed("its pipe closed") from None

    async def write(self, data: bytes) -> None:
        try:
            self.process.stdin.write(data)
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise WorkerCrashed("its pipe closed") from None

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        """Close its stdin (it exits), then wait; kill it if it does not."""
        try:
            self.process.stdin.close()
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        except (OSError, TimeoutError):
            await self.kill()

    async def how_it_ended(self) -> str:
        """Why its pipe closed: the signal or exit code, once it has exited."""
        try:
            code = await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            return "its output pipe closed"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by signal {signal.Signals(-code).name}"
            return f"killed by signal {-code}"
        return f"it exited with code {code}"


class ClipDecoder:
    """`processes` clip decode workers; a job takes an idle one (or waits for one)."""

    def __init__(self, settings: ClipDecodeSettings, processes: int):
        if processes < 1:
            raise ValueError(f"a clip decoder needs at least 1 process, got {processes}")
        self.settings = settings
        self.processes = processes
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: set[_Worker] = set()
        self._replacing: set[asyncio.Task] = set()
        self.closed = False

    @classmethod
    async def start(cls, settings: ClipDecodeSettings, processes: int) -> ClipDecoder:
        """Starts the workers (in parallel) and waits until all are ready."""
        decoder = cls(settings, processes)
        started = await asyncio.gather(*(_Worker.start(settings) for _ in range(processes)),
                                       return_exceptions=True)
        for worker in started:
            if isinstance(worker, _Worker):
                decoder._add(worker)
        failed = [error for error in started if isinstance(error, BaseException)]
        if failed:
            await decoder.close()
            raise failed[0]
        return decoder

    @property
    def pids(self) -> list[int]:
        return sorted(worker.pid for worker in self._workers)

    def _add(self, worker: _Worker) -> None:
        self._workers.add(worker)
        self._idle.put_nowait(worker)

    async def decode(self, data: bytes, time_limit_s: float, deadline_limited: bool,
                     take: Callable[[np.ndarray, np.ndarray], Awaitable[None]]) -> ClipSpan:
        """Decode an encoded video file in a worker: `await take(times, frames)` for each
        chunk of sampled, fitted frames, in order, as it arrives. Everything (waiting for a
        free worker, decoding, taking) must end within time_limit_s (the call's deadline when
        deadline_limited, else clip_decode_timeout_s). RequestError for a file that is refused
        or cannot be decoded; RuntimeError (INTERNAL) for a worker's own failure."""
        if self.closed:
            raise RequestError(grpc.StatusCode.UNAVAILABLE,
                               "the server is shutting down; retry on another instance")
        path = await asyncio.to_thread(_temporary_file, data)
        try:
            async with asyncio.timeout(time_limit_s):
                worker = await self._idle.get()
                try:
                    span = await self._job(worker, path, take)
                except _Refusal:
                    self._idle.put_nowait(worker)  # it answered in full (every chunk acked)
                    raise
                except BaseException:
                    self._retire(worker)  # it may be mid-job: never reused
                    raise
                self._idle.put_nowait(worker)
                return span
        except TimeoutError:
            why = "the call's deadline" if deadline_limited else "clip_decode_timeout_s"
            raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED,
                               f"the video file took longer than {time_limit_s:.3g} s to decode "
                               f"({why}); its decoder was stopped") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    async def _job(self, worker: _Worker, path: str,
                   take: Callable[[np.ndarray, np.ndarray], Awaitable[None]]) -> ClipSpan:
        encoded = path.encode()
        size = self.settings.size
        frames_used, first, last = 0, 0.0, -np.inf
        try:
            await worker.write(U32.pack(len(encoded)) + encoded)
            while (kind := await worker.read(1)) == CHUNK:
                (count,) = U32.unpack(await worker.read(U32.size))
                if not 1 <= count <= self.settings.chunk_frames:
                    raise RuntimeError(f"a clip decode worker sent a chunk of {count} frames")
                times = np.frombuffer(await worker.read(8 * count), "<f8").astype(np.float64)
                frames = np.frombuffer(await worker.read(count * size * size * 3),
                                       np.uint8).reshape(count, size, size, 3)
                if not (np.all(np.isfinite(times)) and times[0] >= last
                        and np.all(np.diff(times) >= 0)):
                    raise RuntimeError("a clip decode worker sent times out of order")
                first = times[0] if frames_used == 0 else first
                frames_used, last = frames_used + count, float(times[-1])
                await take(times, frames)
                await worker.write(b"\x01")  # taken: the worker may run one chunk further
            if kind == END:
                return ClipSpan(frames_used, float(first), last)
            if kind != FAIL:
                raise RuntimeError(f"a clip decode worker sent {kind!r}, not a message")
            status = (await worker.read(1))[0]
            (length,) = U32.unpack(await worker.read(U32.size))
            message = (await worker.read(length)).decode(errors="replace")
        except WorkerCrashed:
            how = await worker.how_it_ended()
            log.warning("clip decode worker %d crashed on a video file (%s); another one is "
                        "started", worker.pid, how)
            raise invalid(f"the video file could not be decoded: the decoder crashed ({how}); "
                          "the file is damaged or hostile") from None
        if status == FAILED:
            raise RuntimeError(f"clip decode worker {worker.pid}: {message}")
        code = (grpc.StatusCode.RESOURCE_EXHAUSTED if status == TOO_MANY
                else grpc.StatusCode.INVALID_ARGUMENT)
        raise _Refusal(code, message)

    def _retire(self, worker: _Worker) -> None:
        """Kill a worker that may be mid-job; a replacement starts in the background."""
        self._workers.discard(worker)
        task = asyncio.get_running_loop().create_task(self._replace(worker))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _replace(self, worker: _Worker) -> None:
        await worker.kill()
        while not self.closed:
            try:
                replacement = await _Worker.start(self.settings)
            except Exception as error:  # noqa: BLE001 - logged; tried again
                log.error("%s; trying again in %g s", error, RESTART_DELAY_S)
                await asyncio.sleep(RESTART_DELAY_S)
                continue
            if self.closed:
                await replacement.stop()
            else:
                self._add(replacement)
            return

    async def close(self) -> None:
        """Stop every worker (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for task in list(self._replacing):
            task.cancel()
        await asyncio.gather(*self._replacing, return_exceptions=True)
        workers, self._workers = list(self._workers), set()
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)


class _Refusal(RequestError):
    """The worker refused the file; it answered in full and goes on serving."""


def _temporary_file(data: bytes) -> str:
    """The bytes in a new temporary file (the workers open files by path)."""
    handle, path = tempfile.mkstemp(prefix="framescribe-clip-", suffix=".video")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    return path
