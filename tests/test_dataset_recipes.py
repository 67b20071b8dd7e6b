"""Training on each dataset format's fixture end to end (bundle, LiteRT files, test metrics,
annotating with the result), the pieces it is made of, and the CLI's dataset errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fixtures import dataset_fixtures

from framescribe.models.bundle.bundle_manifest import LITERT_FILES
from framescribe.models.data.caption_datasets import load_caption_dataset
from framescribe.models.data.islr_dataset import load_islr
from framescribe.models.data.islr_landmarks import read_landmarks
from framescribe.models.data.video_features_cache import VideoFeatures
from framescribe.models.data.wlasl_dataset import load_wlasl
from framescribe.models.inference.landmark_features import LANDMARK_FEATURE_DIM
from framescribe.models.inference.pipeline import Pipeline, PipelineOptions
from framescribe.models.training.caption_dataset_recipe import (
    caption_pairs,
    centred_window,
    usable_captions,
)
from framescribe.models.training.caption_training import CaptionTrainingOptions
from framescribe.models.training.dataset_recipes import (
    DatasetTrainingOptions,
    format_problem,
    train_from_dataset,
)
from framescribe.models.training.gesture_training import GestureTrainingOptions
from framescribe.models.training.sign_dataset_recipe import islr_sequence_features, sign_stream
from framescribe.plugin.cli import main

CLI = [sys.executable, "-m", "framescribe.plugin.cli"]
FAST_CAPTIONS = CaptionTrainingOptions(epochs=2, units=32, batch_size=8, reverse_time=False)
FAST_GESTURES = GestureTrainingOptions(epochs=2, units=32, num_layers=1, batch_size=4)
WRITERS = {"msvd": dataset_fixtures.write_msvd_fixture,
           "msrvtt": dataset_fixtures.write_msrvtt_fixture,
           "wlasl": dataset_fixtures.write_wlasl_fixture,
           "islr": dataset_fixtures.write_islr_fixture}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    """Each format's tiny fixture (written once for the module, well under a second each)."""
    root = tmp_path_factory.mktemp("datasets")
    return {name: write(root / name) for name, write in WRITERS.items()}


def fast_options(tmp_path: Path, data: Path, format: str, **changes) -> DatasetTrainingOptions:
    """Video formats get a fresh 64 px tiny_cnn encoder unless `changes` choose another."""
    fresh = {} if format == "islr" or "encoder_from" in changes else {
        "backbone": "tiny_cnn", "input_size": 64}
    return DatasetTrainingOptions(
        data=str(data), format=format, output=str(tmp_path / f"{format}-bundle"),
        cache_dir=str(tmp_path / "features"), captions=FAST_CAPTIONS, gestures=FAST_GESTURES,
        verbose=0, **{**fresh, **changes})


def assert_exported_and_measured(manifest: dict, bundle: Path, key: str, roles: set[str]):
    assert set(manifest["litert"]["models"]) == roles
    for role in roles:
        assert (bundle / "litert" / LITERT_FILES[role][0]).is_file()
    assert manifest["metrics"][key]["split"] == "test"


def one_error_line(stderr: str, *names: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("framescribe")]
    assert "Traceback" not in stderr
    assert len(lines) == 1 and lines[0].startswith("framescribe: error:"), stderr
    for name in names:
        assert name in lines[0], f"{name!r} not in {lines[0]!r}"
    return lines[0]


# -- training on each fixture format ---------------------------------------------------------
@pytest.mark.slow
# msvd only: past its reader (each format's, in test_caption_datasets.py) training is the
# same code for both caption formats, and each run costs ~55 s on 2 cores.
@pytest.mark.parametrize("format", ["msvd"])
def test_train_captions_on_a_caption_dataset(tmp_path, datasets, format, capsys):
    options = fast_options(tmp_path, datasets[format], format)
    manifest = train_from_dataset(options)
    bundle = Path(options.output)
    assert_exported_and_measured(manifest, bundle, f"{format}:test",
                                 {"encoder", "caption_init", "caption_step"})
    metrics = manifest["metrics"][f"{format}:test"]
    assert metrics["count"] == 2 and 0.0 <= metrics["bleu4"] <= 1.0
    assert manifest["caption_segment_frames"] == 16 and manifest["frame_rate"] == 10.0
    dataset = manifest["training"]["dataset"]
    assert dataset["format"] == format and dataset["videos"] == {
        "train": 8, "validation": 2, "test": 2}
    assert dataset["training_pairs"] >= 8  # one per (video, caption)
    assert manifest["training"]["options"]["captions"]["reverse_time"] is False
    assert manifest["training"]["encoder_from"] is None  # a fresh encoder, not the demo's
    assert manifest["backbone"] == "tiny_cnn" and manifest["input_size"] == 64
    log = capsys.readouterr().out
    assert "train: features of 8/8 videos (0 from the cache" in log
    assert "a fresh tiny_cnn encoder" in log and "weights are random" in log

    video = load_caption_dataset(datasets[format], format, "test")[0].path
    result = Pipeline.from_bundle(bundle).annotate(video, PipelineOptions(tasks=("captions",)))
    assert len(result.captions) == 1 and isinstance(result.captions[0].text, str)


