"""Experiment: does an LSTM keep what a plain RNN forgets? SimpleRNN vs LSTM, same budget.

    python -m experiments.experiment_rnn_vs_lstm [--help]

Trains the GestureClassifier with ``cell="simple_rnn"`` and ``cell="lstm"`` under one budget
(same units, layers, epochs, batch size, learning rate schedule, training clips and seeds) on
the isolated lasa-airwriting clips resampled to 256 frames (the long-sequence variant) and to 32
frames (the standard one), then writes ``reports/rnn_vs_lstm.md`` (a table of test top-1/top-5,
trainable parameters and training seconds per variant, cell and seed) and
``reports/rnn_vs_lstm.png`` (per-epoch accuracy on the curve split and training loss).

Design:

- Inputs: by default the per-frame features of the shipped demo bundle's frozen frame encoder,
  i.e. what the shipped gesture classifier sees. Every split is encoded once and cached in
  ``.cache/experiments/rnn_vs_lstm/`` (npz, written atomically, keyed by the encoder's SHA-256).
  ``--inputs positions`` uses the fingertip's (x, y) instead (no rendering or encoding).
- Training is many-to-one: the loss is the cross-entropy of the last frame's logits against the
  clip's label (column label + 1, as in GestureClassifier), so the evidence from the start of a
  clip has to survive every recurrent step, which is the question asked. ``--targets ramp``
  uses the shipped recipe's per-frame targets instead (gesture_training.frame_targets: weights
  grow along the clip, the last frame weighs most). Optimiser as in the shipped recipe: Adam,
  cosine decay, clipnorm 5.
- Top-1/top-5 are read from the last frame's scores over the gesture columns (as
  evaluation.top_k_gestures does); the reported numbers are those after the last epoch (no
  early stopping, no checkpoint selection on the curve split).
- Training seconds count fit time only (the per-epoch evaluation for the curves is excluded).
- Each finished run (variant, cell, seed) is cached as JSON next to the features, keyed by every
  option that affects it; a rerun with the same options only rewrites the report
  (``--no-resume`` retrains).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import secrets
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

DEMO_BUNDLE = str(Path(__file__).resolve().parents[2] / "models" / "bundles" / "demo")
CELL_NAMES = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
INPUTS = ("encoder", "positions")
TARGETS = ("last", "ramp")
CURVE_SPLITS = ("test", "validation")
CLIPS_PER_CHUNK = 32  # clips rendered and encoded together (32 x 256 frames = 8,192 frames)
PREDICT_BATCH = 128
TRAIN_FIT_CLIPS = 260  # training clips scored after the last epoch (eval mode): the fit
RUN_FORMAT = 2  # bump when RunResult changes: older cached runs are retrained


@dataclass(frozen=True)
class ExperimentOptions:
    """Everything the experiment depends on; the defaults are the reported run."""

    frames: tuple[int, ...] = (256, 32)  # the variants: frames per clip
    cells: tuple[str, ...] = ("simple_rnn", "lstm")
    seeds: tuple[int, ...] = (0, 1)  # weight init + shuffling; the clips are the same
    inputs: str = "encoder"  # "encoder": demo bundle features; "positions": fingertip (x, y)
    targets: str = "last"  # "last": last-frame label only; "ramp": shipped per-frame weights
    curve_split: str = "test"  # "validation": train on demos 0-3, curves on demo 4
    train_clips: int | None = None  # first N clips of the train split (None: all 2,600)
    eval_clips: int | None = None  # first N clips of the test/validation split (None: all)
    epochs: int = 24
    batch_size: int = 32
    learning_rate: float = 3e-3
    units: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    final_frame_weight: float = 3.0  # only for targets="ramp"
    # Memory probe: test top-1 from only the last round(fraction * frames) frames of each clip.
    probe_fractions: tuple[float, ...] = (0.125, 0.25, 0.5)
    bundle: str = DEMO_BUNDLE
    output_dir: str = "reports"
    name: str = "rnn_vs_lstm"  # -> <output_dir>/<name>.md and .png
    cache_dir: str = ".cache/experiments/rnn_vs_lstm"
    resume: bool = True
    verbose: int = 2  # 0: silent, 1+: a line per epoch and stage

    def __post_init__(self) -> None:
        checks = [
            (self.inputs in INPUTS, f"inputs must be one of {INPUTS}"),
            (self.targets in TARGETS, f"targets must be one of {TARGETS}"),
            (self.curve_split in CURVE_SPLITS, f"curve_split must be one of {CURVE_SPLITS}"),
            (all(c in CELL_NAMES for c in self.cells), f"cells must be among {tuple(CELL_NAMES)}"),
            (len(self.frames) > 0 and all(f >= 2 for f in self.frames), "frames must be >= 2"),
            (len(self.cells) > 0 and len(self.seeds) > 0, "need at least one cell and seed"),
            (self.epochs >= 1 and self.batch_size >= 1, "epochs and batch_size must be >= 1"),
            (self.units >= 1 and self.num_layers >= 1, "units and num_layers must be >= 1"),
            (self.train_clips is None or self.train_clips >= 1, "train_clips must be >= 1"),
            (self.eval_clips is None or self.eval_clips >= 1, "eval_clips must be >= 1"),
            (all(0 < f < 1 for f in self.probe_fractions), "probe_fractions must be in (0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass
class RunResult:
    """One training: a variant (frames), a cell and a seed."""

    frames: int
    cell: str
    seed: int
    params: int  # trainable parameters of the classifier
    train_seconds: float  # fit time, per-epoch evaluation excluded
    top1: float  # test, after the last epoch
    top5: float
    curve_split: str
    history: dict[str, list[float]] = field(default_factory=dict)  # per epoch
    train_top1: float | None = None  # first TRAIN_FIT_CLIPS training clips, eval mode
    probe: dict[str, float] = field(default_factory=dict)  # "k": test top-1, last k frames
    resumed: bool = False


# -- logging -----------------------------------------------------------------------------------
class _Log:
    def __init__(self, verbose: int):
        self.verbose = verbose
        self.started = time.time()

    def __call__(self, message: str) -> None:
        if self.verbose:
            print(f"[rnn_vs_lstm {time.time() - self.started:7.1f}s] {message}", flush=True)


# -- data --------------------------------------------------------------------------------------
def _dataset(split: str, frames: int, options: ExperimentOptions):
    from framescribe.models.data.lasa_airwriting import LasaAirwriting

    holdout = split == "train" and options.curve_split == "validation"
    full = LasaAirwriting(split, frames=frames, holdout_validation=holdout)
    limit = options.train_clips if split == "train" else options.eval_clips
    size = len(full) if limit is None else min(limit, len(full))
    return LasaAirwriting(split, frames=frames, holdout_validation=holdout, size=size)


def _save_npz(path: Path, **arrays) -> None:
    """np.savez atomically: a half-written cache must never be mistaken for a finished one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp.npz")
    try:
        np.savez(temporary, **arrays)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _encoder_key(options: ExperimentOptions) -> str:
    if options.inputs == "positions":
        return "positions"
    from framescribe.models.bundle.bundle_manifest import read_manifest

    return "enc-" + read_manifest(options.bundle).encoder.sha256[:12]


