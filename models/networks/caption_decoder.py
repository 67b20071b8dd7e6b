"""CaptionDecoder: LSTM with soft attention over a segment's frame features.

S2VT / SA-LSTM lineage: a bidirectional LSTM reads the frame features (so each frame's
annotation sees its neighbours, which is where motion lives), then an LSTM decoder emits one
word per step, attending over the annotations (Bahdanau attention). Each frame's input is its
features and their change since the previous frame (a cheap motion signal, like the flow
stream of two-stream video models).

With `keypoint_tracks` K > 0 (encoders with spatial keypoints: the last 3K features per frame
are K keypoints' x, y and peak), a second attention runs over the K keypoint *tracks* (each
summarised over time by a small shared GRU, plus a learned identity per keypoint): words about
one object ("digit 3 is moving up and down") can then look at that object's own track, which
binds motions to the right object when several are in view.

Exposed as `init(features)` and `step(tokens, state)` so a server can batch decoding across
clips; `call((features, input_tokens))` is the teacher-forcing training graph built from the
same two functions.
"""

from __future__ import annotations

import keras
from keras import ops

from framescribe.models.networks.feature_standardizer import FeatureStandardizer


@keras.saving.register_keras_serializable(package="framescribe")
class CaptionDecoder(keras.Model):
    """features (batch, frames, feature_dim) -> word logits.

    State between steps is a dict of tensors, all with the batch first:
    h, c (batch, units); context (batch, frames, units); keys (batch, frames, attention_units);
    with keypoint tracks also tracks (batch, K, track_units), track_keys (batch, K, attention).
    """

    TRACK_UNITS = 64

    def __init__(
        self,
        vocabulary_size: int,
        feature_dim: int,
        units: int = 256,
        embedding_dim: int = 64,
        attention_units: int = 128,
        dropout: float = 0.3,
        keypoint_tracks: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.feature_dim = feature_dim
        self.units = units
        self.embedding_dim = embedding_dim
        self.attention_units = attention_units
        self.dropout_rate = dropout
        self.keypoint_tracks = keypoint_tracks
        # Standardises each feature with training-set statistics (see adapt_normalization):
        # encoders mix values of very different scales (projections, keypoint x/y, peaks).
        self.normalize = FeatureStandardizer()
        self.input_projection = keras.layers.Dense(units, activation="relu")
        self.frame_reader = keras.layers.Bidirectional(
            keras.layers.LSTM(units // 2, return_sequences=True), merge_mode="concat"
        )
        self.init_h = keras.layers.Dense(units, activation="tanh")
        self.init_c = keras.layers.Dense(units)
        self.key_projection = keras.layers.Dense(attention_units, use_bias=False)
        self.query_projection = keras.layers.Dense(attention_units)
        self.attention_score = keras.layers.Dense(1, use_bias=False)
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim)
        self.cell = keras.layers.LSTMCell(units)
        self.dropout = keras.layers.Dropout(dropout)
        self.output_layer = keras.layers.Dense(vocabulary_size)
        if keypoint_tracks:
            if 3 * keypoint_tracks > feature_dim:
                raise ValueError(f"keypoint_tracks={keypoint_tracks} needs feature_dim >= "
                                 f"{3 * keypoint_tracks}, got {feature_dim}")
            self.track_reader = keras.layers.GRU(self.TRACK_UNITS)
            self.track_identity = keras.layers.Embedding(keypoint_tracks, self.TRACK_UNITS)
            self.track_key_projection = keras.layers.Dense(attention_units, use_bias=False)
            self.track_query_projection = keras.layers.Dense(attention_units)
            self.track_score = keras.layers.Dense(1, use_bias=False)
        features = ops.zeros((1, 2, feature_dim))
        self((features, ops.zeros((1, 1), dtype="int32")))  # create weights

    def adapt_normalization(self, features) -> None:
        """Set the input standardisation from training features (clips, frames, dim)."""
        self.normalize.adapt(features.reshape(-1, features.shape[-1]))

    def init(self, features, training=False) -> dict:
        """Decoder state for a batch of segments; features (batch, frames, feature_dim)."""
        features = self.normalize(features)
        previous = ops.concatenate([features[:, :1], features[:, :-1]], axis=1)
        x = self.input_projection(ops.concatenate([features, features - previous], axis=-1))
        context = self.frame_reader(self.dropout(x, training=training), training=training)
        summary = ops.mean(context, axis=1)
        state = {
            "h": self.init_h(summary),
            "c": self.init_c(summary),
            "context": context,
            "keys": self.key_projection(context),
        }
        if self.keypoint_tracks:
            tracks = self._read_tracks(features, previous)
            state["tracks"] = tracks
            state["track_keys"] = self.track_key_projection(tracks)
        return state

    def _read_tracks(self, features, previous):
        """(batch, frames, dim) -> (batch, K, TRACK_UNITS): each keypoint's path over time."""
        k = self.keypoint_tracks
        # A static batch size stays static through the reshape (LiteRT needs that to convert
        # the GRU's loop); otherwise it is read at run time.
        batch = features.shape[0] if features.shape[0] is not None else ops.shape(features)[0]
        frames = ops.shape(features)[1]
        points = features[..., -3 * k :]
        motion = points - previous[..., -3 * k :]
        per_track = ops.stack([points[..., :k], points[..., k : 2 * k], points[..., 2 * k :],
                               motion[..., :k], motion[..., k : 2 * k]], axis=-1)
        per_track = ops.reshape(ops.transpose(per_track, (0, 2, 1, 3)), (batch * k, frames, 5))
        summary = ops.reshape(self.track_reader(per_track), (batch, k, self.TRACK_UNITS))
        return summary + self.track_identity(ops.arange(k))[None]

    def state_shapes(self) -> dict[str, tuple]:
        """Shape of each state tensor without the batch (None = any number of frames)."""
        shapes = {"h": (self.units,), "c": (self.units,), "context": (None, self.units),
                  "keys": (None, self.attention_units)}
        if self.keypoint_tracks:
            shapes["tracks"] = (self.keypoint_tracks, self.TRACK_UNITS)
            shapes["track_keys"] = (self.keypoint_tracks, self.attention_units)
        return shapes

    def step(self, tokens, state: dict, training=False):
        """One word: tokens (batch,) -> (logits (batch, V), state, attention (batch, frames)).

        Written with expand_dims/squeeze rather than `[..., None]` indexing: LiteRT's
        converter has no builtin for strided slices that add axes on dynamic shapes."""
        query = ops.expand_dims(self.query_projection(state["h"]), 1)
        scores = ops.squeeze(self.attention_score(ops.tanh(state["keys"] + query)), -1)
        attention = ops.softmax(scores, axis=-1)
        attended = ops.sum(ops.expand_dims(attention, -1) * state["context"], axis=1)
        if self.keypoint_tracks:
            track_query = ops.expand_dims(self.track_query_projection(state["h"]), 1)
            track_scores = ops.squeeze(
                self.track_score(ops.tanh(state["track_keys"] + track_query)), -1)
            track_weights = ops.softmax(track_scores, axis=-1)
            attended = ops.concatenate(
                [attended, ops.sum(ops.expand_dims(track_weights, -1) * state["tracks"], axis=1)],
                axis=-1)
        x = ops.concatenate([self.embedding(tokens), attended], axis=-1)
        h, (h, c) = self.cell(x, [state["h"], state["c"]], training=training)
        out = self.dropout(ops.concatenate([h, attended], axis=-1), training=training)
        logits = self.output_layer(out)
        new_state = {**state, "h": h, "c": c}
        return logits, new_state, attention

    def call(self, inputs, training=False):
        """Teacher forcing: (features, input tokens (batch, length)) -> (batch, length, V)."""
        features, input_tokens = inputs
        state = self.init(features, training=training)
        logits = []
        for t in range(input_tokens.shape[1]):
            step_logits, state, _ = self.step(input_tokens[:, t], state, training=training)
            logits.append(step_logits)
        return ops.stack(logits, axis=1)

    def get_config(self) -> dict:
        return {
            "vocabulary_size": self.vocabulary_size,
            "feature_dim": self.feature_dim,
            "units": self.units,
            "embedding_dim": self.embedding_dim,
            "attention_units": self.attention_units,
            "dropout": self.dropout_rate,
            "keypoint_tracks": self.keypoint_tracks,
        }
