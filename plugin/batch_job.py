"""`framescribe batch`'s core, shared by both engines: options, the job's identity (options
hash), decoding, batched inference, writing a file's outputs, and recording them.

    from framescribe.plugin.batch_job import BatchOptions, run_job
    summary = run_job(["/archive/tapes"], "captions/", BatchOptions(bundle="models/bundles/demo"))

A job is (INPUTS, OUTDIR, options). Each input's outputs are ``OUTDIR/<name>.<format>`` (name:
see batch_inputs), written by the subtitle writers (plugin/subtitles.py) through
``write_atomically`` (temporary file beside the target, fsync, rename), then recorded ``done``
in OUTDIR/manifest.jsonl (batch_manifest). The options hash covers everything that decides the
outputs (bundle identity, runtime, tasks, formats, pipeline options), not the engine or the
worker counts, so a job resumes across engines. The engines: batch_local (one process, the
default) and batch_ray (Ray Data). Model code is imported only when a job runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from framescribe.plugin.batch_inputs import BatchInput, InputError, expand_inputs
from framescribe.plugin.batch_manifest import (
    BatchManifest,
    clean_temporary_files,
    is_done,
    last_done,
    last_records,
    new_run_id,
)

FORMATS = ("vtt", "srt", "json", "jsonl")
DEFAULT_FORMATS = ("vtt", "srt", "json")
TASKS = ("captions", "gestures")
ENGINES = ("local", "ray")
RUNTIMES = ("tf", "litert")
ENCODE_BATCH = 256  # frames per encoder call, gathered across files
CHUNK_FRAMES = 64  # frames per decoded chunk (what the local engine's queue holds)


@dataclass(frozen=True)
class BatchOptions:
    """How to run a job. tasks None: every task the bundle has a model for; segment_frames
    None: the bundle's; min_confidence None: the bundle's tuned gesture event options."""

    bundle: str
    tasks: tuple[str, ...] | None = None
    formats: tuple[str, ...] = DEFAULT_FORMATS
    runtime: str = "tf"
    segment_frames: int | None = None
    beam_size: int = 3
    min_confidence: float | None = None
    engine: str = "local"
    workers: int = 2  # decode workers: threads (local) or concurrent decode tasks (Ray)
    resume: bool = True
    ray_address: str | None = None  # None: start a local Ray for the job; "auto": join one
    ray_actors: int | None = None  # inference actors (None: one per GPU, else CPUs // 4)
    ray_num_cpus: int | None = None  # CPUs of a local Ray started for the job (None: all)

    def __post_init__(self):
        if not self.formats or set(self.formats) - set(FORMATS):
            raise ValueError(f"formats must be a non-empty subset of {', '.join(FORMATS)}, "
                             f"got {','.join(self.formats)}")
        if self.tasks is not None and (not self.tasks or set(self.tasks) - set(TASKS)):
            raise ValueError(f"tasks must be a non-empty subset of {', '.join(TASKS)}, got "
                             f"{','.join(self.tasks)}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got "
                             f"{self.runtime!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if not 1 <= self.beam_size <= 16:
            raise ValueError(f"beam size must be 1-16, got {self.beam_size}")
        if self.segment_frames is not None and not 2 <= self.segment_frames <= 1024:
            raise ValueError(f"segment frames must be 2-1024, got {self.segment_frames}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min confidence must be 0-1, got {self.min_confidence}")
        for name in ("ray_actors", "ray_num_cpus"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be >= 1, got {value}")


# -- the job's identity ---------------------------------------------------------------------
@dataclass(frozen=True)
class JobSpec:
    """What decides a file's outputs; its options_hash is recorded with every done file."""

    bundle: str  # directory
    bundle_name: str
    bundle_version: str
    bundle_id: str  # hash of the manifest's model files (SHA-256s) and inference settings
    runtime: str
    tasks: tuple[str, ...]
    formats: tuple[str, ...]
    frame_rate: float
    input_size: int
    pipeline: dict[str, Any]  # resolved PipelineOptions as JSON

    @property
    def options_hash(self) -> str:
        return _hash({"bundle_id": self.bundle_id, "runtime": self.runtime,
                      "tasks": list(self.tasks), "formats": list(self.formats),
                      "pipeline": self.pipeline})

    @property
    def bundle_label(self) -> str:
        return f"{self.bundle_name}@{self.bundle_version}"

    def pipeline_options(self):
        from framescribe.models.inference.caption_search import DecodingOptions
        from framescribe.models.inference.gesture_events import EventOptions
        from framescribe.models.inference.pipeline import PipelineOptions

        return PipelineOptions(tasks=self.tasks,
                               segment_frames=self.pipeline["segment_frames"],
                               decoding=DecodingOptions(**self.pipeline["decoding"]),
                               events=EventOptions(**self.pipeline["events"]))

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"options_hash": self.options_hash}


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bundle_identity(directory: str | os.PathLike[str], manifest, runtime: str) -> str:
    """A hash of what makes the bundle's outputs: name, version, every model file's SHA-256
    and config, and the inference settings (not its recorded metrics or training log)."""
    from pathlib import Path

    from framescribe.models.bundle.model_bundle import file_sha256

    def entry(e):
        if e is None:
            return None
        return {"file": e.file, "config": e.config, "version": e.version,
                "sha256": e.sha256 or file_sha256(Path(directory) / e.file)}

    identity = {
        "name": manifest.name, "version": manifest.version,
        "format_version": manifest.format_version, "frame_rate": manifest.frame_rate,
        "caption_segment_frames": manifest.caption_segment_frames,
        "caption_max_length": manifest.caption_max_length,
        "gesture_event_options": manifest.gesture_event_options,
        "gesture_input": manifest.gesture_input,
        "encoder": entry(manifest.encoder), "caption_decoder": entry(manifest.caption_decoder),
        "gesture_classifier": entry(manifest.gesture_classifier),
    }
    if runtime == "litert" and manifest.litert is not None:
        identity["litert"] = {role: m.sha256 for role, m in sorted(manifest.litert.models.items())}
    return _hash(identity)


