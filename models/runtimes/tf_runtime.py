"""TensorFlow runtime: the bundle's Keras models behind `tf.function`s with fixed signatures.

Every call takes and returns numpy arrays. Batch sizes vary freely (signatures have a None
batch dimension), so one trace serves every request; nothing runs eagerly per frame. Outputs
and carried states are float32 whatever policy the models were built under (a server's
mixed_precision computes in float16), so they feed back into the float32 signatures.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from framescribe.models.networks.caption_decoder import CaptionDecoder
from framescribe.models.networks.frame_encoder import FrameEncoder
from framescribe.models.networks.gesture_classifier import GestureClassifier

ENCODER_CHUNK = 256  # frames per encoder call: bounds memory on long clips


def _float32(tensors):
    """Cast a tensor, or each in a list/dict, to float32 (a no-op for float32 ones)."""
    return _cast(tensors, tf.float32)


def _cast(tensors, dtype):
    """Cast a tensor, or each in a list/dict, to dtype (a no-op where it already is)."""
    return tf.nest.map_structure(lambda t: tf.cast(t, dtype), tensors)


class TensorFlowRuntime:
    """Inference for one bundle's models. Shapes: see each method."""

    name = "tf"

    def __init__(
        self,
        encoder: FrameEncoder | None,
        caption_decoder: CaptionDecoder | None,
        gesture_classifier: GestureClassifier | None,
    ):
        self.encoder = encoder
        self.caption_decoder = caption_decoder
        self.gesture_classifier = gesture_classifier
        if encoder is not None:
            size = encoder.input_size
            self._encode = tf.function(
                lambda frames: encoder(frames, training=False),
                input_signature=[tf.TensorSpec((None, size, size, 3), tf.uint8)],
            )
        if caption_decoder is not None:
            self._build_caption_functions(caption_decoder)
        if gesture_classifier is not None:
            self._build_gesture_functions(gesture_classifier)

    def _build_caption_functions(self, decoder: CaptionDecoder) -> None:
        feature_spec = tf.TensorSpec((None, None, decoder.feature_dim), tf.float32)
        self._caption_init = tf.function(
            lambda features: _float32(decoder.init(features)), input_signature=[feature_spec]
        )
        state_spec = {name: tf.TensorSpec((None, *shape), tf.float32)
                      for name, shape in decoder.state_shapes().items()}

        def step(tokens, state):
            # The carried state goes back in at the model's compute dtype: the decoder mixes
            # it with its own layers' outputs in plain ops (no autocast there).
            logits, new_state, _ = decoder.step(tokens, _cast(state, decoder.compute_dtype))
            return tf.nn.log_softmax(_float32(logits)), _float32(new_state)

        self._caption_step = tf.function(
            step, input_signature=[tf.TensorSpec((None,), tf.int32), state_spec]
        )

    def _build_gesture_functions(self, classifier: GestureClassifier) -> None:
        dim, units = classifier.input_dim, classifier.units
        states_spec = [tf.TensorSpec((None, units), tf.float32)] * classifier.state_count

        def step(features, states):
            logits, new_states = classifier.step(
                features, _cast(list(states), classifier.compute_dtype))
            return tf.nn.softmax(_float32(logits)), _float32(new_states)

        self._gesture_step = tf.function(
            step, input_signature=[tf.TensorSpec((None, dim), tf.float32), states_spec]
        )
        self._gesture_run = tf.function(
            lambda features: tf.nn.softmax(_float32(classifier(features))),
            input_signature=[tf.TensorSpec((None, None, dim), tf.float32)],
        )

        def chunk(features, states):
            logits, new_states = classifier.run(
                features[None], _cast(list(states), classifier.compute_dtype))
            return tf.nn.softmax(_float32(logits))[0], _float32(new_states)

        self._gesture_chunk = tf.function(chunk, input_signature=[
            tf.TensorSpec((None, dim), tf.float32),
            [tf.TensorSpec((1, units), tf.float32)] * classifier.state_count])

    # -- encoder -------------------------------------------------------------------------
    def encode(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (n, size, size, 3) RGB -> float32 features (n, feature_dim)."""
        if len(frames) == 0:
            return np.zeros((0, self.feature_dim), np.float32)
        chunks = [
            self._encode(tf.constant(frames[i : i + ENCODER_CHUNK])).numpy()
            for i in range(0, len(frames), ENCODER_CHUNK)
        ]
        return np.concatenate(chunks)

    @property
    def feature_dim(self) -> int:
        return self.encoder.output_dim

    @property
    def input_size(self) -> int:
        """Encoder input side, pixels."""
        return self.encoder.input_size

    # -- captions ------------------------------------------------------------------------
    def caption_init(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """features (batch, frames, feature_dim) -> decoder state (dict of arrays)."""
        state = self._caption_init(tf.constant(features, tf.float32))
        return {k: v.numpy() for k, v in state.items()}

    def caption_step(self, tokens: np.ndarray, state: dict) -> tuple[np.ndarray, dict]:
        """tokens (batch,) int32 -> (log-probabilities (batch, vocab), new state)."""
        log_probs, new_state = self._caption_step(tf.constant(tokens, tf.int32), state)
        return log_probs.numpy(), {k: v.numpy() for k, v in new_state.items()}

    # -- gestures ------------------------------------------------------------------------
    def gesture_initial_state(self, batch_size: int) -> list[np.ndarray]:
        units = self.gesture_classifier.units
        count = self.gesture_classifier.state_count
        return [np.zeros((batch_size, units), np.float32) for _ in range(count)]

    def gesture_step(self, features: np.ndarray, states: list) -> tuple[np.ndarray, list]:
        """features (batch, feature_dim) -> (probabilities (batch, 1 + labels), new states)."""
        probs, new_states = self._gesture_step(tf.constant(features, tf.float32), states)
        return probs.numpy(), [s.numpy() for s in new_states]

    def gesture_chunk(self, features: np.ndarray, states: list) -> tuple[np.ndarray, list]:
        """Consecutive frames of one stream in one call: features (frames, feature_dim) and
        the states before them (each (1, units)) -> (probabilities (frames, 1 + labels),
        states after the last frame)."""
        probs, new_states = self._gesture_chunk(tf.constant(features, tf.float32), states)
        return probs.numpy(), [s.numpy() for s in new_states]

    def gesture_run(self, features: np.ndarray) -> np.ndarray:
        """Whole clips: features (batch, frames, feature_dim) -> probabilities per frame."""
        return self._gesture_run(tf.constant(features, tf.float32)).numpy()
