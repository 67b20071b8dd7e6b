"""GestureClassifier: stacked recurrent layers over per-frame features.

Output column 0 is "no gesture" (idle); column i + 1 is gesture label i. The same weights run
over a whole clip (`call`, many-to-one by reading the last frame) or one frame at a time with
carried state (`step`), so a stream's cost per frame does not grow with its length.
"""

from __future__ import annotations

import keras
from keras import ops

from framescribe.models.networks.feature_standardizer import FeatureStandardizer

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}
STATES_PER_LAYER = {"lstm": 2, "gru": 1, "simple_rnn": 1}


@keras.saving.register_keras_serializable(package="framescribe")
class GestureClassifier(keras.Model):
    """features (batch, frames, input_dim) -> logits (batch, frames, 1 + num_labels)."""

    def __init__(
        self,
        num_labels: int,
        input_dim: int,
        cell: str = "lstm",
        units: int = 128,
        num_layers: int = 2,
        dropout: float = 0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {', '.join(CELLS)}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.num_labels = num_labels
        self.input_dim = input_dim
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.dropout_rate = dropout
        self.normalize = FeatureStandardizer()  # see adapt_normalization
        self.input_projection = keras.layers.Dense(units, activation="relu")
        self.recurrent_layers = [
            CELLS[cell](units, return_sequences=True, return_state=True) for _ in range(num_layers)
        ]
        self.dropout = keras.layers.Dropout(dropout)
        self.output_layer = keras.layers.Dense(1 + num_labels)
        self(ops.zeros((1, 1, input_dim)))  # create weights

    def adapt_normalization(self, features) -> None:
        """Standardise inputs with statistics of training features (frames, dim)."""
        self.normalize.adapt(features)

    @property
    def state_count(self) -> int:
        """Number of state tensors, each (batch, units)."""
        return STATES_PER_LAYER[self.cell] * self.num_layers

    def initial_state(self, batch_size: int) -> list:
        return [ops.zeros((batch_size, self.units)) for _ in range(self.state_count)]

    def run(self, features, states: list | None = None, training=False):
        """features (batch, frames, input_dim) -> (logits (batch, frames, 1 + labels), states)."""
        per_layer = STATES_PER_LAYER[self.cell]
        x = self.input_projection(self.normalize(features))
        new_states = []
        for i, layer in enumerate(self.recurrent_layers):
            initial = None if states is None else states[i * per_layer : (i + 1) * per_layer]
            x, *layer_states = layer(x, initial_state=initial, training=training)
            new_states.extend(layer_states)
        return self.output_layer(self.dropout(x, training=training)), new_states

    def step(self, features, states: list):
        """One frame per stream: features (batch, input_dim) -> (logits (batch, 1+L), states).

        Calls each layer's cell directly (no loop over a one-frame sequence): the same
        arithmetic as `run`, cheaper per frame, and convertible to LiteRT with a dynamic batch.
        """
        per_layer = STATES_PER_LAYER[self.cell]
        x = self.input_projection(self.normalize(features))
        new_states = []
        for i, layer in enumerate(self.recurrent_layers):
            layer_states = list(states[i * per_layer : (i + 1) * per_layer])
            x, cell_states = layer.cell(x, layer_states if per_layer > 1 else layer_states[0])
            new_states.extend(cell_states if isinstance(cell_states, list | tuple)
                              else [cell_states])
        return self.output_layer(x), new_states

    def call(self, features, training=False):
        logits, _ = self.run(features, training=training)
        return logits

    def get_config(self) -> dict:
        return {
            "num_labels": self.num_labels,
            "input_dim": self.input_dim,
            "cell": self.cell,
            "units": self.units,
            "num_layers": self.num_layers,
            "dropout": self.dropout_rate,
        }
