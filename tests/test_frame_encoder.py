"""FrameEncoder: every backbone builds offline; keypoints localise; pretraining heads line up."""

import numpy as np
import pytest

from framescribe.models.networks.frame_encoder import BACKBONES, FrameEncoder, SpatialKeypoints
from framescribe.models.training.encoder_pretraining import (
    TARGET_WIDTH,
    build_pretraining_model,
    digit_frame_targets,
    fingertip_frame_targets,
)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_backbone_builds_without_downloading(backbone):
    encoder = FrameEncoder(backbone, input_size=32 if backbone != "tiny_cnn" else 64,
                           pooling="avg", feature_dim=16)
    frames = np.zeros((2, encoder.input_size, encoder.input_size, 3), np.uint8)
    assert np.asarray(encoder(frames)).shape == (2, 16)


def test_spatial_pooling_appends_keypoints():
    encoder = FrameEncoder("tiny_cnn", 64, "spatial", 24)
    assert encoder.keypoint_count == 32
    assert encoder.output_dim == 24 + 3 * 32


def test_keypoints_find_a_bright_spot():
    layer = SpatialKeypoints(1)
    feature_map = np.zeros((1, 8, 8, 1), np.float32)
    feature_map[0, 2, 5, 0] = 1.0  # row 2, column 5
    layer(feature_map)
    layer.maps.set_weights([np.full((1, 1, 1, 1), 50.0, np.float32), np.zeros(1, np.float32)])
    x, y, peak = np.asarray(layer(feature_map))[0]
    assert x == pytest.approx(5.5 / 8, abs=1e-3) and y == pytest.approx(2.5 / 8, abs=1e-3)
    assert peak == pytest.approx(50.0)


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        FrameEncoder("vgg")
    with pytest.raises(ValueError, match="input_size must be 32-1024"):
        FrameEncoder("tiny_cnn", input_size=8)
    with pytest.raises(FileNotFoundError, match="encoder weights file not found"):
        FrameEncoder("tiny_cnn", weights_path="/nonexistent.weights.h5")


def test_local_weights_file_loads(tmp_path):
    encoder = FrameEncoder("tiny_cnn", 64, "spatial", 8)
    encoder.save_weights(tmp_path / "enc.weights.h5")
    path = str(tmp_path / "enc.weights.h5")
    clone = FrameEncoder("tiny_cnn", 64, "spatial", 8, weights_path=path)
    frames = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(np.asarray(clone(frames)), np.asarray(encoder(frames)), atol=1e-5)


@pytest.mark.parametrize("pooling", ["spatial", "avg"])
def test_pretraining_heads_match_targets(pooling):
    from framescribe.models.data.lasa_airwriting import ContinuousStreams
    from framescribe.models.data.moving_digits import MovingDigits

    clip = MovingDigits("train", size=2)[1]
    targets = digit_frame_targets(clip.tracks, 64)
    assert targets.shape == (16, TARGET_WIDTH)
    for track in clip.tracks:
        assert targets[0, track.digit] == 1.0
    stream = ContinuousStreams("train", count=1)[0]
    tips = fingertip_frame_targets(stream.positions, 64)
    present = ~np.isnan(stream.positions[:, 0])
    np.testing.assert_array_equal(tips[:, -3] == 1.0, present)
    model = build_pretraining_model(FrameEncoder("tiny_cnn", 64, pooling, 8))
    assert np.asarray(model(clip.frames[:2])).shape == (2, TARGET_WIDTH)
