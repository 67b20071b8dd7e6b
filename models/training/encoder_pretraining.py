"""Supervised pretraining of the FrameEncoder on per-frame facts the benchmarks know.

Per frame the encoder's features must predict (through a small head that is thrown away
afterwards): which digit classes are present and where each is, and the fingertip (present?,
x, y). Features that know *what is where* make the recurrent heads' job, telling motions and
gesture shapes apart, much easier, and they can be computed once and cached.

Target vector per frame (TARGET_WIDTH floats): for each digit class 0-9 its presence (0/1),
then each class's centre x, y scaled to [0, 1] (0 when absent; the mean when a class appears
twice), then fingertip presence, then fingertip x, y scaled to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

DIGIT_CLASSES = 10
DIGIT_PRESENCE = slice(0, DIGIT_CLASSES)
DIGIT_POSITION = slice(DIGIT_CLASSES, 3 * DIGIT_CLASSES)
FINGERTIP = 3 * DIGIT_CLASSES  # presence column; x, y follow
TARGET_WIDTH = FINGERTIP + 3


@dataclass(frozen=True)
class PretrainingOptions:
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3
    # Position errors (Huber, in eighths of the frame) against the presence cross-entropies:
    # digits need coarse positions (motions), the fingertip precise ones (gesture shapes).
    digit_position_weight: float = 1.0
    fingertip_position_weight: float = 10.0


def digit_frame_targets(tracks, frame_size: int) -> np.ndarray:
    """Targets for one moving-digits clip: tracks -> (frames, TARGET_WIDTH) float32."""
    frames = len(tracks[0].centers)
    out = np.zeros((frames, TARGET_WIDTH), np.float32)
    positions = np.zeros((frames, DIGIT_CLASSES, 2), np.float32)
    counts = np.zeros(DIGIT_CLASSES, np.float32)
    for track in tracks:
        positions[:, track.digit] += track.centers / frame_size
        counts[track.digit] += 1
    present = counts > 0
    out[:, DIGIT_PRESENCE] = present
    positions[:, present] /= counts[present][None, :, None]
    out[:, DIGIT_POSITION] = positions.reshape(frames, -1)
    return out


def fingertip_frame_targets(positions: np.ndarray, frame_size: int) -> np.ndarray:
    """Targets for air-writing frames: positions (frames, 2), NaN when absent."""
    out = np.zeros((len(positions), TARGET_WIDTH), np.float32)
    present = ~np.isnan(positions).any(axis=1)
    out[present, FINGERTIP] = 1.0
    out[present, FINGERTIP + 1 :] = positions[present] / frame_size
    return out


def _position_error(true, predicted):
    """Huber loss of position errors measured in eighths of the frame (8 px at 64x64)."""
    error = ops.abs(8.0 * (true - predicted))
    return ops.where(error < 1.0, 0.5 * ops.square(error), error - 0.5)


def pretraining_loss(digit_position_weight: float, fingertip_position_weight: float):
    def loss(y_true, y_pred):
        presence = ops.sum(ops.binary_crossentropy(
            y_true[:, DIGIT_PRESENCE], y_pred[:, DIGIT_PRESENCE], from_logits=True), axis=-1)
        digit_mask = ops.repeat(y_true[:, DIGIT_PRESENCE], 2, axis=-1)
        digit_error = ops.sum(digit_mask * _position_error(
            y_true[:, DIGIT_POSITION], y_pred[:, DIGIT_POSITION]), axis=-1)
        tip_true = y_true[:, FINGERTIP]
        tip = ops.binary_crossentropy(tip_true, y_pred[:, FINGERTIP], from_logits=True)
        tip_error = tip_true * ops.sum(_position_error(
            y_true[:, FINGERTIP + 1 :], y_pred[:, FINGERTIP + 1 :]), axis=-1)
        return (presence + tip + digit_position_weight * digit_error
                + fingertip_position_weight * tip_error)

    return loss


def build_pretraining_model(encoder) -> keras.Model:
    """encoder + heads: uint8 frames -> (batch, TARGET_WIDTH) logits/positions.

    An encoder with keypoint maps is supervised on them directly: map c is digit class c
    (peak = presence logit, expected x/y = centre), map 10 is the fingertip. Other encoders
    get a linear head on their features.
    """
    frames = keras.Input((encoder.input_size, encoder.input_size, 3), dtype="uint8")
    features = encoder(frames)
    k = encoder.keypoint_count
    if k < DIGIT_CLASSES + 1:
        heads = keras.layers.Dense(TARGET_WIDTH, name="pretraining_heads",
                                   dtype="float32")(features)
        return keras.Model(frames, heads, name="encoder_pretraining")
    keypoints = features[:, -3 * k :]
    xs, ys, peaks = keypoints[:, :k], keypoints[:, k : 2 * k], keypoints[:, 2 * k :]
    digit_positions = ops.reshape(
        ops.stack([xs[:, :DIGIT_CLASSES], ys[:, :DIGIT_CLASSES]], axis=-1), (-1, 2 * DIGIT_CLASSES))
    tip = DIGIT_CLASSES
    heads = ops.concatenate([
        peaks[:, :DIGIT_CLASSES], digit_positions,
        peaks[:, tip : tip + 1], xs[:, tip : tip + 1], ys[:, tip : tip + 1],
    ], axis=-1)
    return keras.Model(frames, heads, name="encoder_pretraining")


def pretrain_encoder(encoder, frames: np.ndarray, targets: np.ndarray,
                     options: PretrainingOptions, *, verbose: int = 2) -> dict:
    """Train `encoder` in place on frames (n, s, s, 3) uint8 and targets (n, TARGET_WIDTH).

    Returns the final loss, and on the last 5% of frames (held out) the per-class digit
    presence accuracy and the fingertip error in pixels.
    """
    model = build_pretraining_model(encoder)
    model.compile(
        optimizer=keras.optimizers.Adam(options.learning_rate),
        loss=pretraining_loss(options.digit_position_weight,
                              options.fingertip_position_weight),
    )
    holdout = max(1, len(frames) // 20)
    history = model.fit(
        frames[:-holdout], targets[:-holdout],
        batch_size=options.batch_size, epochs=options.epochs, shuffle=True, verbose=verbose,
    )
    predicted = model.predict(frames[-holdout:], batch_size=256, verbose=0)
    truth = targets[-holdout:]
    result = {"loss": float(history.history["loss"][-1])}
    digits = truth[:, DIGIT_PRESENCE].sum(axis=1) > 0
    if digits.any():
        guess = predicted[digits, DIGIT_PRESENCE] > 0
        result["digit_presence_accuracy"] = float(
            np.mean(guess == (truth[digits, DIGIT_PRESENCE] > 0.5)))
        mask = np.repeat(truth[:, DIGIT_PRESENCE], 2, axis=1) > 0.5
        error = np.abs(predicted[:, DIGIT_POSITION] - truth[:, DIGIT_POSITION])[mask]
        result["digit_position_error_px"] = float(np.mean(error) * encoder.input_size)
    tips = truth[:, FINGERTIP] > 0.5
    if tips.any():
        error = predicted[tips, FINGERTIP + 1 :] - truth[tips, FINGERTIP + 1 :]
        result["fingertip_error_px"] = float(
            np.mean(np.linalg.norm(error, axis=1)) * encoder.input_size)
    return result
