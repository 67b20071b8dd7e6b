"""End-to-end training recipes on the bundled benchmarks: encoder -> heads -> bundle.

Stages, each resumable from the checkpoint directory (a finished stage is not redone):
1. pretrain the frame encoder on per-frame facts (or reuse a bundle's encoder, frozen); its
   backbone starts from random weights, or from `backbone_weights` / `backbone_preset`
   (encoder_sources.py);
2. encode the training clips once and cache the features (the encoder is frozen from here);
3. train the caption decoder and/or the gesture classifier on the cached features (an
   interrupted head resumes from its last epoch; a finished one is kept, named by its
   options, so a run that failed later reuses it);
4. write the bundle, evaluate it on the test splits and record the metrics in its manifest.

`mixed_precision` runs stages 1-3 under Keras' mixed_float16 policy (output layers, softmaxes
and losses in float32); the bundle is written, exported and evaluated in float32.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from framescribe.models.data.moving_digits import CLIP_FRAMES
from framescribe.models.training.caption_training import CaptionTrainingOptions
from framescribe.models.training.encoder_sources import encoder_problem
from framescribe.models.training.gesture_training import GestureTrainingOptions

BENCHMARK_FRAME_RATE = 10.0  # frames per second the benchmark clips stand for


@dataclass(frozen=True)
class TrainingOptions:
    output: str
    tasks: tuple[str, ...] = ("captions", "gestures")
    name: str = "framescribe"
    backbone: str = "tiny_cnn"
    input_size: int = 64
    pooling: str = "spatial"
    feature_dim: int = 256
    encoder_from: str | None = None  # a bundle whose encoder is reused, frozen ("demo": ours)
    backbone_weights: str | None = None  # a .weights.h5 of the backbone, or a preset folder
    backbone_preset: str | None = None  # a keras-cv preset name (backbone_weights.PRESETS)
    mixed_precision: bool = False  # float16 compute, float32 variables and outputs
    pretrain_epochs: int = 3
    pretrain_caption_clips: int = 3000
    pretrain_gesture_streams: int = 400
    caption_clips: int = 20000
    gesture_streams: int = 2000
    captions: CaptionTrainingOptions = field(default_factory=CaptionTrainingOptions)
    gestures: GestureTrainingOptions = field(default_factory=GestureTrainingOptions)
    checkpoint_dir: str | None = None  # default: .cache/checkpoints/<output folder name>
    evaluate: bool = True
    eval_limit: int | None = None
    seed: int = 0
    verbose: int = 2

    def __post_init__(self):
        problem = encoder_problem(self.encoder_from, self.backbone_weights,
                                  self.backbone_preset, self.backbone)
        if problem:
            raise ValueError(problem)


def _log(message: str, started: float) -> None:
    print(f"[train {time.time() - started:7.1f}s] {message}", flush=True)


def _checkpoints(options: TrainingOptions) -> Path:
    path = Path(options.checkpoint_dir or Path(".cache/checkpoints") / Path(options.output).name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save_array(path: Path, **arrays) -> None:
    """np.savez atomically: a half-written cache must never be mistaken for a finished one."""
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, **arrays)
    os.replace(temporary, path)


def finished_head_path(checkpoints: Path, head: str, head_options, examples: int) -> Path:
    """Where a head's finished weights are kept: named by what it was trained with (its
    options and the number of training examples), so a rerun whose export or evaluation
    failed reuses them, and a rerun with other options trains afresh."""
    recipe = json.dumps([asdict(head_options), examples], sort_keys=True)
    return checkpoints / f"{head}_{hashlib.sha256(recipe.encode()).hexdigest()[:12]}.weights.h5"


def _train_or_resume(model, head: str, head_options, examples: int, checkpoints: Path,
                     started: float, what: str, fit: Callable[[], object]) -> None:
    """Load a head's finished weights when a run with the same options left them
    (finished_head_path); else train it with fit() and keep them. what: the head and its
    data, for the log ("caption decoder on 16 clips")."""
    done = finished_head_path(checkpoints, head, head_options, examples)
    if done.exists():
        model.load_weights(done)
        _log(f"resumed the trained {head.replace('_', ' ')} from {done}", started)
        return
    _log(f"training the {what}", started)
    fit()
    _save_weights(model, done)


def _save_weights(model, path: Path) -> None:
    """model.save_weights atomically (a half-written file must never be resumed from)."""
    temporary = path.with_name(path.name.replace(".weights.h5", ".tmp.weights.h5"))
    model.save_weights(temporary)
    os.replace(temporary, path)


def _gesture_stream_frames(count: int, seed: int):
    from framescribe.models.data.lasa_airwriting import ContinuousStreams

    streams = ContinuousStreams("train", count=count, seed=seed)
    return (streams[i] for i in range(count))  # one at a time: 2,000 streams are ~4.5 GB


def log_precision(mixed: bool, started: float) -> None:
    """Say so when training runs under mixed precision (and that a CPU gains nothing)."""
    if not mixed:
        return
    import tensorflow as tf

    where = "" if tf.config.list_physical_devices("GPU") else \
        " (no GPU here: it runs, slower than float32)"
    _log(f"mixed precision: float16 compute, float32 weights, outputs and losses{where}",
         started)


def _encoder(options: TrainingOptions, checkpoints: Path, started: float):
    """Stage 1: a pretrained (or reused) FrameEncoder."""
    from framescribe.models.bundle.bundle_loader import load_encoder
    from framescribe.models.networks.frame_encoder import FrameEncoder
    from framescribe.models.training.encoder_pretraining import (
        PretrainingOptions,
        digit_frame_targets,
        fingertip_frame_targets,
        pretrain_encoder,
    )
    from framescribe.models.training.encoder_sources import (
        backbone_weights_source,
        describe_weights,
        encoder_bundle,
    )

    if options.encoder_from:
        bundle = encoder_bundle(options.encoder_from)
        _log(f"reusing the encoder of {bundle} (frozen)", started)
        return load_encoder(bundle)
    source = backbone_weights_source(options.backbone_weights, options.backbone_preset)
    encoder = FrameEncoder(options.backbone, options.input_size, options.pooling,
                           options.feature_dim, backbone_weights=source)
    if source is not None:
        weights = describe_weights(options.backbone_weights, options.backbone_preset, source)
        _log(f"the {options.backbone} backbone starts from {weights}", started)
    done = checkpoints / "encoder_pretrained.weights.h5"
    if done.exists():
        encoder.load_weights(done)
        _log(f"resumed the pretrained encoder from {done}", started)
        return encoder
    from framescribe.models.data.moving_digits import MovingDigits

    frames, targets = [], []
    if "captions" in options.tasks:
        digits = MovingDigits("train")
        for i in range(options.pretrain_caption_clips):
            clip = digits[len(digits) - 1 - i]  # from the end: heads train from the start
            frames.append(_fit(clip.frames, options.input_size))
            targets.append(digit_frame_targets(clip.tracks, clip.frames.shape[1]))
    if "gestures" in options.tasks:
        for stream in _gesture_stream_frames(options.pretrain_gesture_streams, options.seed + 7):
            frames.append(_fit(stream.frames, options.input_size))
            targets.append(fingertip_frame_targets(stream.positions, stream.frames.shape[1]))
    frames, targets = np.concatenate(frames), np.concatenate(targets)
    order = np.random.default_rng(options.seed).permutation(len(frames))
    _log(f"pretraining the {options.backbone} encoder on {len(frames)} frames", started)
    result = pretrain_encoder(encoder, frames[order], targets[order],
                              PretrainingOptions(epochs=options.pretrain_epochs),
                              verbose=options.verbose)
    _log(f"encoder pretrained: {result}", started)
    encoder.save_weights(done)
    return encoder


def _fit(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize benchmark frames (n, 64, 64, 3) when the encoder's input size differs."""
    if frames.shape[1] == size:
        return frames
    from framescribe.models.video import fit_frame

    return np.stack([fit_frame(f, size) for f in frames])


