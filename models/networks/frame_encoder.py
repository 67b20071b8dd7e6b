"""FrameEncoder: uint8 RGB frames -> one feature vector per frame.

A keras-cv backbone (or a small CNN for tiny inputs) built from explicit constructor
arguments, so nothing is downloaded; pretrained weights for the backbone alone load from a
local file or preset folder (`backbone_weights`, see backbone_weights.py). Preprocessing
(scaling to [0, 1], what keras-cv's include_rescaling does) lives inside the model: callers
hand it uint8 RGB frames of shape (batch, size, size, 3). The features are float32 whatever
the dtype policy (under mixed precision the backbone computes in float16).
"""

from __future__ import annotations

import os

import keras

BACKBONES = (
    "tiny_cnn",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_v2_b0",
    "resnet18",
    "resnet50",
)
POOLINGS = ("avg", "spatial")

_HS = "hard_swish"

# Architectures of the published models, written out because keras-cv presets call Kaggle.
_MOBILENET_V3 = {
    "mobilenet_v3_small": dict(
        stackwise_expansion=[1, 72.0 / 16, 88.0 / 24, 4, 6, 6, 3, 3, 6, 6, 6],
        stackwise_filters=[16, 24, 24, 40, 40, 40, 48, 48, 96, 96, 96],
        stackwise_kernel_size=[3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5],
        stackwise_stride=[2, 2, 1, 2, 1, 1, 1, 1, 2, 1, 1],
        stackwise_se_ratio=[0.25, None, None] + [0.25] * 8,
        stackwise_activation=["relu"] * 3 + [_HS] * 8,
    ),
    "mobilenet_v3_large": dict(
        stackwise_expansion=[1, 4, 3, 3, 3, 3, 6, 2.5, 2.3, 2.3, 6, 6, 6, 6, 6],
        stackwise_filters=[16, 24, 24, 40, 40, 40, 80, 80, 80, 80, 112, 112, 160, 160, 160],
        stackwise_kernel_size=[3, 3, 3, 5, 5, 5, 3, 3, 3, 3, 3, 3, 5, 5, 5],
        stackwise_stride=[1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1],
        stackwise_se_ratio=[None] * 3 + [0.25] * 3 + [None] * 4 + [0.25] * 5,
        stackwise_activation=["relu"] * 6 + [_HS] * 9,
    ),
}
_EFFICIENTNET_V2_B0 = dict(
    width_coefficient=1.0,
    depth_coefficient=1.0,
    stackwise_kernel_sizes=[3, 3, 3, 3, 3, 3],
    stackwise_num_repeats=[1, 2, 2, 3, 5, 8],
    stackwise_input_filters=[32, 16, 32, 48, 96, 112],
    stackwise_output_filters=[16, 32, 48, 96, 112, 192],
    stackwise_expansion_ratios=[1, 4, 4, 4, 6, 6],
    stackwise_squeeze_and_excite_ratios=[0.0, 0.0, 0.0, 0.25, 0.25, 0.25],
    stackwise_strides=[1, 2, 2, 2, 1, 2],
    stackwise_conv_types=["fused"] * 3 + ["unfused"] * 3,
)
_RESNET = {
    "resnet18": dict(stackwise_blocks=[2, 2, 2, 2], block_type="basic_block"),
    "resnet50": dict(stackwise_blocks=[3, 4, 6, 3], block_type="block"),
}


def _tiny_cnn(input_size: int) -> keras.Model:
    """A strided stem and three conv blocks, /8 spatially: ~16 MFLOPs per 64x64 frame."""
    inputs = keras.Input((input_size, input_size, 3))
    x = inputs
    for filters, stride, pool in ((24, 2, False), (32, 1, True), (64, 1, True), (96, 1, False)):
        x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        if pool:
            x = keras.layers.MaxPooling2D()(x)
    return keras.Model(inputs, x, name="tiny_cnn")


def backbone_architecture(name: str) -> tuple[str, dict]:
    """(keras-cv class name, its architecture arguments) of a keras-cv backbone; what a preset's
    config.json must agree with for its weights to fit (backbone_weights.py)."""
    if name in _MOBILENET_V3:
        return "MobileNetV3Backbone", dict(_MOBILENET_V3[name])
    if name == "efficientnet_v2_b0":
        return "EfficientNetV2Backbone", dict(_EFFICIENTNET_V2_B0)
    if name in _RESNET:
        return "ResNetBackbone", dict(stackwise_filters=[64, 128, 256, 512],
                                      stackwise_strides=[1, 2, 2, 2], **_RESNET[name])
    raise ValueError(f"unknown keras-cv backbone {name!r}; expected one of "
                     f"{', '.join(BACKBONES[1:])}")