class _Features:
    """Per-split features, computed once per process and cached on disk."""

    def __init__(self, options: ExperimentOptions, log: Callable[[str], None]):
        self.options = options
        self.log = log
        self.key = _encoder_key(options)
        self._runtime = None

    def runtime(self):
        if self._runtime is None:
            from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime

            _, self._runtime = load_tensorflow_runtime(self.options.bundle)
        return self._runtime

    def get(self, split: str, frames: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(features (n, frames, D) float32, labels (n,) int32, seconds spent computing)."""
        dataset = _dataset(split, frames, self.options)
        holdout = split == "train" and self.options.curve_split == "validation"
        holdout = "-holdout" if holdout else ""
        path = Path(self.options.cache_dir) / (
            f"{self.key}_{split}{holdout}_f{frames}_n{len(dataset)}_s{dataset.seed}.npz")
        if path.exists():
            with np.load(path) as data:
                features, labels = data["features"], data["labels"]
            self.log(f"loaded cached features {path} {features.shape}")
            return features, labels, 0.0
        started = time.time()
        labels = np.array([dataset.recipe(i).label for i in range(len(dataset))], np.int32)
        if self.options.inputs == "positions":
            # Pixels -> [0, 1]; the classifier standardises its inputs anyway.
            features = np.stack([dataset.positions(i) for i in range(len(dataset))]) / 64.0
            features = features.astype(np.float32)
        else:
            runtime = self.runtime()
            features = np.zeros((len(dataset), frames, runtime.feature_dim), np.float32)
            for start in range(0, len(dataset), CLIPS_PER_CHUNK):
                stop = min(len(dataset), start + CLIPS_PER_CHUNK)
                clips = np.stack([dataset[i].frames for i in range(start, stop)])
                encoded = runtime.encode(clips.reshape(-1, *clips.shape[2:]))
                features[start:stop] = encoded.reshape(stop - start, frames, -1)
                if (stop // CLIPS_PER_CHUNK) % 8 == 0 or stop == len(dataset):
                    self.log(f"encoded {stop}/{len(dataset)} {split} clips of {frames} frames")
        seconds = time.time() - started
        _save_npz(path, features=features, labels=labels)
        self.log(f"{split} features {features.shape} in {seconds:.1f}s, cached in {path}")
        return features, labels, seconds


# -- training ----------------------------------------------------------------------------------
def _last_frame_model(classifier):
    import keras

    class LastFrame(keras.Model):
        """features (batch, frames, D) -> logits of the last frame (batch, 1 + labels)."""

        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, features, training=False):
            return self.inner(features, training=training)[:, -1, :]

    return LastFrame(classifier)


def _inference(last_frame, dim: int):
    """features (n, frames, dim) -> last-frame logits (n, 1 + labels), one trace for any shape."""
    import tensorflow as tf

    run = tf.function(lambda x: last_frame(x, training=False),
                      input_signature=[tf.TensorSpec((None, None, dim), tf.float32)])

    def predict(features: np.ndarray) -> np.ndarray:
        return np.concatenate([run(tf.constant(features[i : i + PREDICT_BATCH])).numpy()
                               for i in range(0, len(features), PREDICT_BATCH)])

    return predict


def _top_k(predict, features: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(top-1, top-5) from the last frame's scores over the gesture columns."""
    from framescribe.models.evaluation.evaluation import top_k_gestures

    ranked = top_k_gestures(predict(features), k=5)  # same ranking as probabilities
    return (float(np.mean(ranked[:, 0] == labels)),
            float(np.mean((ranked == labels[:, None]).any(axis=1))))


def _run_key(options: ExperimentOptions, frames: int, cell: str, seed: int, data_key: str) -> str:
    relevant = {k: v for k, v in asdict(options).items()
                if k not in ("frames", "cells", "seeds", "output_dir", "name", "cache_dir",
                             "resume", "verbose", "bundle")}
    text = json.dumps({**relevant, "frames": frames, "cell": cell, "seed": seed,
                       "data": data_key, "format": RUN_FORMAT}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def probe_windows(frames: int, fractions: Sequence[float]) -> list[int]:
    """Window lengths of the memory probe, shortest first, ending with the whole clip."""
    return sorted({max(1, round(f * frames)) for f in fractions} | {frames})


def train_one(options: ExperimentOptions, frames: int, cell: str, seed: int,
              train: tuple[np.ndarray, np.ndarray], curve: tuple[np.ndarray, np.ndarray],
              test: tuple[np.ndarray, np.ndarray], log: Callable[[str], None],
              weights_path: Path | None = None) -> RunResult:
    """Train one classifier from scratch and measure it (weights saved to weights_path)."""
    import keras

    from framescribe.models.data.lasa_airwriting_paths import gesture_labels
    from framescribe.models.networks.gesture_classifier import GestureClassifier
    from framescribe.models.training.gesture_training import frame_targets

    x, labels = train
    keras.utils.set_random_seed(seed)
    classifier = GestureClassifier(len(gesture_labels()), x.shape[-1], cell=cell,
                                   units=options.units, num_layers=options.num_layers,
                                   dropout=options.dropout)
    classifier.adapt_normalization(x[:: max(1, len(x) // 300)].reshape(-1, x.shape[-1]))
    last_frame = _last_frame_model(classifier)
    predict = _inference(last_frame, x.shape[-1])
    steps = options.epochs * int(np.ceil(len(x) / options.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(options.learning_rate, steps, alpha=0.05)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(schedule, clipnorm=5.0)
    if options.targets == "last":
        model, y, weights = last_frame, labels + 1, None
        model.compile(optimizer=optimizer, loss=loss)
    else:
        targets = [frame_targets(np.full(frames, label), options.final_frame_weight)
                   for label in labels]
        y = np.stack([t for t, _ in targets])
        weights = np.stack([w for _, w in targets])
        model = classifier
        model.compile(optimizer=optimizer, loss=loss)
    name = f"T={frames} {CELL_NAMES.get(cell, cell)} seed {seed}"
    history: dict[str, list[float]] = {"loss": [], "curve_top1": [], "curve_top5": [],
                                       "epoch_seconds": []}

    class Curves(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.time() - self.epoch_started
            top1, top5 = _top_k(predict, *curve)
            history["loss"].append(float(logs["loss"]))
            history["curve_top1"].append(top1)
            history["curve_top5"].append(top5)
            history["epoch_seconds"].append(seconds)
            log(f"{name} epoch {epoch + 1}/{options.epochs}: loss {logs['loss']:.4f}, "
                f"{options.curve_split} top-1 {top1:.3f} top-5 {top5:.3f} ({seconds:.1f}s)")

    model.fit(x, y, sample_weight=weights, batch_size=options.batch_size,
              epochs=options.epochs, shuffle=True, callbacks=[Curves()], verbose=0)
    if options.curve_split == "test":  # the curve split is the test split
        top1, top5 = history["curve_top1"][-1], history["curve_top5"][-1]
    else:
        top1, top5 = _top_k(predict, *test)
    train_top1 = _top_k(predict, x[:TRAIN_FIT_CLIPS], labels[:TRAIN_FIT_CLIPS])[0]
    # The state starts from zero at frame T - k: what the model knows from the last k frames.
    probe = {str(k): _top_k(predict, test[0][:, -k:], test[1])[0]
             for k in probe_windows(frames, options.probe_fractions)}
    log(f"{name}: train top-1 {train_top1:.3f}; test top-1 from the last k frames: "
        + ", ".join(f"k={k} {v:.3f}" for k, v in probe.items()))
    if weights_path is not None:
        weights_path.parent.mkdir(parents=True, exist_ok=True)
        classifier.save_weights(weights_path)
    params = int(sum(np.prod(w.shape) for w in classifier.trainable_weights))
    return RunResult(frames=frames, cell=cell, seed=seed, params=params,
                     train_seconds=float(sum(history["epoch_seconds"])), top1=top1, top5=top5,
                     curve_split=options.curve_split, history=history, train_top1=train_top1,
                     probe=probe)


def run_experiment(options: ExperimentOptions, argv: Sequence[str] | None = None) -> dict:
    """Train every (variant, cell, seed), write the report and the figure; returns a summary."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log = _Log(options.verbose)
    started = time.time()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    log(f"options: {asdict(options)}")
    features = _Features(options, log)
    results: list[RunResult] = []
    encode_seconds = 0.0
    counts = {}
    for frames in options.frames:
        train = features.get("train", frames)
        test = features.get("test", frames)
        counts = {"train_clips": len(train[0]), "test_clips": len(test[0])}
        curve = test if options.curve_split == "test" else features.get("validation", frames)
        encode_seconds += train[2] + test[2] + (curve[2] if curve is not test else 0.0)
        for cell in options.cells:
            for seed in options.seeds:
                key = _run_key(options, frames, cell, seed, features.key)
                path = Path(options.cache_dir) / "runs" / f"{key}.json"
                if options.resume and path.exists():
                    result = RunResult(**{**json.loads(path.read_text()), "resumed": True})
                    log(f"T={frames} {cell} seed {seed}: resumed from {path}")
                else:
                    log(f"training T={frames} {cell} seed {seed} on {len(train[0])} clips")
                    result = train_one(options, frames, cell, seed, train[:2], curve[:2],
                                       test[:2], log, path.with_suffix(".weights.h5"))
                    _write_text(path, json.dumps(asdict(result)) + "\n")
                log(f"T={frames} {cell} seed {seed}: test top-1 {result.top1:.3f} "
                    f"top-5 {result.top5:.3f}, {result.params} params, "
                    f"{result.train_seconds:.1f}s training")
                results.append(result)
    run_info = {
        "argv": list(argv) if argv is not None else None,
        "total_seconds": time.time() - started,
        "encode_seconds": encode_seconds,
        **counts,
        "load_start": load_start,
        "load_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    output = Path(options.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    png = output / f"{options.name}.png"
    md = output / f"{options.name}.md"
    plot_curves(results, options, png)
    _write_text(md, format_report(results, options, run_info, png.name))
    log(f"wrote {md} and {png} ({run_info['total_seconds']:.1f}s in all)")
    return {"report": str(md), "figure": str(png), "results": [asdict(r) for r in results],
            **run_info}


# -- outputs -----------------------------------------------------------------------------------
def _write_text(path: Path, text: str) -> None:
    from framescribe.plugin.atomic_files import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)


def plot_curves(results: Sequence[RunResult], options: ExperimentOptions, path: Path) -> None:
    """Per variant: curve-split top-1 and training loss per epoch, a line per cell and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(dict.fromkeys(r.frames for r in results))
    fig, axes = plt.subplots(len(variants), 2, figsize=(11, 3.6 * len(variants)), squeeze=False)
    colours = {"simple_rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
    styles = ["-", "--", ":", "-."]
    seeds = list(dict.fromkeys(r.seed for r in results))
    for row, frames in enumerate(variants):
        accuracy, loss = axes[row]
        for r in (r for r in results if r.frames == frames):
            epochs = np.arange(1, len(r.history["loss"]) + 1)
            style = dict(color=colours.get(r.cell, "black"),
                         linestyle=styles[seeds.index(r.seed) % len(styles)],
                         label=f"{CELL_NAMES.get(r.cell, r.cell)} seed {r.seed}")
            accuracy.plot(epochs, r.history["curve_top1"], **style)
            loss.plot(epochs, r.history["loss"], **style)
        accuracy.set(title=f"{frames} frames: {options.curve_split} top-1 (last frame)",
                     xlabel="epoch", ylabel="top-1", ylim=(0, 1))
        loss.set(title=f"{frames} frames: training loss", xlabel="epoch", ylabel="loss")
        loss.set_yscale("log")
        for axis in (accuracy, loss):
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
    fig.suptitle(f"SimpleRNN vs LSTM on lasa-airwriting ({options.inputs} inputs, "
                 f"{options.units} units x {options.num_layers} layers)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp.png")
    try:
        fig.savefig(temporary, dpi=100, format="png")
        os.replace(temporary, path)
    finally:
        plt.close(fig)
        temporary.unlink(missing_ok=True)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _fastest(result: RunResult) -> float:
    """Seconds of the run's fastest epoch: the least disturbed by other work on the machine."""
    return min(result.history.get("epoch_seconds") or [float("nan")])


def _group(results: Sequence[RunResult], frames: int, cell: str) -> list[RunResult]:
    return [r for r in results if r.frames == frames and r.cell == cell]


def _interpretation(results: Sequence[RunResult], options: ExperimentOptions,
                    test_clips: int) -> list[str]:
    """Sentences computed from the measured numbers (no expectations)."""
    lines = []
    variants = list(dict.fromkeys(r.frames for r in results))
    gaps, gains = {}, {}
    if "simple_rnn" in options.cells and "lstm" in options.cells:
        for frames in variants:
            rnn, lstm = _group(results, frames, "simple_rnn"), _group(results, frames, "lstm")
            gap = _mean([r.top1 for r in lstm]) - _mean([r.top1 for r in rnn])
            gaps[frames] = gap
            spread = max(max(r.top1 for r in g) - min(r.top1 for r in g) for g in (rnn, lstm))
            faster = _mean([r.train_seconds for r in rnn]) / _mean([r.train_seconds for r in lstm])
            fastest = _mean([_fastest(r) for r in rnn]) / _mean([_fastest(r) for r in lstm])
            lines.append(
                f"- **{frames} frames**: LSTM test top-1 {_mean([r.top1 for r in lstm]):.3f} vs "
                f"SimpleRNN {_mean([r.top1 for r in rnn]):.3f} (mean over {len(options.seeds)} "
                f"seed(s)): LSTM {'+' if gap >= 0 else ''}{100 * gap:.1f} points; largest "
                f"seed-to-seed spread within a cell {100 * spread:.1f} points. SimpleRNN "
                f"training took {faster:.2f}x the LSTM's time ({fastest:.2f}x comparing each "
                "run's fastest epoch, the measure least disturbed by other load).")
            final_loss = {c: _mean([r.history['loss'][-1] for r in _group(results, frames, c)])
                          for c in ("simple_rnn", "lstm")}
            fit = {c: _mean([r.train_top1 for r in _group(results, frames, c)
                             if r.train_top1 is not None]) for c in ("simple_rnn", "lstm")}
            lines.append(
                f"  Fit of the training clips: final training loss SimpleRNN "
                f"{final_loss['simple_rnn']:.3f}, LSTM {final_loss['lstm']:.3f}; train top-1 "
                f"SimpleRNN {fit['simple_rnn']:.3f}, LSTM {fit['lstm']:.3f}.")
            windows = probe_windows(frames, options.probe_fractions)
            probe = {c: [_mean([r.probe[str(k)] for r in _group(results, frames, c)
                                if str(k) in r.probe]) for k in windows]
                     for c in ("simple_rnn", "lstm")}
            if all(len(v) > 1 and not np.isnan(v).any() for v in probe.values()):
                shown = "/".join(str(k) for k in windows)
                lines.append(
                    f"  Memory probe, test top-1 from only the last {shown} frames: SimpleRNN "
                    + "/".join(f"{v:.2f}" for v in probe["simple_rnn"]) + ", LSTM "
                    + "/".join(f"{v:.2f}" for v in probe["lstm"])
                    + f". Frames before the last {windows[0]} add "
                    f"{100 * (probe['simple_rnn'][-1] - probe['simple_rnn'][0]):+.1f} points "
                    f"for SimpleRNN and "
                    f"{100 * (probe['lstm'][-1] - probe['lstm'][0]):+.1f} points for LSTM.")
                gains[frames] = (probe["simple_rnn"][-1] - probe["simple_rnn"][0],
                                 probe["lstm"][-1] - probe["lstm"][0], windows[0])
            rnn_test = _mean([r.top1 for r in rnn])
            if fit["simple_rnn"] >= 0.9 and fit["simple_rnn"] - rnn_test >= 0.1:
                lines.append(
                    f"  SimpleRNN fits its training clips (train top-1 {fit['simple_rnn']:.3f}) "
                    f"far better than the unseen test demonstrations ({rnn_test:.3f}): its "
                    "deficit is generalisation to new demonstrations, not fitting.")
    if gains:
        frames = max(gains)
        rnn_gain, lstm_gain, k = gains[frames]
        verdict = ("consistent with" if gaps[frames] > 0 and lstm_gain - rnn_gain >= 0.05
                   else "not consistent with" if gaps[frames] <= 0 else "inconclusive on")
        lines.append(
            f"- This run is {verdict} the design assumption that the LSTM keeps what a plain RNN "
            f"forgets: at {frames} frames the SimpleRNN gains {100 * rnn_gain:+.1f} points from "
            f"everything before the last {k} frames, the LSTM {100 * lstm_gain:+.1f} points, "
            f"and the LSTM leads by {100 * gaps[frames]:+.1f} points of test top-1.")
    if len(gaps) >= 2:
        longest, shortest = max(gaps), min(gaps)
        change = gaps[longest] - gaps[shortest]
        lines.append(
            f"- The LSTM's advantage is {100 * gaps[longest]:.1f} points at {longest} frames and "
            f"{100 * gaps[shortest]:.1f} points at {shortest} frames: it "
            f"{'grows' if change > 0 else 'does not grow'} with the sequence length "
            f"({'+' if change >= 0 else ''}{100 * change:.1f} points).")
    demos = (" from only 52 human demonstrations (5 clips each), so one demonstration is worth "
             "up to ~1.9 points of top-1" if test_clips == 260 else "")
    lines.append(
        f"- Noise: the test set is {test_clips} clips{demos}; differences of a few points "
        "between cells, or between seeds, are within noise.")
    return lines


def _probe_table(results: Sequence[RunResult], options: ExperimentOptions) -> list[str]:
    """Test top-1 when the classifier sees only the last k frames of each test clip."""
    fractions = sorted(options.probe_fractions)
    names = [f"last {Fraction(f).limit_denominator(64)}" for f in fractions] + ["whole clip"]
    lines = [
        "### Memory probe",
        "",
        "Test top-1 when the trained classifier sees only the last k frames of each test clip "
        "(its state starts from zero at frame T - k). A model that forgets everything older "
        "than k frames scores the same with the last k frames as with the whole clip.",
        "",
        "| frames | cell | seed | " + " | ".join(names) + " |",
        "|---:|---|---:|" + "---:|" * len(names),
    ]
    for r in results:
        if not r.probe:
            continue
        cells = []
        for f in [*fractions, 1.0]:
            k = str(max(1, round(f * r.frames)))
            cells.append(f"{r.probe[k]:.3f} (k={k})" if k in r.probe else "n/a")
        lines.append(f"| {r.frames} | {CELL_NAMES.get(r.cell, r.cell)} | {r.seed} | "
                     + " | ".join(cells) + " |")
    return lines


def format_report(results: Sequence[RunResult], options: ExperimentOptions, run: dict,
                  figure: str) -> str:
    """The markdown report: measured numbers, settings, machine, interpretation."""
    import keras
    import tensorflow as tf

    argv = run.get("argv")
    command = ("python -m experiments.experiment_rnn_vs_lstm"
               + ("".join(" " + shlex.quote(a) for a in argv) if argv else ""))
    how = (" (run from Python, with the settings below)" if argv is None
           else " (all defaults; `make experiment-rnn-vs-lstm` runs the same)" if not argv
           else "")
    resumed = [r for r in results if r.resumed]
    inputs = (f"the frozen frame-encoder features ({_encoder_key(options)}) of the bundle "
              f"`{Path(options.bundle).name}` (the shipped demo bundle's are what its gesture "
              "classifier sees)" if options.inputs == "encoder"
              else "the fingertip positions (x, y) / 64")
    targets = ("the last frame's logits against the clip label (many-to-one; no per-frame "
               "supervision)" if options.targets == "last"
               else "per-frame targets weighted as in the shipped recipe (frame_targets, "
               f"final_frame_weight {options.final_frame_weight})")
    title = " vs ".join(f"{f} frames" for f in options.frames)
    lines = [
        f"# {' vs '.join(CELL_NAMES.get(c, c) for c in options.cells)} on lasa-airwriting: "
        f"{title}",
        "",
        "Does the LSTM keep what a plain RNN forgets? The GestureClassifier trained with "
        "`cell=\"simple_rnn\"` and with `cell=\"lstm\"` under the same budget, on the isolated "
        "clips of lasa-airwriting resampled to each variant's length. Generated by "
        "`models/experiment_rnn_vs_lstm.py`; every number below was measured in the run "
        "described here.",
        "",
        "## Results",
        "",
        f"Test split: {run['test_clips']} clips; numbers after the last epoch "
        f"({options.epochs}); training seconds = fit time without the per-epoch evaluation "
        "(the machine is shared: the fastest epoch is the steadiest speed measure).",
        "",
        "| frames | cell | seed | test top-1 | test top-5 | train top-1 | trainable params | "
        "training s | s/epoch | fastest epoch s | final loss |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        fit = "n/a" if r.train_top1 is None else f"{r.train_top1:.3f}"
        lines.append(
            f"| {r.frames} | {CELL_NAMES.get(r.cell, r.cell)} | {r.seed} | {r.top1:.3f} | "
            f"{r.top5:.3f} | {fit} | {r.params:,} | {r.train_seconds:.1f} | "
            f"{r.train_seconds / max(1, len(r.history['loss'])):.1f} | {_fastest(r):.1f} | "
            f"{r.history['loss'][-1]:.3f} |")
    if len(options.seeds) > 1:
        lines += ["", f"Mean over the {len(options.seeds)} seeds:", "",
                  "| frames | cell | test top-1 | test top-5 | training s |",
                  "|---:|---|---:|---:|---:|"]
        for frames in dict.fromkeys(r.frames for r in results):
            for cell in options.cells:
                group = _group(results, frames, cell)
                if group:
                    lines.append(
                        f"| {frames} | {CELL_NAMES.get(cell, cell)} | "
                        f"{_mean([r.top1 for r in group]):.3f} | "
                        f"{_mean([r.top5 for r in group]):.3f} | "
                        f"{_mean([r.train_seconds for r in group]):.1f} |")
    else:
        lines += ["", "One seed per cell only: the differences below carry no seed spread."]
    lines += ["", f"Train top-1: the first {TRAIN_FIT_CLIPS} training clips scored in "
              "inference mode after the last epoch (how well the training data are fitted).",
              "", *_probe_table(results, options)]
    lines += ["", f"![learning curves]({figure})", "",
              f"Learning curves (`{figure}`): {options.curve_split} top-1 of the last frame "
              "after each epoch (left) and training loss (right, log scale).", "",
              "## Interpretation", ""]
    lines += _interpretation(results, options, run["test_clips"])
    lines += [
        "",
        "## Setup",
        "",
        f"- Command: `{command}`{how}.",
        f"- Data: lasa-airwriting isolated clips, the same clips for every cell and seed: "
        f"{run['train_clips']} training clips (the first {run['train_clips']} of the train "
        f"split{', demos 0-3' if options.curve_split == 'validation' else ', demos 0-4'}, "
        f"augmented, dataset seed 0), {run['test_clips']} test clips (demos 5-6, test seed "
        f"1234). Variants: {', '.join(str(f) for f in options.frames)} frames per clip (the "
        "same gestures and augmentations, resampled).",
        f"- Inputs per frame: {inputs}.",
        f"- Model: GestureClassifier, {options.units} units x {options.num_layers} layers, "
        f"dropout {options.dropout}, input projection Dense({options.units}, relu) after "
        "standardisation.",
        f"- Loss: {targets}. Why: the label has to be carried from the start of the clip to its "
        "end through every recurrent step, which is exactly what separates the two cells.",
        f"- Optimiser: Adam, learning rate {options.learning_rate} with cosine decay to 5% "
        f"over {options.epochs} epochs, clipnorm 5; batch size {options.batch_size}; "
        f"seeds {', '.join(str(s) for s in options.seeds)} (`keras.utils.set_random_seed`: "
        "weight init, dropout and shuffling).",
        f"- Machine: {_machine()}; TensorFlow {tf.__version__}, Keras {keras.__version__}; "
        f"load average {_fmt_load(run.get('load_start'))} at the start and "
        f"{_fmt_load(run.get('load_end'))} at the end (the machine is shared, so seconds "
        "are indicative).",
        f"- Wall time of this invocation: {run['total_seconds']:.0f} s, of which feature "
        f"encoding {run['encode_seconds']:.0f} s (0 when the features were cached).",
    ]
    if resumed:
        lines.append(f"- {len(resumed)} of {len(results)} runs were read from the run cache "
                     f"(`{options.cache_dir}/runs`), not retrained by this invocation; their "
                     "seconds are those measured when they ran.")
    return "\n".join(lines) + "\n"


def _fmt_load(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core CPU ({model}), {platform.system()}, Python " \
           f"{platform.python_version()}"


# -- command line ------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> ExperimentOptions:
    defaults = ExperimentOptions()
    parser = argparse.ArgumentParser(
        prog="python -m experiments.experiment_rnn_vs_lstm",
        description="Train the gesture classifier with SimpleRNN and with LSTM under the same "
                    "budget on 256- and 32-frame lasa-airwriting clips; write a markdown report "
                    "and a PNG of the learning curves. Defaults = the reported run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--frames", type=int, nargs="+", default=list(defaults.frames),
        help="variants: frames per clip")
    add("--cells", nargs="+", default=list(defaults.cells), help="recurrent cells to compare")
    add("--seeds", type=int, nargs="+", default=list(defaults.seeds), help="one run per seed")
    add("--inputs", choices=INPUTS, default=defaults.inputs,
        help="encoder: the bundle's frozen frame features; positions: fingertip (x, y)")
    add("--targets", choices=TARGETS, default=defaults.targets,
        help="last: last-frame label only; ramp: the shipped recipe's per-frame weights")
    add("--curve-split", choices=CURVE_SPLITS, default=defaults.curve_split,
        help="split of the per-epoch curves (validation: train on demos 0-3)")
    add("--train-clips", type=int, default=defaults.train_clips or 0,
        help="first N training clips (0: the whole split)")
    add("--eval-clips", type=int, default=0,
        help="first N test/validation clips (0: the whole split)")
    add("--epochs", type=int, default=defaults.epochs)
    add("--batch-size", type=int, default=defaults.batch_size)
    add("--learning-rate", type=float, default=defaults.learning_rate)
    add("--units", type=int, default=defaults.units)
    add("--num-layers", type=int, default=defaults.num_layers)
    add("--dropout", type=float, default=defaults.dropout)
    add("--final-frame-weight", type=float, default=defaults.final_frame_weight,
        help="last-frame weight with --targets ramp")
    add("--probe-fractions", type=float, nargs="+", default=list(defaults.probe_fractions),
        help="memory probe: test top-1 from only the last fraction of each clip's frames")
    add("--bundle", default=defaults.bundle, help="bundle whose frame encoder gives the inputs")
    add("--output-dir", default=defaults.output_dir, help="where the .md and .png go")
    add("--name", default=defaults.name, help="file name stem of the report and figure")
    add("--cache-dir", default=defaults.cache_dir, help="features and finished runs")
    add("--no-resume", action="store_true", help="retrain runs found in the run cache")
    add("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    return replace(
        defaults, frames=tuple(args.frames), cells=tuple(args.cells), seeds=tuple(args.seeds),
        inputs=args.inputs, targets=args.targets, curve_split=args.curve_split,
        train_clips=args.train_clips or None, eval_clips=args.eval_clips or None,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        units=args.units, num_layers=args.num_layers, dropout=args.dropout,
        final_frame_weight=args.final_frame_weight,
        probe_fractions=tuple(args.probe_fractions), bundle=args.bundle,
        output_dir=args.output_dir, name=args.name, cache_dir=args.cache_dir,
        resume=not args.no_resume, verbose=0 if args.quiet else 2)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        options = parse_args(argv)
    except ValueError as error:
        print(f"experiment_rnn_vs_lstm: error: {error}", file=sys.stderr)
        return 2
    run_experiment(options, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
