"""Training of the GestureClassifier on cached per-frame features of gesture streams.

Targets are per frame: 0 while idle, label + 1 during a gesture. A recurrent classifier can
only know a gesture once it has seen most of it, so the loss weight of a gesture frame grows
along the gesture (the last frame, where whole-clip classification reads, weighs most).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from framescribe.models.networks.gesture_classifier import GestureClassifier
from framescribe.models.runtimes.tf_setup import keep_float32


@dataclass(frozen=True)
class GestureTrainingOptions:
    epochs: int = 16
    batch_size: int = 32
    learning_rate: float = 3e-3
    cell: str = "lstm"
    units: int = 128
    num_layers: int = 2
    final_frame_weight: float = 3.0  # extra weight on each gesture's last frame


def frame_targets(frame_labels: np.ndarray, final_frame_weight: float):
    """frame_labels (frames,) with -1 = idle -> (targets (frames,), weights (frames,))."""
    targets = np.where(frame_labels < 0, 0, frame_labels + 1).astype(np.int32)
    weights = np.ones(len(frame_labels), np.float32)
    t = 0
    while t < len(frame_labels):
        end = t
        while end < len(frame_labels) and frame_labels[end] == frame_labels[t]:
            end += 1
        if frame_labels[t] >= 0:
            run = end - t
            weights[t:end] = 0.1 + 0.9 * (np.arange(1, run + 1) / run)
            weights[end - 1] = final_frame_weight
        t = end
    return targets, weights


def pad_sequences(features: Sequence[np.ndarray], frame_labels: Sequence[np.ndarray],
                  final_frame_weight: float):
    """Pad streams to one length: (features (n, T, D), targets (n, T), weights (n, T))."""
    longest = max(len(f) for f in features)
    dim = features[0].shape[1]
    x = np.zeros((len(features), longest, dim), np.float32)
    y = np.zeros((len(features), longest), np.int32)
    w = np.zeros((len(features), longest), np.float32)
    for i, (f, labels) in enumerate(zip(features, frame_labels, strict=True)):
        targets, weights = frame_targets(labels, final_frame_weight)
        x[i, : len(f)], y[i, : len(f)], w[i, : len(f)] = f, targets, weights
    return x, y, w


def train_gesture_classifier(
    classifier: GestureClassifier,
    features: Sequence[np.ndarray],
    frame_labels: Sequence[np.ndarray],
    options: GestureTrainingOptions,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    verbose: int = 1,
) -> dict:
    """Train in place on streams: features[i] (frames_i, D), frame_labels[i] (frames_i,)."""
    classifier.adapt_normalization(np.concatenate(features[:: max(1, len(features) // 300)]))
    x, y, w = pad_sequences(features, frame_labels, options.final_frame_weight)
    steps = options.epochs * int(np.ceil(len(x) / options.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(options.learning_rate, steps, alpha=0.05)
    classifier.compile(
        optimizer=keras.optimizers.Adam(schedule, clipnorm=5.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    callbacks = []
    if checkpoint_dir:
        callbacks.append(keras.callbacks.BackupAndRestore(os.fspath(checkpoint_dir)))
    history = classifier.fit(
        x, y, sample_weight=w, batch_size=options.batch_size, epochs=options.epochs,
        shuffle=True, callbacks=callbacks, verbose=verbose,
    )
    return {"loss": [float(v) for v in history.history["loss"]]}


def build_gesture_classifier(num_labels: int, feature_dim: int,
                             options: GestureTrainingOptions) -> GestureClassifier:
    classifier = GestureClassifier(num_labels, feature_dim, cell=options.cell,
                                   units=options.units, num_layers=options.num_layers)
    keep_float32(classifier.output_layer)  # label logits in float32 under mixed precision
    return classifier
