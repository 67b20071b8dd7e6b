"""The training recipe end to end on tiny sizes: bundle written, metrics recorded, resumable."""

import json
from dataclasses import replace

import pytest

from framescribe.models.bundle.bundle_manifest import read_manifest
from framescribe.models.training.caption_training import CaptionTrainingOptions
from framescribe.models.training.gesture_training import GestureTrainingOptions
from framescribe.models.training.training_recipes import TrainingOptions, train


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

    train(replace(options, evaluate=False))  # same checkpoints: finished stages not redone
    second = capsys.readouterr().out
    assert "resumed the pretrained encoder" in second
    assert "loaded cached caption features" in second
    assert "loaded cached gesture features" in second


def test_reuse_an_encoder_frozen(tmp_path, tiny_bundle):
    options = tiny_options(tmp_path, ("gestures",))
    train(replace(options, encoder_from=str(tiny_bundle), evaluate=False))
    manifest = read_manifest(options.output)
    assert manifest.caption_decoder is None
    assert manifest.encoder.config == read_manifest(tiny_bundle).encoder.config