def job_spec(options: BatchOptions) -> JobSpec:
    """Read the bundle's manifest (no TensorFlow) and resolve the options against it."""
    from dataclasses import replace

    from framescribe.models.bundle.model_bundle import read_manifest
    from framescribe.models.inference.caption_search import DecodingOptions
    from framescribe.models.inference.gesture_events import EventOptions

    manifest = read_manifest(options.bundle)
    if manifest.encoder is None:
        raise ValueError(f"{options.bundle}: this bundle reads landmarks, not video frames")
    available = tuple(task for task, model in (("captions", manifest.caption_decoder),
                                               ("gestures", manifest.gesture_classifier))
                      if model is not None
                      and (task != "gestures" or manifest.gesture_input == "frames"))
    tasks = options.tasks or available
    missing = [t for t in tasks if t not in available]
    if missing:
        raise ValueError(f"{options.bundle}: the bundle has no {missing[0]} model for video "
                         f"frames (it has: {', '.join(available) or 'none'})")
    events = EventOptions(**manifest.gesture_event_options)
    if options.min_confidence is not None:
        events = replace(events, min_confidence=options.min_confidence)
    decoding = DecodingOptions(beam_size=options.beam_size,
                               max_length=manifest.caption_max_length)
    pipeline = {"segment_frames": options.segment_frames or manifest.caption_segment_frames,
                "decoding": asdict(decoding), "events": asdict(events)}
    return JobSpec(
        bundle=os.path.abspath(options.bundle), bundle_name=manifest.name,
        bundle_version=manifest.version,
        bundle_id=bundle_identity(options.bundle, manifest, options.runtime),
        runtime=options.runtime, tasks=tuple(t for t in TASKS if t in tasks),
        formats=tuple(f for f in FORMATS if f in options.formats),
        frame_rate=manifest.frame_rate, input_size=manifest.input_size, pipeline=pipeline)


