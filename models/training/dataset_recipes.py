"""Training on datasets on disk: MSVD / MSR-VTT captions, WLASL / ISLR signs -> a bundle.

One recipe per format, all ending the way the benchmark recipe (training_recipes.py) does:
`save_bundle`, `export_litert`, then the test split is evaluated through the bundle's Pipeline
and recorded with `update_metrics` under "<format>:test" (skipped, with a log line, when the
test split is empty). Test features are computed before training, so a broken test file fails
the run early. The validation split is only counted (the head trainers take no validation data).

This module holds the options and the entry point; the recipes are caption_dataset_recipe.py
(msvd, msrvtt) and sign_dataset_recipe.py (wlasl, islr), built from the steps they share in
dataset_recipe_steps.py.

Video formats (msvd, msrvtt, wlasl) reuse the frame encoder of an existing bundle, frozen
(`encoder_from`, default the shipped demo bundle): these datasets have no per-frame labels to
pretrain one. Each video is read, sampled to `frame_rate` and encoded once; its features are
cached in `cache_dir` (video_features_cache.py), so a second run (another head, other epochs)
skips the encoder entirely. islr reads landmarks and has no frame encoder.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from framescribe.models.training.caption_training import CaptionTrainingOptions
from framescribe.models.training.gesture_training import GestureTrainingOptions

if TYPE_CHECKING:
    from framescribe.models.training.dataset_recipe_steps import Evaluation

CAPTION_FORMATS: tuple[str, ...] = ("msvd", "msrvtt")
GESTURE_FORMATS: tuple[str, ...] = ("wlasl", "islr")
FORMAT_TASKS: dict[str, str] = {**dict.fromkeys(CAPTION_FORMATS, "captions"),
                                **dict.fromkeys(GESTURE_FORMATS, "gestures")}
TASK_FORMATS: dict[str, tuple[str, ...]] = {"captions": CAPTION_FORMATS,
                                            "gestures": GESTURE_FORMATS}
DEMO_BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "demo"  # the default encoder
ISLR_FRAME_RATE = 30.0  # frames per second of the Kaggle ISLR landmark sequences
DEFAULT_SEGMENT_FRAMES = 16


@dataclass(frozen=True)
class DatasetTrainingOptions:
    """What to train on and how. What each format trains: see caption_dataset_recipe.py and
    sign_dataset_recipe.py.

    data: the dataset folder (or its annotation file); format: one of FORMAT_TASKS.
    task: "captions" or "gestures" when the caller asked for one (checked against format).
    name: bundle name (default: the output folder's name).
    encoder_from: bundle whose frame encoder is reused, frozen (default DEMO_BUNDLE); must be
        None for islr, which reads landmarks.
    frame_rate: frames per second the videos are sampled to (default: the encoder bundle's;
        islr: ISLR_FRAME_RATE, and at most that).
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
        if self.format == "islr" and self.encoder_from is not None:
            raise ValueError("islr bundles read hand/pose landmarks and have no frame encoder; "
                             "drop encoder_from (--encoder-from)")
        if not 2 <= self.segment_frames <= 1024:
            raise ValueError(f"segment_frames must be 2-1024, got {self.segment_frames}")
        if not self.sign_context_s >= 0:
            raise ValueError(f"sign_context_s must be >= 0 seconds, got {self.sign_context_s}")


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
    from framescribe.models.training.caption_dataset_recipe import train_captions
    from framescribe.models.training.sign_dataset_recipe import train_islr, train_wlasl
    from framescribe.models.training.training_recipes import _log

    if not Path(options.data).exists():
        raise DatasetError(f"{options.data}: no such file or folder (expected a "
                           f"{options.format} dataset)")
    started = time.time()
    keras.utils.set_random_seed(options.seed)
    recipe = {"msvd": train_captions, "msrvtt": train_captions, "wlasl": train_wlasl,
              "islr": train_islr}[options.format]
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

