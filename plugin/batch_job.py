"""`framescribe batch`'s job: the inputs still to do, the engine that runs them, and recording
each file's outcome (batch_spec: options and the job's identity; batch_steps: the steps the
engines share).

    from framescribe.plugin.batch_job import run_job
    from framescribe.plugin.batch_spec import BatchOptions
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

import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from framescribe.plugin.batch_inputs import BatchInput, InputError, expand_inputs
from framescribe.plugin.batch_manifest import (
    BatchManifest,
    clean_temporary_files,
    is_done,
    last_done,
    last_records,
    new_run_id,
)
from framescribe.plugin.batch_spec import BatchOptions, JobSpec, job_spec
from framescribe.plugin.batch_steps import FileResult, write_outputs


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
