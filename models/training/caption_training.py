"""Teacher-forced training of the CaptionDecoder on cached frame features."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from framescribe.models.networks.caption_decoder import CaptionDecoder
from framescribe.models.networks.caption_vocabulary import CaptionVocabulary
from framescribe.models.runtimes.tf_setup import keep_float32


@dataclass(frozen=True)
class CaptionTrainingOptions:
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 3e-3
    max_length: int = 20  # words, <end> not counted
    units: int = 256
    reverse_time: bool = True  # also train on every clip played backwards (same caption)


def masked_caption_loss(targets, logits):
    """Cross-entropy per word, averaged over the non-padding words of the batch."""
    from keras import ops

    mask = ops.cast(ops.not_equal(targets, 0), "float32")
    per_word = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    return ops.sum(per_word * mask) / ops.maximum(ops.sum(mask), 1.0)


def build_caption_decoder(vocabulary: CaptionVocabulary, feature_dim: int,
                          options: CaptionTrainingOptions,
                          keypoint_tracks: int = 0) -> CaptionDecoder:
    decoder = CaptionDecoder(len(vocabulary), feature_dim, units=options.units,
                             keypoint_tracks=keypoint_tracks)
    keep_float32(decoder.output_layer)  # word logits in float32 under mixed precision
    return decoder


def train_caption_decoder(
    decoder: CaptionDecoder,
    vocabulary: CaptionVocabulary,
    features: np.ndarray,
    captions: Sequence[str],
    options: CaptionTrainingOptions,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    verbose: int = 1,
) -> dict:
    """Train in place. features (clips, frames, feature_dim) float32, one caption per clip.

    With checkpoint_dir, training state is backed up every epoch and an interrupted run
    resumes where it stopped. Returns {"loss": [...per epoch]}.
    """
    inputs, targets = vocabulary.teacher_forcing_arrays(captions, options.max_length + 1)
    length = int((targets != 0).sum(axis=1).max())  # trim padding columns nobody uses
    inputs, targets = inputs[:, :length], targets[:, :length]
    features = features.astype(np.float32)
    if options.reverse_time:
        # The benchmark's motions read the same backwards (a bounce is a bounce), so a clip
        # reversed in time is a free, label-preserving second example.
        features = np.concatenate([features, features[:, ::-1]])
        inputs, targets = np.concatenate([inputs, inputs]), np.concatenate([targets, targets])
    decoder.adapt_normalization(features[:: max(1, len(features) // 2000)])
    steps = options.epochs * int(np.ceil(len(features) / options.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(options.learning_rate, steps, alpha=0.05)
    decoder.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=5.0),
                    loss=masked_caption_loss)
    callbacks = []
    if checkpoint_dir:
        callbacks.append(keras.callbacks.BackupAndRestore(os.fspath(checkpoint_dir)))
    history = decoder.fit(
        (features, inputs), targets,
        batch_size=options.batch_size, epochs=options.epochs, shuffle=True,
        callbacks=callbacks, verbose=verbose,
    )
    return {"loss": [float(v) for v in history.history["loss"]]}
