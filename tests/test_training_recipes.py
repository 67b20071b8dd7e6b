"""The training recipe end to end on tiny sizes: bundle written, metrics recorded, resumable."""

import json
from dataclasses import replace

import numpy as np
import pytest

from framescribe.models.bundle.bundle_manifest import read_manifest
from framescribe.models.training.caption_training import CaptionTrainingOptions
from framescribe.models.training.gesture_training import GestureTrainingOptions
from framescribe.models.training.training_recipes import (
    TrainingOptions,
    finished_head_path,
    train,
)


def tiny_options(tmp_path, tasks):
    return TrainingOptions(
        output=str(tmp_path / "bundle"), tasks=tasks, feature_dim=16, pretrain_epochs=1,
        pretrain_caption_clips=8, pretrain_gesture_streams=3, caption_clips=16,
        gesture_streams=4, captions=CaptionTrainingOptions(epochs=1, units=16, batch_size=8),
        gestures=GestureTrainingOptions(epochs=1, units=8, num_layers=1, batch_size=4),
        checkpoint_dir=str(tmp_path / "checkpoints"), eval_limit=2, verbose=0)


@pytest.mark.slow
def test_train_both_heads_then_resume_from_checkpoints(tmp_path, capsys):
    options = tiny_options(tmp_path, ("captions", "gestures"))
    train(options)
    first = capsys.readouterr().out
    assert "pretraining the tiny_cnn encoder" in first
    manifest = read_manifest(options.output)
    assert manifest.caption_decoder and manifest.gesture_classifier
    raw = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert "exact_match" in raw["metrics"]["moving-digits"]
    assert "event_f1" in raw["metrics"]["lasa-airwriting"]["continuous"]
    assert raw["training"]["options"]["caption_clips"] == 16

    weights = {path.name: h5_arrays(path) for path in (tmp_path / "bundle").glob("*.h5")}
    train(replace(options, evaluate=False))  # same checkpoints: finished stages not redone
    second = capsys.readouterr().out
    assert "resumed the pretrained encoder" in second
    assert "loaded cached caption features" in second
    assert "loaded cached gesture features" in second
    assert "resumed the trained caption decoder" in second
    assert "resumed the trained gesture classifier" in second
    assert "training the" not in second
    assert len(weights) == 3
    for name, arrays in weights.items():  # the bundle holds the same models again
        again = h5_arrays(tmp_path / "bundle" / name)
        assert again.keys() == arrays.keys(), name
        assert all(np.array_equal(again[key], arrays[key]) for key in arrays), name


def test_finished_heads_are_named_by_their_options(tmp_path):
    """A rerun with other head options (or another number of examples) trains that head
    afresh instead of resuming weights trained for something else."""
    options = tiny_options(tmp_path, ("captions", "gestures"))
    name = finished_head_path(tmp_path, "gesture_classifier", options.gestures, 4)
    assert name == finished_head_path(tmp_path, "gesture_classifier", options.gestures, 4)
    assert name != finished_head_path(tmp_path, "gesture_classifier",
                                      replace(options.gestures, units=4), 4)
    assert name != finished_head_path(tmp_path, "gesture_classifier", options.gestures, 5)
    assert name.name.startswith("gesture_classifier_") and name.name.endswith(".weights.h5")


def h5_arrays(path) -> dict:
    """Every dataset of an HDF5 weights file, by its path inside it."""
    import h5py

    arrays = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda key, item: arrays.__setitem__(key, item[()])
                        if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_reuse_an_encoder_frozen(tmp_path, tiny_bundle):
    options = tiny_options(tmp_path, ("gestures",))
    train(replace(options, encoder_from=str(tiny_bundle), evaluate=False))
    manifest = read_manifest(options.output)
    assert manifest.caption_decoder is None
    assert manifest.encoder.config == read_manifest(tiny_bundle).encoder.config
