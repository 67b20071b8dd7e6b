"""The Ray engine of `framescribe batch` (``--engine ray``; ``pip install 'framescribe[ray]'``).

The same job on Ray Data: the files to do become a dataset; decoding runs as Ray tasks (half a
CPU each, at most ``--workers`` at a time); inference runs in an actor pool
(``compute=ActorPoolStrategy(size=N)``), each actor holding the bundle's pipeline and encoding
the frames of several files per call (one GPU per actor when the cluster has GPUs). Results
stream back to this process (the driver), which writes every file's outputs with the same
writers and records them in the same manifest as the local engine, so outputs are identical
and a job resumes across engines.

``--ray-address auto`` (or ``ray://...``, or host:port) joins a running cluster; without it a
local Ray is started for the job (``--ray-num-cpus`` CPUs, default all) and stopped after. On a
cluster, every node must see the input files at the same paths (a shared filesystem) and have
framescribe installed; only the driver writes outputs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import numpy as np

from framescribe.models.data.islr_layout import ISLR_LANDMARKS
from framescribe.plugin.batch_inputs import BatchInput
from framescribe.plugin.batch_job import Recorder
from framescribe.plugin.batch_spec import BatchOptions, JobSpec
from framescribe.plugin.batch_steps import (
    FileResult,
    annotate_features,
    annotation_from_json,
    annotation_to_json,
    decode_file,
    encode_many,
)

FILES_PER_CALL = 8  # files per actor call (their frames are encoded together)
DECODE_CPUS = 0.5  # CPUs a decode task reserves (also keeps Ray from fusing it into the actors)
CPUS_PER_ACTOR_WITHOUT_GPU = 4  # default pool size on CPU clusters: total CPUs / this
RAY_MISSING = ("the ray engine needs Ray Data: pip install 'framescribe[ray]' (or run the "
               "default local engine: --engine local)")
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "OPENCV_FFMPEG_LOGLEVEL": "8"}
# Ray notices that say nothing to a batch user: that token auth is on (the default of a local
# Ray), that Ray's progress bars are off (the CLI draws its own).
QUIET_LOGGERS = ("ray._private.authentication.authentication_token_setup",
                 "ray.data._internal.progress")


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the extra installs ray[data])
    except ImportError:
        raise RuntimeError(RAY_MISSING) from None
    return ray


def decode_row(row: dict, frame_rate: float, input_size: int,
               landmark_kind: str | None = None) -> dict:
    """Ray task: one file -> its frames and times, or the error that stopped it."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    begin = time.perf_counter()
    try:
        frames, times = decode_file(row["path"], frame_rate, input_size, landmark_kind)
        error = error_type = ""
    except Exception as raised:  # recorded as failed; the job goes on
        frames = (np.zeros((0, input_size, input_size, 3), np.uint8) if landmark_kind is None
                  else np.zeros((0, ISLR_LANDMARKS, 3), np.float32))
        times = np.zeros((0,), np.float64)
        error, error_type = str(raised) or type(raised).__name__, type(raised).__name__
    return {"index": row["index"], "frames": frames, "times": times, "error": error,
            "error_type": error_type, "decode_s": time.perf_counter() - begin}


