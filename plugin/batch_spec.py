"""`framescribe batch`'s options and a job's identity: BatchOptions, and the JobSpec they
resolve to against a bundle (its options_hash is recorded with every done file, so a job
resumes only where the outputs would be the same, on either engine)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Any

FORMATS = ("vtt", "srt", "json", "jsonl")
DEFAULT_FORMATS = ("vtt", "srt", "json")
TASKS = ("captions", "gestures")
ENGINES = ("local", "ray")
RUNTIMES = ("tf", "litert")


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
    pipeline: dict[str, Any]  # resolved options (SessionSettings) as JSON
    landmark_kind: str | None = None  # a landmark bundle's MediaPipe landmarker, else None

    @property
    def options_hash(self) -> str:
        return _hash({"bundle_id": self.bundle_id, "runtime": self.runtime,
                      "tasks": list(self.tasks), "formats": list(self.formats),
                      "pipeline": self.pipeline})

    @property
    def bundle_label(self) -> str:
        return f"{self.bundle_name}@{self.bundle_version}"

    def settings(self):
        """The resolved options as the streaming core's SessionSettings."""
        from framescribe.models.inference.caption_search import DecodingOptions
        from framescribe.models.inference.gesture_events import EventOptions
        from framescribe.models.inference.pipeline_options import SessionSettings

        return SessionSettings(tasks=self.tasks, frame_rate=self.frame_rate,
                               segment_frames=self.pipeline["segment_frames"],
                               decoding=DecodingOptions(**self.pipeline["decoding"]),
                               events=EventOptions(**self.pipeline["events"]), interim=False)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"options_hash": self.options_hash}


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bundle_identity(directory: str | os.PathLike[str], manifest, runtime: str) -> str:
    """A hash of what makes the bundle's outputs: name, version, every model file's SHA-256
    and config, and the inference settings (not its recorded metrics or training log)."""
    from pathlib import Path

    from framescribe.models.bundle.bundle_manifest import file_sha256

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
    """Read the bundle's manifest (no TensorFlow) and resolve the options against it, by the
    streaming core's rule (resolve_options)."""
    from framescribe.models.bundle.bundle_manifest import read_manifest
    from framescribe.models.inference.caption_search import DecodingOptions
    from framescribe.models.inference.landmark_feature_sets import landmark_kind
    from framescribe.models.inference.pipeline_options import PipelineOptions, resolve_options

    manifest = read_manifest(options.bundle)
    try:
        settings = resolve_options(manifest, PipelineOptions(
            tasks=options.tasks, segment_frames=options.segment_frames,
            decoding=DecodingOptions(beam_size=options.beam_size),
            min_confidence=options.min_confidence))
    except ValueError as error:
        raise ValueError(f"{options.bundle}: {error}") from None
    pipeline = {"segment_frames": settings.segment_frames,
                "decoding": asdict(settings.decoding), "events": asdict(settings.events)}
    return JobSpec(
        bundle=os.path.abspath(options.bundle), bundle_name=manifest.name,
        bundle_version=manifest.version,
        bundle_id=bundle_identity(options.bundle, manifest, options.runtime),
        runtime=options.runtime, tasks=settings.tasks,
        formats=tuple(f for f in FORMATS if f in options.formats),
        frame_rate=manifest.frame_rate, input_size=manifest.input_size, pipeline=pipeline,
        landmark_kind=(landmark_kind(manifest.landmark_features)
                       if manifest.gesture_input == "landmarks" else None))
