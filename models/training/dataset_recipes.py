"""Training on datasets on disk: MSVD / MSR-VTT captions, WLASL / ISLR signs -> a bundle.

One recipe per format, all ending the way the benchmark recipe (training_recipes.py) does:
`save_bundle`, `export_litert`, then the test split is evaluated through the bundle's Pipeline
and recorded with `update_metrics` under "<format>:test" (skipped, with a log line, when the
test split is empty). Test features are computed before training, so a broken test file fails
the run early. The validation split is only counted (the head trainers take no validation data).

This module holds the options and the entry point; the recipes are caption_dataset_recipe.py
(msvd, msrvtt) and sign_dataset_recipe.py (wlasl, islr), built from the steps they share in
dataset_recipe_steps.py.

Video formats (msvd, msrvtt, wlasl) encode frames with a frozen encoder (these datasets have no
per-frame labels to train one): by default a fresh FrameEncoder (`backbone`, DEFAULT_BACKBONE at
DEFAULT_INPUT_SIZE px) whose backbone weights come from `backbone_weights` (a file or preset
folder) or `backbone_preset` (a keras-cv preset name), random when neither is given; or, with
`encoder_from`, an existing bundle's encoder ("demo" names the shipped demo bundle's 64 px digit
encoder, never used unless named: encoder_sources.py). Each video is read, sampled to
`frame_rate` and encoded once; its features are cached in `cache_dir`
(video_features_cache.py, keyed by the encoder's weights), so a second run (another head,
other epochs) skips the encoder entirely. islr reads landmarks and has no frame encoder.
`mixed_precision` trains (and encodes) under Keras' mixed_float16 policy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from framescribe.models.training.caption_training import CaptionTrainingOptions
from framescribe.models.training.encoder_sources import encoder_problem, flag
from framescribe.models.training.gesture_training import GestureTrainingOptions

if TYPE_CHECKING:
    from framescribe.models.training.dataset_recipe_steps import Evaluation

CAPTION_FORMATS: tuple[str, ...] = ("msvd", "msrvtt")
GESTURE_FORMATS: tuple[str, ...] = ("wlasl", "islr")
FORMAT_TASKS: dict[str, str] = {**dict.fromkeys(CAPTION_FORMATS, "captions"),
                                **dict.fromkeys(GESTURE_FORMATS, "gestures")}
TASK_FORMATS: dict[str, tuple[str, ...]] = {"captions": CAPTION_FORMATS,
                                            "gestures": GESTURE_FORMATS}
DEFAULT_BACKBONE = "mobilenet_v3_small"  # a fresh encoder's, unless the weights name another
DEFAULT_INPUT_SIZE = 224  # a fresh encoder's input side, pixels (ImageNet presets' size)
DEFAULT_FRAME_RATE = 10.0  # frames per second sampled for a fresh encoder (a bundle has its own)
ISLR_FRAME_RATE = 30.0  # frames per second of the Kaggle ISLR landmark sequences
DEFAULT_SEGMENT_FRAMES = 16


@dataclass(frozen=True)
class DatasetTrainingOptions:
    """What to train on and how. What each format trains: see caption_dataset_recipe.py and
    sign_dataset_recipe.py.

    data: the dataset folder (or its annotation file); format: one of FORMAT_TASKS.
    task: "captions" or "gestures" when the caller asked for one (checked against format).
    name: bundle name (default: the output folder's name).
    encoder_from: bundle whose frame encoder is reused whole, frozen ("demo": the shipped demo
        bundle); None (default): a fresh encoder, shaped by the next five.
    backbone: a fresh encoder's backbone (default: the one backbone_weights/backbone_preset is
        for, else DEFAULT_BACKBONE); input_size: its input side (default DEFAULT_INPUT_SIZE);
        pooling: "avg" (default; the pooled width, no projection) or "spatial" (default for
        tiny_cnn; a 256-wide projection plus keypoints).
    backbone_weights: a .weights.h5 of the backbone or a preset folder; backbone_preset: a
        keras-cv preset name (networks/backbone_weights.PRESETS); neither: random weights.
    All encoder options must be None for islr, which reads landmarks.
    frame_rate: frames per second the videos are sampled to (default: the encoder bundle's, or
        DEFAULT_FRAME_RATE for a fresh encoder; islr: ISLR_FRAME_RATE, and at most that).
    segment_frames: caption window length, sampled frames (2-1024).
    sign_context_s: wlasl: idle seconds kept each side of a sign (bounds the stream length on
        long untrimmed videos).
    cache_dir: where per-video frame features are cached.
    """

    data: str
    format: str
    output: str
    task: str | None = None
    name: str | None = None
    encoder_from: str | None = None
    backbone: str | None = None
    input_size: int | None = None
    pooling: str | None = None
    backbone_weights: str | None = None
    backbone_preset: str | None = None
    mixed_precision: bool = False
    frame_rate: float | None = None
    segment_frames: int = DEFAULT_SEGMENT_FRAMES
    sign_context_s: float = 2.0
    cache_dir: str = ".cache/features"
    # reverse_time is off: a real video played backwards is not what its caption says.
    captions: CaptionTrainingOptions = field(
        default_factory=lambda: CaptionTrainingOptions(reverse_time=False))
    gestures: GestureTrainingOptions = field(default_factory=GestureTrainingOptions)
    evaluate: bool = True
    seed: int = 0
    verbose: int = 2

    def __post_init__(self):
        problem = format_problem(self.task, self.format)
        if problem:
            raise ValueError(problem)
        if self.frame_rate is not None and not 0 < self.frame_rate < float("inf"):
            raise ValueError(f"frame_rate must be a positive number of frames per second, "
                             f"got {self.frame_rate}")
        if self.format == "islr" and self.frame_rate is not None \
                and self.frame_rate > ISLR_FRAME_RATE:
            raise ValueError(f"frame_rate {self.frame_rate} is above the {ISLR_FRAME_RATE:g} fps "
                             "ISLR sequences are captured at")
        encoder = self.encoder_settings()
        if self.format == "islr" and any(value is not None for value in encoder.values()):
            given = ", ".join(f"{key} ({flag(key)})"
                              for key, value in encoder.items() if value is not None)
            raise ValueError("islr bundles read hand/pose landmarks and have no frame encoder; "
                             f"drop {given}")
        problem = encoder_problem(self.encoder_from, self.backbone_weights, self.backbone_preset,
                                  self.backbone, {"backbone": self.backbone,
                                                  "input_size": self.input_size,
                                                  "pooling": self.pooling})
        if problem:
            raise ValueError(problem)
        if self.input_size is not None and not 32 <= self.input_size <= 1024:
            raise ValueError(f"input_size must be 32-1024 pixels, got {self.input_size}")
        if not 2 <= self.segment_frames <= 1024:
            raise ValueError(f"segment_frames must be 2-1024, got {self.segment_frames}")
        if not self.sign_context_s >= 0:
            raise ValueError(f"sign_context_s must be >= 0 seconds, got {self.sign_context_s}")

    def encoder_settings(self) -> dict[str, object]:
        """The options that choose the frame encoder, by name."""
        return {"encoder_from": self.encoder_from, "backbone": self.backbone,
                "input_size": self.input_size, "pooling": self.pooling,
                "backbone_weights": self.backbone_weights,
                "backbone_preset": self.backbone_preset}


def format_problem(task: str | None, format: str) -> str | None:
    """Why ``format`` cannot train ``task`` (None: it can; task None: any known format)."""
    if format not in FORMAT_TASKS:
        return f"unknown dataset format {format!r} (expected one of {', '.join(FORMAT_TASKS)})"
    if task is None or FORMAT_TASKS[format] == task:
        return None
    if task not in TASK_FORMATS:
        return f"unknown task {task!r} (expected captions or gestures)"
    return (f"format {format!r} is a {FORMAT_TASKS[format]} dataset; {task} train on "
            f"{' or '.join(TASK_FORMATS[task])}")


def train_from_dataset(options: DatasetTrainingOptions) -> dict:
    """Train, write, export and evaluate a bundle; returns its final manifest as JSON."""
    import keras

    from framescribe.models.data.dataset_errors import DatasetError
    from framescribe.models.runtimes.litert_export import export_litert
    from framescribe.models.runtimes.tf_setup import configure_tensorflow, mixed_precision
    from framescribe.models.training.caption_dataset_recipe import train_captions
    from framescribe.models.training.encoder_sources import backbone_weights_source
    from framescribe.models.training.sign_dataset_recipe import train_islr, train_wlasl
    from framescribe.models.training.training_recipes import _log, log_precision

    if not Path(options.data).exists():
        raise DatasetError(f"{options.data}: no such file or folder (expected a "
                           f"{options.format} dataset)")
    backbone_weights_source(options.backbone_weights, options.backbone_preset)  # fails early
    started = time.time()
    configure_tensorflow()
    keras.utils.set_random_seed(options.seed)
    recipe = {"msvd": train_captions, "msrvtt": train_captions, "wlasl": train_wlasl,
              "islr": train_islr}[options.format]
    log_precision(options.mixed_precision, started)
    with mixed_precision(options.mixed_precision):  # the bundle is exported in float32
        evaluation = recipe(options, started)
    _log(f"wrote the bundle {options.output}", started)
    export_litert(options.output, log=lambda line: _log(f"LiteRT {line}", started))
    if options.evaluate:
        _evaluate_and_record(options, evaluation, started)
    return json.loads((Path(options.output) / "manifest.json").read_text("utf-8"))


def _evaluate_and_record(options: DatasetTrainingOptions, evaluation: Evaluation,
                         started: float) -> None:
    from framescribe.models.bundle.bundle_writer import update_metrics
    from framescribe.models.inference.pipeline import Pipeline
    from framescribe.models.training.training_recipes import _log

    key = f"{options.format}:test"
    if evaluation is None:
        _log(f"{key}: the test split is empty, evaluation skipped", started)
        return
    metrics = evaluation(Pipeline.from_bundle(options.output))
    update_metrics(options.output, key, metrics)
    summary = {k: metrics[k] for k in ("count", "bleu4", "cider", "meteor", "exact_match",
                                        "top1", "top5") if k in metrics}
    _log(f"{key}: {summary}", started)