@pytest.mark.slow
def test_train_gestures_on_wlasl_then_reuse_the_feature_cache(tmp_path, datasets, capsys):
    options = fast_options(tmp_path, datasets["wlasl"], "wlasl", encoder_from="demo")
    manifest = train_from_dataset(options)
    assert manifest["training"]["encoder_from"].endswith("bundles/demo")  # asked for by name
    bundle = Path(options.output)
    assert_exported_and_measured(manifest, bundle, "wlasl:test", {"encoder", "gesture_step"})
    metrics = manifest["metrics"]["wlasl:test"]
    assert metrics["count"] == 4 and 0.0 <= metrics["top1"] <= 1.0
    assert metrics["labels"] == sorted(dataset_fixtures.WLASL_GLOSSES)
    assert manifest["gesture_input"] == "frames" and manifest["caption_decoder"] is None
    assert manifest["training"]["dataset"]["missing_videos"] == 1
    clip = load_wlasl(datasets["wlasl"], "test").clips[0]
    pipeline = Pipeline.from_bundle(bundle)
    result = pipeline.annotate(clip.path, PipelineOptions(tasks=("gestures",)))
    assert result.frames > 0 and all(g.label in pipeline.labels for g in result.gestures)
    capsys.readouterr()

    train_from_dataset(replace(options, evaluate=False))  # same videos: no frame re-encoded
    log = capsys.readouterr().out
    assert "train: features of 12/12 videos (12 from the cache, 0 frames encoded" in log