# -- the steps, shared by both engines ------------------------------------------------------
@dataclass
class FileResult:
    """What an engine hands back for one input (its index in the job's to-do list)."""

    index: int
    annotation: Any = None  # framescribe.models.inference.pipeline.Annotation when it worked
    error: str | None = None
    error_type: str | None = None
    stage: str | None = None  # decode, inference, write
    decode_s: float = 0.0
    infer_s: float = 0.0

    @classmethod
    def failure(cls, index: int, error: BaseException, stage: str, **timings) -> FileResult:
        return cls(index, error=str(error) or type(error).__name__,
                   error_type=type(error).__name__, stage=stage, **timings)


def decode_chunks(path: str, frame_rate: float, input_size: int,
                  chunk_frames: int = CHUNK_FRAMES) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A video's frames sampled to the model's rate and fitted to its input, in chunks:
    (frames (n, size, size, 3) uint8, timestamps (n,) s). VideoError names a bad file."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # the failure record says enough
    from framescribe.models.inference.video_frames import fit_frame, read_video, sample_frames

    images: list[np.ndarray] = []
    times: list[float] = []
    for frame in sample_frames(read_video(path), frame_rate):
        images.append(fit_frame(frame.image, input_size))
        times.append(frame.timestamp)
        if len(images) == chunk_frames:
            yield np.stack(images), np.asarray(times, np.float64)
            images, times = [], []
    if images:
        yield np.stack(images), np.asarray(times, np.float64)