def build_backbone(name: str, input_size: int) -> keras.Model:
    """A randomly initialised backbone returning a (batch, h, w, channels) feature map."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")
    if name == "tiny_cnn":
        return _tiny_cnn(input_size)
    import keras_cv  # imported lazily: heavy, and only needed for these backbones

    class_name, arguments = backbone_architecture(name)
    return getattr(keras_cv.models, class_name)(
        **arguments, include_rescaling=False, input_shape=(input_size, input_size, 3))


KEYPOINTS = 32  # keypoint maps of the "spatial" pooling


@keras.saving.register_keras_serializable(package="framescribe")
class SpatialKeypoints(keras.layers.Layer):
    """(batch, h, w, c) -> (batch, 3 * keypoints): per learned keypoint map its expected x,
    then y (spatial softmax, in [0, 1] of the frame width/height, sub-cell precise), then its
    peak logit (how strongly it fires). Convolutional, so it localises anywhere in the frame.

    Layout of the output: [x_0..x_{K-1}, y_0..y_{K-1}, peak_0..peak_{K-1}].
    """

    def __init__(self, keypoints: int = KEYPOINTS, **kwargs):
        super().__init__(**kwargs)
        self.keypoint_count = keypoints
        self.maps = keras.layers.Conv2D(keypoints, 1, dtype=self.dtype_policy)

    def call(self, x):
        from keras import ops

        maps = self.maps(x)
        height, width = maps.shape[1], maps.shape[2]
        flat = ops.reshape(ops.transpose(maps, (0, 3, 1, 2)),
                           (-1, self.keypoint_count, height * width))
        weights = ops.softmax(flat, axis=-1)
        rows = (ops.arange(height, dtype="float32") + 0.5) / height
        cols = (ops.arange(width, dtype="float32") + 0.5) / width
        ys = ops.reshape(ops.repeat(rows[:, None], width, axis=1), (1, 1, -1))
        xs = ops.reshape(ops.repeat(cols[None, :], height, axis=0), (1, 1, -1))
        expected_x = ops.sum(weights * xs, axis=-1)
        expected_y = ops.sum(weights * ys, axis=-1)
        peak = ops.max(flat, axis=-1)
        return ops.concatenate([expected_x, expected_y, peak], axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "keypoints": self.keypoint_count}


@keras.saving.register_keras_serializable(package="framescribe")
class FrameEncoder(keras.Model):
    """uint8 frames (batch, input_size, input_size, 3) -> float32 features (batch, feature_dim).

    pooling="avg" global-average-pools the backbone's feature map, then feature_dim projects
    to a fixed width (linear Dense; None keeps the pooled width).
    pooling="spatial" keeps *where* things are, which motion-describing heads need: a
    feature_dim projection of a global max-pool (*what* is there) and a coarse layout (1x1 conv
    to 16 channels, flattened), followed by 3 * KEYPOINTS SpatialKeypoints values (x, y and peak
    of 32 learned keypoint maps, as in deep spatial autoencoders). output_dim = feature_dim +
    96. Pretraining can supervise keypoint maps directly (one per digit class, one for a
    fingertip), which makes them translation-equivariant detectors.

    backbone_weights: pretrained weights for the backbone alone (a .weights.h5 of the backbone,
    or a keras-cv / KerasHub preset folder); weights_path: the whole encoder's weights (loaded
    last). Neither is kept in the config: a bundle stores the weights themselves.
    """

    def __init__(
        self,
        backbone: str = "tiny_cnn",
        input_size: int = 64,
        pooling: str = "spatial",
        feature_dim: int | None = 256,
        weights_path: str | None = None,
        backbone_weights: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; expected one of {BACKBONES}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
        if not 32 <= input_size <= 1024:
            raise ValueError(f"input_size must be 32-1024 pixels, got {input_size}")
        if pooling == "spatial" and feature_dim is None:
            raise ValueError("pooling='spatial' needs a feature_dim")
        self.backbone_name = backbone
        self.input_size = input_size
        self.pooling = pooling
        self.feature_dim = feature_dim
        self.weights_path = weights_path
        self.backbone_weights = backbone_weights
        self.rescale = keras.layers.Rescaling(1.0 / 255.0)
        self.backbone = build_backbone(backbone, input_size)
        if backbone_weights:
            from framescribe.models.networks.backbone_weights import load_backbone_weights

            load_backbone_weights(self.backbone, backbone, backbone_weights)
        if pooling == "avg":
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.reduce = None
        else:
            self.pool = keras.layers.GlobalMaxPooling2D()
            # The encoder's outputs are float32 under any policy (mixed precision computes the
            # backbone in float16): the spatial softmax and the projection.
            self.keypoints = SpatialKeypoints(KEYPOINTS, dtype="float32")
            self.reduce = keras.layers.Conv2D(16, 1, activation="relu")
            self.flatten = keras.layers.Flatten()
        self.project = (
            keras.layers.Dense(feature_dim, dtype="float32") if feature_dim else None
        )
        # Creates the weights, and measures the width once (output_dim is read per request).
        probe = keras.ops.zeros((1, input_size, input_size, 3), dtype="uint8")
        self._output_dim = int(self(probe).shape[-1])
        if weights_path:
            if not os.path.exists(weights_path):
                raise FileNotFoundError(f"encoder weights file not found: {weights_path}")
            self.load_weights(weights_path)

    @property
    def keypoint_count(self) -> int:
        """Keypoint maps at the end of the features (0 unless pooling="spatial")."""
        return KEYPOINTS if self.pooling == "spatial" else 0

    @property
    def output_dim(self) -> int:
        """Width of the feature vector per frame."""
        return self._output_dim

    def call(self, frames, training=False):
        x = self.rescale(keras.ops.cast(frames, "float32"))
        x = self.backbone(x, training=training)
        if self.reduce is None:
            pooled = self.pool(x)
            features = self.project(pooled) if self.project is not None else pooled
            return keras.ops.cast(features, "float32")
        layout = keras.ops.concatenate([self.pool(x), self.flatten(self.reduce(x))], axis=-1)
        return keras.ops.concatenate([self.project(layout), self.keypoints(x)], axis=-1)

    def get_config(self) -> dict:
        return {
            "backbone": self.backbone_name,
            "input_size": self.input_size,
            "pooling": self.pooling,
            "feature_dim": self.feature_dim,
            "weights_path": None,
            "backbone_weights": None,
        }