class Annotator:
    """Ray actor: the bundle's pipeline, loaded once; one call annotates a batch of files."""

    def __init__(self, spec: dict):
        for name, value in QUIET_ENV.items():
            os.environ.setdefault(name, value)
        from framescribe.models.inference.pipeline import Pipeline

        self.spec = JobSpec(**{**spec, "tasks": tuple(spec["tasks"]),
                               "formats": tuple(spec["formats"])})
        self.pipeline = Pipeline.from_bundle(self.spec.bundle, runtime=self.spec.runtime)
        self.options = self.spec.settings()

    def __call__(self, batch: dict) -> dict:
        count = len(batch["index"])
        out = {"index": np.asarray(batch["index"], np.int64),
               "annotation": np.full(count, "", dtype=object),
               "error": np.asarray([str(e) for e in batch["error"]], dtype=object),
               "error_type": np.asarray([str(e) for e in batch["error_type"]], dtype=object),
               "stage": np.asarray(["decode" if e else "" for e in batch["error"]],
                                   dtype=object),
               "decode_s": np.asarray(batch["decode_s"], np.float64),
               "infer_s": np.zeros(count, np.float64)}
        good = [i for i in range(count) if not out["error"][i]]
        if not good:
            return out
        begin = time.perf_counter()
        frames = [np.asarray(batch["frames"][i]) for i in good]
        features = encode_many(self.pipeline, frames)
        share = (time.perf_counter() - begin) / max(1, sum(len(f) for f in frames))
        for i, encoded, shown in zip(good, features, frames, strict=True):
            start = time.perf_counter()
            try:
                annotation = annotate_features(self.pipeline, encoded,
                                               np.asarray(batch["times"][i], np.float64),
                                               self.options)
                out["annotation"][i] = annotation_to_json(annotation)
            except Exception as error:  # one file's failure does not end the job
                out["error"][i] = str(error) or type(error).__name__
                out["error_type"][i] = type(error).__name__
                out["stage"][i] = "inference"
            out["infer_s"][i] = share * len(shown) + time.perf_counter() - start
        return out


def pool_size(ray, options: BatchOptions) -> tuple[int, float]:
    """(actors, GPUs per actor): --ray-actors (sharing the GPUs when there are fewer), else
    one actor per GPU, else one per CPUS_PER_ACTOR_WITHOUT_GPU CPUs (at least one)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    if options.ray_actors:
        return options.ray_actors, min(1.0, gpus / options.ray_actors) if gpus else 0.0
    if gpus:
        return gpus, 1.0
    return max(1, cpus // CPUS_PER_ACTOR_WITHOUT_GPU), 0.0


def run_ray(todo: Sequence[BatchInput], spec: JobSpec, recorder: Recorder,
            options: BatchOptions) -> None:
    """Caption ``todo`` on Ray Data, handing each FileResult to ``recorder`` (in this
    process, as results arrive)."""
    ray = import_ray()
    from ray.data import ActorPoolStrategy, DataContext, TaskPoolStrategy

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    started_here = not ray.is_initialized()
    if started_here:
        local = options.ray_address is None
        try:
            ray.init(address=options.ray_address,
                     num_cpus=options.ray_num_cpus if local else None,
                     include_dashboard=False if local else None, logging_level=logging.WARNING,
                     log_to_driver=False, runtime_env={"env_vars": dict(QUIET_ENV)})
        except ConnectionError as error:
            raise RuntimeError(f"--ray-address {options.ray_address}: {error}") from None
    try:
        context = DataContext.get_current()
        context.enable_progress_bars = False  # the CLI draws its own
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # not each dataset's INFO
        actors, gpus_per_actor = pool_size(ray, options)
        spec_json = {**spec.to_json()}
        spec_json.pop("options_hash")
        recorder.started_all()
        dataset = ray.data.from_items(
            [{"index": i, "path": item.path} for i, item in enumerate(todo)],
            override_num_blocks=len(todo))
        dataset = dataset.map(decode_row, fn_kwargs={"frame_rate": spec.frame_rate,
                                                     "input_size": spec.input_size,
                                                     "landmark_kind": spec.landmark_kind},
                              num_cpus=DECODE_CPUS,
                              compute=TaskPoolStrategy(size=options.workers))
        dataset = dataset.map_batches(
            Annotator, fn_constructor_kwargs={"spec": spec_json}, batch_size=FILES_PER_CALL,
            batch_format="numpy", compute=ActorPoolStrategy(size=actors),
            num_gpus=gpus_per_actor or None, num_cpus=1 if not gpus_per_actor else None)
        for row in dataset.iter_rows():
            index = int(row["index"])
            if row["error"]:
                recorder.finished(FileResult(index, error=str(row["error"]),
                                             error_type=str(row["error_type"]),
                                             stage=str(row["stage"]),
                                             decode_s=float(row["decode_s"]),
                                             infer_s=float(row["infer_s"])))
                continue
            recorder.finished(FileResult(index, annotation_from_json(row["annotation"]),
                                         decode_s=float(row["decode_s"]),
                                         infer_s=float(row["infer_s"])))
    finally:
        if started_here:
            ray.shutdown()