def _encode(runtime, frames: np.ndarray, size: int) -> np.ndarray:
    return runtime.encode(_fit(frames, size))


def _caption_features(options, runtime, checkpoints: Path, started: float):
    """Stage 2 for captions: (features (clips, 16, D), training captions), cached."""
    from framescribe.models.data.moving_digits import MovingDigits

    cache = checkpoints / f"caption_features_{options.caption_clips}.npz"
    if cache.exists():
        data = np.load(cache)
        _log(f"loaded cached caption features {cache}", started)
        return data["features"], [str(c) for c in data["captions"]]
    digits = MovingDigits("train")
    features, captions = [], []
    for start in range(0, options.caption_clips, 500):
        clips = [digits[i] for i in range(start, min(options.caption_clips, start + 500))]
        frames = np.concatenate([c.frames for c in clips])
        features.append(
            _encode(runtime, frames, options.input_size).reshape(len(clips), CLIP_FRAMES, -1))
        # One canonical order per clip (the smaller caption) makes the target deterministic;
        # evaluation accepts either order.
        captions += [min(c.references) for c in clips]
        if (start // 500) % 10 == 9:
            _log(f"encoded {start + len(clips)}/{options.caption_clips} caption clips", started)
    features = np.concatenate(features)
    _save_array(cache, features=features, captions=np.array(captions))
    return features, captions


def _gesture_features(options, runtime, checkpoints: Path, started: float):
    """Stage 2 for gestures: per-stream features and frame labels, cached."""
    cache = checkpoints / f"gesture_features_{options.gesture_streams}.npz"
    if cache.exists():
        data = np.load(cache)
        _log(f"loaded cached gesture features {cache}", started)
        lengths = data["lengths"]
        splits = np.cumsum(lengths)[:-1]
        return np.split(data["features"], splits), np.split(data["labels"], splits)
    features, labels = [], []
    for i, stream in enumerate(_gesture_stream_frames(options.gesture_streams, options.seed)):
        features.append(_encode(runtime, stream.frames, options.input_size))
        labels.append(stream.frame_labels)
        if i % 500 == 499:
            _log(f"encoded {i + 1}/{options.gesture_streams} gesture streams", started)
    _save_array(cache, features=np.concatenate(features), labels=np.concatenate(labels),
                lengths=np.array([len(f) for f in features]))
    return features, labels


def _train_models(options: TrainingOptions, checkpoints: Path, started: float):
    """Stages 1-3: (encoder, decoder, vocabulary, classifier, labels, timings); the heads and
    their vocabulary/labels are None for a task not trained."""
    from framescribe.models.data.lasa_airwriting_paths import gesture_labels
    from framescribe.models.networks.caption_vocabulary import CaptionVocabulary
    from framescribe.models.runtimes.tf_runtime import TensorFlowRuntime
    from framescribe.models.training.caption_training import (
        build_caption_decoder,
        train_caption_decoder,
    )
    from framescribe.models.training.gesture_training import (
        build_gesture_classifier,
        train_gesture_classifier,
    )

    encoder = _encoder(options, checkpoints, started)
    runtime = TensorFlowRuntime(encoder, None, None)
    timings = {"encoder_s": round(time.time() - started, 1)}
    decoder = vocabulary = classifier = labels = None
    if "captions" in options.tasks:
        features, captions = _caption_features(options, runtime, checkpoints, started)
        vocabulary = CaptionVocabulary.from_captions(captions)
        decoder = build_caption_decoder(vocabulary, features.shape[-1], options.captions,
                                        keypoint_tracks=encoder.keypoint_count)
        stage = time.time()
        _train_or_resume(
            decoder, "caption_decoder", options.captions, options.caption_clips, checkpoints,
            started, f"caption decoder on {len(features)} clips",
            lambda: train_caption_decoder(decoder, vocabulary, features, captions,
                                          options.captions,
                                          checkpoint_dir=checkpoints / "caption_decoder",
                                          verbose=options.verbose))
        timings["caption_decoder_s"] = round(time.time() - stage, 1)
        del features
    if "gestures" in options.tasks:
        features, frame_labels = _gesture_features(options, runtime, checkpoints, started)
        labels = gesture_labels()
        classifier = build_gesture_classifier(len(labels), features[0].shape[-1],
                                              options.gestures)
        stage = time.time()
        _train_or_resume(
            classifier, "gesture_classifier", options.gestures, options.gesture_streams,
            checkpoints, started,
            f"{options.gestures.cell} gesture classifier on {len(features)} streams",
            lambda: train_gesture_classifier(classifier, features, frame_labels,
                                             options.gestures,
                                             checkpoint_dir=checkpoints / "gesture_classifier",
                                             verbose=options.verbose))
        timings["gesture_classifier_s"] = round(time.time() - stage, 1)
    return encoder, decoder, vocabulary, classifier, labels, timings


def train(options: TrainingOptions) -> dict:
    """Run the recipe; returns the final manifest as JSON-ready dict."""
    import keras

    from framescribe.models.bundle.bundle_manifest import BundleManifest, ModelEntry
    from framescribe.models.bundle.bundle_writer import save_bundle
    from framescribe.models.runtimes.tf_setup import configure_tensorflow, mixed_precision

    started = time.time()
    configure_tensorflow()
    if options.encoder_from is None:  # a preset that cannot be fetched fails before any work
        from framescribe.models.training.encoder_sources import backbone_weights_source

        backbone_weights_source(options.backbone_weights, options.backbone_preset)
    keras.utils.set_random_seed(options.seed)
    checkpoints = _checkpoints(options)
    log_precision(options.mixed_precision, started)
    with mixed_precision(options.mixed_precision):  # the bundle is exported in float32
        encoder, decoder, vocabulary, classifier, labels, timings = _train_models(
            options, checkpoints, started)
    timings["total_s"] = round(time.time() - started, 1)
    placeholder = ModelEntry(file="", config={})
    manifest = BundleManifest(
        name=options.name,
        version="1",
        frame_rate=BENCHMARK_FRAME_RATE,
        caption_segment_frames=CLIP_FRAMES,
        encoder=placeholder,
        caption_max_length=options.captions.max_length,
        training={"options": asdict(options), "timings": timings},
    )
    save_bundle(options.output, manifest, encoder=encoder, caption_decoder=decoder,
                vocabulary=vocabulary, gesture_classifier=classifier, labels=labels)
    _log(f"wrote the bundle {options.output}", started)
    from framescribe.models.runtimes.litert_export import export_litert, record_litert_metrics

    export_litert(options.output, log=lambda line: _log(f"LiteRT {line}", started))
    if options.evaluate:
        evaluate_and_record(options.output, options.tasks, options.eval_limit, started)
        if options.eval_limit is None:
            record_litert_metrics(options.output, _benchmarks(options.tasks),
                                  lambda line: _log(line, started))
    # Re-read: evaluation has added the metrics since the bundle was written.
    return json.loads((Path(options.output) / "manifest.json").read_text())


def _benchmarks(tasks) -> list[str]:
    """The bundled benchmark of each task, in task order."""
    return [benchmark for task, benchmark in (("captions", "moving-digits"),
                                              ("gestures", "lasa-airwriting")) if task in tasks]


def evaluate_and_record(bundle: str, tasks, limit: int | None, started: float) -> None:
    """Evaluate on the test splits and store the metrics in the bundle's manifest."""
    from framescribe.models.bundle.bundle_writer import update_metrics
    from framescribe.models.evaluation.evaluation import EvaluationOptions, evaluate
    from framescribe.models.inference.pipeline import Pipeline

    pipeline = Pipeline.from_bundle(bundle)
    for benchmark in _benchmarks(tasks):
        metrics = evaluate(pipeline, benchmark, EvaluationOptions(limit=limit))
        metrics.pop("examples", None)
        update_metrics(bundle, benchmark, metrics)
        summary = {k: metrics.get(k) for k in
                   ("exact_match", "bleu4", "digit_accuracy", "motion_accuracy",
                    "top1", "top5", "event_f1") if k in metrics}
        _log(f"{benchmark} test: {summary}", started)
