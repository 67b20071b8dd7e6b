"""The local engine of `framescribe batch` (the default): one process, no server.

Decode workers (threads: OpenCV decodes and resizes without the GIL) each take the next file,
decode it, sample it to the model's frame rate and fit it to the encoder's input, and put it
on a bounded queue in chunks of CHUNK_FRAMES frames. The model thread takes whatever chunks are
queued (up to ENCODE_BATCH frames, from any files), encodes them in one call, and when a file's
last chunk is encoded runs its caption decoder and gesture classifier and hands the result to
the recorder (outputs, then the manifest's done record). So decoding overlaps inference, the
encoder runs batched across files, and memory stays bounded by the queue (plus the features of
the files in flight). A file that cannot be decoded or annotated is recorded as failed and the
job goes on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from framescribe.plugin.batch_inputs import BatchInput
from framescribe.plugin.batch_job import Recorder
from framescribe.plugin.batch_spec import BatchOptions, JobSpec
from framescribe.plugin.batch_steps import (
    CHUNK_FRAMES,
    ENCODE_BATCH,
    FileResult,
    annotate_features,
    decode_chunks,
    encode_many,
)

QUEUED_CHUNKS_PER_WORKER = 2
PUT_POLL_S = 0.2  # how often a worker blocked on a full queue checks whether to stop


@dataclass
class _Chunk:
    index: int
    frames: np.ndarray
    times: np.ndarray
    last: bool
    decode_s: float


@dataclass
class _Failed:
    index: int
    error: BaseException
    decode_s: float


class _WorkerDone:
    pass


@dataclass
class _InFlight:
    features: list[np.ndarray] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)
    decode_s: float = 0.0
    infer_s: float = 0.0


def load_pipeline(spec: JobSpec):
    """The bundle's pipeline on the job's runtime (TensorFlow is imported here, if at all)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from framescribe.models.inference.pipeline import Pipeline

    return Pipeline.from_bundle(spec.bundle, runtime=spec.runtime)


def run_local(todo: Sequence[BatchInput], spec: JobSpec, recorder: Recorder,
              options: BatchOptions, pipeline=None) -> None:
    """Caption ``todo`` in this process, handing each FileResult to ``recorder``."""
    pipeline = pipeline or load_pipeline(spec)
    pipeline_options = spec.settings()
    workers = max(1, min(options.workers, len(todo)))
    files: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(todo)):
        files.put(index)
    chunks: queue.Queue = queue.Queue(maxsize=QUEUED_CHUNKS_PER_WORKER * workers + 1)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def decode_worker() -> None:
        try:
            while not stop.is_set():
                try:
                    index = files.get_nowait()
                except queue.Empty:
                    return
                recorder.started(index)
                if not _decode_one(index, todo[index].path, spec, put):
                    return
        finally:
            put(_WorkerDone())

    threads = [threading.Thread(target=decode_worker, name=f"batch-decode-{n}", daemon=True)
               for n in range(workers)]
    for thread in threads:
        thread.start()
    try:
        _model_loop(chunks, workers, pipeline, pipeline_options, recorder)
    finally:
        stop.set()
        while any(t.is_alive() for t in threads):  # unblock workers waiting on a full queue
            try:
                chunks.get(timeout=PUT_POLL_S)
            except queue.Empty:
                pass
        for thread in threads:
            thread.join()


def _decode_one(index: int, path: str, spec: JobSpec, put) -> bool:
    """Queue one file's chunks (or its failure); False when the job is stopping."""
    decode_s = 0.0
    stream = decode_chunks(path, spec.frame_rate, spec.input_size, CHUNK_FRAMES,
                           spec.landmark_kind)
    pending = None
    try:
        while True:
            begin = time.perf_counter()
            try:
                chunk = next(stream)
            except StopIteration:
                chunk = None
            decode_s += time.perf_counter() - begin
            if pending is not None:  # hold one chunk back to know which one is the last
                frames, times = pending
                if not put(_Chunk(index, frames, times, chunk is None, decode_s)):
                    return False
                decode_s = 0.0
            if chunk is None:
                if pending is None:  # read_video raises first; never lose a file silently
                    from framescribe.models.video import VideoError

                    raise VideoError(f"{path}: no frames")
                return True
            pending = chunk
    except Exception as error:  # VideoError, or anything else a broken file provokes
        return put(_Failed(index, error, decode_s))
    finally:
        stream.close()


def _model_loop(chunks: queue.Queue, workers: int, pipeline, pipeline_options,
                recorder: Recorder) -> None:
    in_flight: dict[int, _InFlight] = {}
    remaining = workers
    while remaining:
        items = [chunks.get()]
        frames = _frames(items[0])
        while frames < ENCODE_BATCH:  # gather what else is queued, across files
            try:
                item = chunks.get_nowait()
            except queue.Empty:
                break
            items.append(item)
            frames += _frames(item)
        batch = [i for i in items if isinstance(i, _Chunk)]
        if batch:
            begin = time.perf_counter()
            features = encode_many(pipeline, [c.frames for c in batch])
            per_frame = (time.perf_counter() - begin) / max(1, frames)
            for chunk, encoded in zip(batch, features, strict=True):
                state = in_flight.setdefault(chunk.index, _InFlight())
                state.features.append(encoded)
                state.times.append(chunk.times)
                state.decode_s += chunk.decode_s
                state.infer_s += per_frame * len(chunk.frames)
        for item in items:
            if isinstance(item, _WorkerDone):
                remaining -= 1
            elif isinstance(item, _Failed):
                state = in_flight.pop(item.index, _InFlight())
                recorder.finished(FileResult.failure(
                    item.index, item.error, "decode", decode_s=state.decode_s + item.decode_s))
            elif item.last:
                recorder.finished(_annotate(pipeline, pipeline_options, item.index,
                                            in_flight.pop(item.index)))


def _frames(item) -> int:
    return len(item.frames) if isinstance(item, _Chunk) else 0


def _annotate(pipeline, pipeline_options, index: int, state: _InFlight) -> FileResult:
    begin = time.perf_counter()
    try:
        annotation = annotate_features(pipeline, np.concatenate(state.features),
                                       np.concatenate(state.times), pipeline_options)
    except Exception as error:  # a model error on one file must not end the job
        return FileResult.failure(index, error, "inference", decode_s=state.decode_s,
                                  infer_s=state.infer_s + time.perf_counter() - begin)
    return FileResult(index, annotation, decode_s=state.decode_s,
                      infer_s=state.infer_s + time.perf_counter() - begin)
