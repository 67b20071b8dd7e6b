"""A layer that standardises features with statistics measured on training data."""

from __future__ import annotations

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="framescribe")
class FeatureStandardizer(keras.layers.Layer):
    """(..., dim) -> (x - mean) / std per feature; identity until `adapt` is called.

    mean and std are non-trainable weights, so they are saved with the model's weights.
    """

    def build(self, input_shape):
        dim = input_shape[-1]
        self.mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False,
                                    name="mean")
        self.std = self.add_weight(shape=(dim,), initializer="ones", trainable=False,
                                   name="std")

    def adapt(self, features: np.ndarray) -> None:
        """Measure mean/std of features (samples, dim); constant features keep std 1."""
        features = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
        if not self.built:
            self.build(features.shape)
        std = features.std(axis=0)
        self.mean.assign(features.mean(axis=0).astype(np.float32))
        self.std.assign(np.where(std > 1e-6, std, 1.0).astype(np.float32))

    def call(self, x):
        return (x - self.mean) / self.std