def decode_file(path: str, frame_rate: float, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """All of a video's frames at once (see decode_chunks)."""
    chunks = list(decode_chunks(path, frame_rate, input_size))
    if not chunks:
        from framescribe.models.inference.video_frames import VideoError

        raise VideoError(f"{path}: no frames")
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def encode_many(pipeline, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Features of several files' frames: one encoder call per ENCODE_BATCH frames, files
    packed together (the encoder's batch is what keeps a GPU busy)."""
    sizes = [len(f) for f in frames]
    if not sum(sizes):
        return [np.zeros((0, 0), np.float32) for _ in frames]
    packed = np.concatenate(frames)
    features = np.concatenate([pipeline.encode(packed[i:i + ENCODE_BATCH])
                               for i in range(0, len(packed), ENCODE_BATCH)])
    return np.split(features, np.cumsum(sizes)[:-1])


def annotate_features(pipeline, features: np.ndarray, times: np.ndarray, options):
    """A file's Annotation from its frame features, as Pipeline.annotate computes it."""
    from framescribe.models.inference.pipeline import Annotation

    captions = pipeline.caption_segments(features, times, options) \
        if "captions" in options.tasks else ()
    gestures = pipeline.gesture_events(features, times, options) \
        if "gestures" in options.tasks else ()
    return Annotation(tuple(captions), tuple(gestures), len(times),
                      float(times[-1] - times[0] + 1.0 / pipeline.manifest.frame_rate))


def annotation_to_json(annotation) -> str:
    """An Annotation as JSON (floats round-trip exactly), to cross process boundaries."""
    return json.dumps({"captions": [asdict(c) for c in annotation.captions],
                       "gestures": [asdict(g) for g in annotation.gestures],
                       "frames": annotation.frames, "duration": annotation.duration})


def annotation_from_json(text: str):
    from framescribe.models.inference.pipeline import Annotation, CaptionSegment, GestureEvent

    raw = json.loads(text)
    return Annotation(tuple(CaptionSegment(**c) for c in raw["captions"]),
                      tuple(GestureEvent(**g) for g in raw["gestures"]),
                      int(raw["frames"]), float(raw["duration"]))


def write_outputs(outdir: str, name: str, annotation, formats: Sequence[str]) -> list[dict]:
    """Write one file's outputs with the subtitle writers, each atomically (a temporary file
    beside it, fsync, rename): [{path (relative to outdir), sha256, bytes}]."""
    from framescribe.plugin.atomic_files import write_atomically
    from framescribe.plugin.subtitles import get_writer, in_time_order

    events = in_time_order([*annotation.captions, *annotation.gestures])
    written = []
    for fmt in formats:
        relative = f"{name}.{fmt}"
        path = os.path.join(outdir, *relative.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = get_writer(fmt).to_string(events)
        write_atomically(path, data)
        encoded = data.encode("utf-8")
        written.append({"path": relative, "sha256": hashlib.sha256(encoded).hexdigest(),
                        "bytes": len(encoded)})
    return written


# -- recording, progress, summary -----------------------------------------------------------
class JobProgress(Protocol):
    """What a job reports while it runs (the CLI draws a progress line from it)."""

    def begin(self, total: int, skipped: int, engine: str) -> None: ...

    def file_finished(self, path: str, frames: int, error: str | None) -> None: ...

    def end(self) -> None: ...


class _NoProgress:
    def begin(self, total: int, skipped: int, engine: str) -> None:
        pass

    def file_finished(self, path: str, frames: int, error: str | None) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass
class BatchSummary:
    outdir: str
    run_id: str
    engine: str
    options_hash: str
    inputs: int = 0
    to_do: int = 0
    skipped: int = 0  # done by an earlier run with the same bundle and options
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, error)
    resumed_in_flight: int = 0  # were started, never finished, by a run that was killed
    temporary_files_removed: int = 0
    frames: int = 0  # frames captioned (sampled to the model's rate)
    video_seconds: float = 0.0
    elapsed_s: float = 0.0  # the whole run, model loading included
    first_result_s: float | None = None  # from the start to the first file finished
    interrupted: bool = False

    @property
    def manifest(self) -> str:
        from framescribe.plugin.batch_manifest import MANIFEST_NAME

        return os.path.join(self.outdir, MANIFEST_NAME)

    @property
    def finished(self) -> int:
        return self.done + len(self.failed)

    @property
    def files_per_s(self) -> float:
        return self.finished / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


class Recorder:
    """Turns an engine's FileResults into output files and manifest records. Engines call
    ``started`` (any thread) and ``finished`` (one thread)."""

    def __init__(self, manifest: BatchManifest, spec: JobSpec, outdir: str, run_id: str,
                 engine: str, todo: Sequence[BatchInput], summary: BatchSummary,
                 progress: JobProgress):
        self.manifest, self.spec, self.outdir = manifest, spec, outdir
        self.run_id, self.engine, self.todo = run_id, engine, todo
        self.summary, self.progress = summary, progress
        self.start = time.monotonic()

    def _record(self, event: str, item: BatchInput, **fields) -> dict[str, Any]:
        return {"event": event, "run": self.run_id, "time": round(time.time(), 3),
                "path": item.path, "name": item.name, **fields}

    def started(self, index: int) -> None:
        self.manifest.append(self._record("started", self.todo[index]))

    def started_all(self) -> None:
        """Record every input as handed to the engine, with one fsync (Ray takes them all)."""
        self.manifest.append_many(self._record("started", item) for item in self.todo)

    def finished(self, result: FileResult) -> None:
        item = self.todo[result.index]
        if result.annotation is not None:
            begin = time.perf_counter()
            try:
                outputs = write_outputs(self.outdir, item.name, result.annotation,
                                        self.spec.formats)
            except (OSError, ValueError) as error:  # disk full, a name the filesystem refuses
                result = FileResult.failure(result.index, error, "write",
                                            decode_s=result.decode_s, infer_s=result.infer_s)
            else:
                annotation = result.annotation
                self.manifest.append(self._record(
                    "done", item, options_hash=self.spec.options_hash,
                    bundle=self.spec.bundle_label, bundle_id=self.spec.bundle_id,
                    source=item.fingerprint, frames=annotation.frames,
                    duration=round(annotation.duration, 3),
                    captions=len(annotation.captions), gestures=len(annotation.gestures),
                    outputs=outputs, engine=self.engine,
                    timings={"decode_s": round(result.decode_s, 4),
                             "infer_s": round(result.infer_s, 4),
                             "write_s": round(time.perf_counter() - begin, 4)}))
                self.summary.done += 1
                self.summary.frames += annotation.frames
                self.summary.video_seconds += annotation.duration
                self._finished(item, annotation.frames, None)
                return
        self.manifest.append(self._record(
            "failed", item, stage=result.stage, error_type=result.error_type,
            error=result.error, options_hash=self.spec.options_hash, engine=self.engine))
        self.summary.failed.append((item.path, result.error or "failed"))
        self._finished(item, 0, result.error)

    def _finished(self, item: BatchInput, frames: int, error: str | None) -> None:
        if self.summary.first_result_s is None:
            self.summary.first_result_s = time.monotonic() - self.start
        self.progress.file_finished(item.path, frames, error)


Engine = Callable[[Sequence[BatchInput], JobSpec, Recorder, BatchOptions], None]


def _engine(name: str) -> Engine:
    if name == "ray":
        from framescribe.plugin.batch_ray import import_ray, run_ray

        import_ray()  # RuntimeError saying how to install it, before any work
        return run_ray
    from framescribe.plugin.batch_local import run_local

    return run_local


def run_job(inputs: Sequence[str | os.PathLike[str]], outdir: str | os.PathLike[str],
            options: BatchOptions, progress: JobProgress | None = None) -> BatchSummary:
    """Caption every video of ``inputs`` into ``outdir`` (see the module docstring). Returns
    the run's summary; a Ctrl-C ends the run early with ``interrupted`` set (a rerun resumes).
    InputError/BundleError/ValueError before any work for bad inputs or options."""
    progress = progress or _NoProgress()
    outdir = os.path.abspath(outdir)
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise InputError(f"{outdir}: not a directory")
    spec = job_spec(options)
    engine = _engine(options.engine)
    items = expand_inputs(inputs, exclude=[outdir])
    if not items:
        raise InputError(f"no video files in {', '.join(map(str, inputs))} (by extension: "
                         "mp4, mov, mkv, webm, avi, ...; name a file to take it whatever "
                         "its extension)")
    with BatchManifest(outdir) as manifest:
        summary = BatchSummary(outdir, new_run_id(), options.engine, spec.options_hash,
                               inputs=len(items))
        summary.temporary_files_removed = clean_temporary_files(outdir)
        done = last_done(manifest.records) if options.resume else {}
        last = last_records(manifest.records)
        todo = [item for item in items if not is_done(done.get(item.path), spec.options_hash,
                                                      item.fingerprint, outdir)]
        summary.to_do, summary.skipped = len(todo), len(items) - len(todo)
        summary.resumed_in_flight = sum(
            1 for item in todo if last.get(item.path, {}).get("event") == "started")
        manifest.append({
            "event": "run", "run": summary.run_id, "time": round(time.time(), 3),
            "engine": options.engine, "resume": options.resume,
            "options_hash": spec.options_hash,
            "bundle": {"name": spec.bundle_name, "version": spec.bundle_version,
                       "id": spec.bundle_id, "path": spec.bundle},
            "options": {"runtime": spec.runtime, "tasks": list(spec.tasks),
                        "formats": list(spec.formats), "pipeline": spec.pipeline,
                        "workers": options.workers},
            "inputs": len(items), "to_do": len(todo), "skipped": summary.skipped,
            "host": socket.gethostname(), "pid": os.getpid()})
        recorder = Recorder(manifest, spec, outdir, summary.run_id, options.engine, todo,
                            summary, progress)
        progress.begin(len(todo), summary.skipped, options.engine)
        start = time.monotonic()
        error: BaseException | None = None
        try:
            if todo:
                engine(todo, spec, recorder, options)
        except KeyboardInterrupt:
            summary.interrupted = True
        except BaseException as raised:
            error = raised
            raise
        finally:
            summary.elapsed_s = time.monotonic() - start
            progress.end()
            manifest.append({
                "event": "run_end", "run": summary.run_id, "time": round(time.time(), 3),
                "done": summary.done, "failed": len(summary.failed),
                "skipped": summary.skipped, "interrupted": summary.interrupted,
                "error": None if error is None else f"{type(error).__name__}: {error}",
                "frames": summary.frames, "elapsed_s": round(summary.elapsed_s, 3)})
    return summary