@pytest.mark.slow
def test_train_gestures_on_islr_through_the_cli(tmp_path, datasets):
    bundle = tmp_path / "islr-bundle"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [*CLI, "train", "gestures", "--data", str(datasets["islr"]), "--format", "islr",
         "--output", str(bundle), "--epochs", "2", "--batch-size", "4"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "islr:test" in result.stdout  # the progress log ends with the test metrics
    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    assert_exported_and_measured(manifest, bundle, "islr:test", {"gesture_step"})
    assert manifest["encoder"] is None and manifest["gesture_input"] == "landmarks"
    assert manifest["gesture_classifier"]["config"]["input_dim"] == LANDMARK_FEATURE_DIM
    assert manifest["frame_rate"] == 30.0 and manifest["metrics"]["islr:test"]["count"] == 4
    assert manifest["training"]["dataset"]["sequences"] == {
        "train": 12, "validation": 4, "test": 4}

    pipeline = Pipeline.from_bundle(bundle)
    assert pipeline.reads_landmarks
    landmarks = read_landmarks(load_islr(datasets["islr"], "test").clips[0].path)
    assert np.isnan(landmarks).any()  # the left hand is missing throughout
    annotation = pipeline.annotate_landmarks(landmarks)
    assert annotation.frames == len(landmarks)
    assert all(g.label in dataset_fixtures.ISLR_SIGNS for g in annotation.gestures)


# -- pieces ---------------------------------------------------------------------------------
def test_centred_window_takes_the_middle_or_pads_with_the_last_frame():
    features = np.arange(10, dtype=np.float32)[:, None]
    assert centred_window(features, 4)[:, 0].tolist() == [3, 4, 5, 6]
    assert centred_window(features[:3], 5)[:, 0].tolist() == [0, 1, 2, 2, 2]


def test_usable_captions_skip_empty_and_overlong_ones():
    assert usable_captions(["a dog runs", "...", "one two three four"], 3) == ["a dog runs"]


def test_caption_pairs_repeat_each_window_per_usable_caption(tmp_path):
    windows = np.arange(2, dtype=np.float32)[:, None, None]
    features, texts, skipped = caption_pairs(windows, [["a cat", "two cats"], ["", "a dog"]], 5,
                                             tmp_path / "a.json")
    assert features[:, 0, 0].tolist() == [0, 0, 1] and texts == ["a cat", "two cats", "a dog"]
    assert skipped == 1
    with pytest.raises(ValueError, match="a.json: no training caption has 1-1 words"):
        caption_pairs(windows, [["a cat"], ["a dog"]], 1, tmp_path / "a.json")


def test_sign_stream_labels_the_sign_and_keeps_some_idle_context():
    video = VideoFeatures(np.arange(20, dtype=np.float32)[:, None], np.arange(20) / 10.0,
                          np.arange(0, 40, 2))  # every other source frame was sampled
    stream = sign_stream(video, frame_start=10, frame_end=20, label=3, context=2)
    assert stream.features[:, 0].tolist() == list(range(3, 12))
    assert stream.frame_labels.tolist() == [-1, -1, 3, 3, 3, 3, 3, -1, -1]
    assert stream.last == 6 and stream.label == 3
    between = sign_stream(video, frame_start=11, frame_end=12, label=0, context=0)
    assert between.frame_labels.tolist() == [0]  # no sampled frame inside: the nearest one
    with pytest.raises(ValueError, match="starts after the video's last sampled frame 38"):
        sign_stream(video, frame_start=39, frame_end=None, label=0, context=0)


def test_islr_sequences_are_sampled_like_the_pipeline_samples_landmarks(datasets):
    path = load_islr(datasets["islr"]).clips[0].path
    full = islr_sequence_features(path)
    half = islr_sequence_features(path, frame_rate=15.0)
    assert full.shape == (len(read_landmarks(path)), LANDMARK_FEATURE_DIM)
    assert np.isfinite(full).all()
    np.testing.assert_array_equal(half, full[::2])


@pytest.mark.parametrize("task, format, expected", [
    ("captions", "msvd", None), ("gestures", "islr", None), (None, "wlasl", None),
    ("captions", "wlasl", "format 'wlasl' is a gestures dataset; captions train on msvd or "
                          "msrvtt"),
    ("gestures", "nope", "unknown dataset format 'nope'"),
])
def test_format_problem(task, format, expected):
    problem = format_problem(task, format)
    assert problem == expected if expected is None else problem.startswith(expected)


def test_options_reject_what_a_format_cannot_use():
    with pytest.raises(ValueError, match="no frame encoder"):
        DatasetTrainingOptions("d", "islr", "o", encoder_from="models/bundles/demo")
    with pytest.raises(ValueError, match=r"no frame encoder; drop backbone_preset"):
        DatasetTrainingOptions("d", "islr", "o", backbone_preset="resnet50_imagenet")
    with pytest.raises(ValueError, match=r"reuses a bundle's encoder whole; drop input_size"):
        DatasetTrainingOptions("d", "msvd", "o", encoder_from="demo", input_size=128)
    with pytest.raises(ValueError, match="above the 30 fps"):
        DatasetTrainingOptions("d", "islr", "o", frame_rate=60.0)
    with pytest.raises(ValueError, match="segment_frames must be 2-1024"):
        DatasetTrainingOptions("d", "msvd", "o", segment_frames=1)
    assert DatasetTrainingOptions("d", "msvd", "o").captions.reverse_time is False


# -- CLI errors -----------------------------------------------------------------------------
USAGE_ERRORS = {
    "wrong format for the task": (["captions", "--format", "wlasl"], ["wlasl", "msvd"]),
    "missing --format": (["gestures"], ["--format missing"]),
    "format with train demo": (["demo", "--format", "msvd"], ["train demo"]),
    "benchmark option with --data": (["captions", "--format", "msvd", "--clips", "3"],
                                     ["--clips"]),
    "encoder for landmarks": (["gestures", "--format", "islr", "--encoder-from", "x"],
                              ["no frame encoder"]),
    "caption window for gestures": (["gestures", "--format", "wlasl", "--segment-frames", "8"],
                                    ["--segment-frames"]),
    "bad frame rate": (["gestures", "--format", "wlasl", "--frame-rate", "0"], ["frame_rate"]),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_dataset_usage_errors_are_one_line_and_exit_2(case, tmp_path, datasets, capsys):
    args, names = USAGE_ERRORS[case]
    what, *rest = args
    data = [] if case == "format with train demo" else ["--data", datasets["msvd"]]
    status = main(["train", what, *map(str, data), *rest, "--output", str(tmp_path / "out")])
    assert status == 2
    one_error_line(capsys.readouterr().err, *names)
    assert not (tmp_path / "out").exists()


def test_dataset_options_without_data_are_a_usage_error(tmp_path, capsys):
    status = main(["train", "captions", "--cache-dir", str(tmp_path), "--output",
                   str(tmp_path / "out")])
    assert status == 2
    one_error_line(capsys.readouterr().err, "--cache-dir", "--data")


def test_a_broken_annotation_file_is_named(tmp_path, capsys):
    root = dataset_fixtures.write_msvd_fixture(tmp_path / "msvd", videos=3)
    (root / "annotations.json").write_text("{ not json", encoding="utf-8")
    status = main(["train", "captions", "--data", str(root), "--format", "msvd", "--output",
                   str(tmp_path / "out")])
    assert status == 1
    one_error_line(capsys.readouterr().err, str(root / "annotations.json"), "invalid JSON")


def test_a_missing_data_path_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "no-such-dataset"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [*CLI, "train", "gestures", "--data", str(missing), "--format", "wlasl", "--output",
         str(tmp_path / "out")], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    one_error_line(result.stderr, str(missing), "no such file or folder")
    assert not (tmp_path / "out").exists()
