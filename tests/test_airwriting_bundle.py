"""The shipped air-writing bundle (models/bundles/airwriting, `make train-airwriting`): a landmark
bundle whose LSTM reads the index fingertip's track (fingertip_features.py).

Re-measures the whole airwriting-lasa test split (held-out LASA demonstrations 5-6 as a tracked
hand's landmark frames) on TensorFlow here and on LiteRT in a child process (LiteRT cannot share
a process with TensorFlow); checks that a stream pushed chunk by chunk, features computed per
chunk as the server does, gives the clip's events; that the features are per frame; and that
manifests written before the landmark_features field still load.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framescribe.models.bundle.bundle_manifest import BundleError, read_manifest
from framescribe.models.data.airwriting_hands import CLEAN_SCENE, landmark_frames
from framescribe.models.data.airwriting_tracks import AirwritingStreams
from framescribe.models.data.islr_layout import ISLR_PARTS
from framescribe.models.inference.fingertip_features import (
    FINGERTIP_FEATURE_DIM,
    NOMINAL_HAND_SIZE,
    fingertip_features,
)

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "models" / "bundles" / "airwriting"
DEMO = REPO / "models" / "bundles" / "demo"
FLOOR = 0.95  # BENCHMARKS.md: lasa-airwriting test as fingertip tracks, top-1
REAL_TOP1_FLOOR, REAL_EVENT_F1_FLOOR = 0.90, 0.85  # airwriting-real, the full video path


@pytest.fixture(scope="module")
def pipeline():
    from framescribe.models.inference.pipeline import Pipeline

    return Pipeline.from_bundle(BUNDLE)


def test_bundle_is_a_small_landmark_bundle_with_its_report():
    manifest = read_manifest(BUNDLE)
    assert manifest.encoder is None and manifest.caption_decoder is None
    assert manifest.gesture_input == "landmarks" and manifest.landmark_features == "fingertip"
    assert manifest.gesture_classifier.config["input_dim"] == FINGERTIP_FEATURE_DIM
    assert set(manifest.litert.models) == {"gesture_step"}
    size = sum(f.stat().st_size for f in BUNDLE.rglob("*") if f.is_file())
    assert size < 5 * 1024 * 1024
    # `make train-airwriting` in 30 minutes on the 2-core machine. Measured while other jobs
    # shared it (load average above its cores), the wall clock is theirs as much as ours: then
    # the recipe's CPU seconds must fit 30 minutes of one core.
    timings = manifest.training["timings"]
    if timings["load_average"]["end"][2] <= timings["cpu_cores"]:
        assert timings["end_to_end_s"] < 30 * 60
    else:
        assert timings["cpu_s"] < 30 * 60
    for metrics in (manifest.metrics, manifest.litert.metrics):
        assert metrics["airwriting-lasa"]["top1"] >= FLOOR, "run make train-airwriting"
        real = metrics["airwriting-real"]  # recorded by make eval-airwriting-real
        assert real["top1"] >= REAL_TOP1_FLOOR and real["event_f1"] >= REAL_EVENT_F1_FLOOR
    assert "| LiteRT | 260 |" in (BUNDLE / "report.md").read_text()


def test_held_out_top1_and_event_f1_on_tensorflow(pipeline):
    from framescribe.models.evaluation.evaluation import EvaluationOptions, evaluate

    metrics = evaluate(pipeline, "airwriting-lasa", EvaluationOptions())
    assert metrics["isolated"]["count"] == 260 and metrics["continuous"]["streams"] == 100
    assert metrics["top1"] >= FLOOR
    recorded = read_manifest(BUNDLE).metrics["airwriting-lasa"]
    assert metrics["top1"] == pytest.approx(recorded["top1"], abs=0.01)
    assert metrics["event_f1"] == pytest.approx(recorded["event_f1"], abs=0.02)


LITERT_CHECK = """
import json, sys
from framescribe.models.evaluation.evaluation import EvaluationOptions, evaluate
from framescribe.models.inference.pipeline import Pipeline
metrics = evaluate(Pipeline.from_bundle(sys.argv[1], runtime="litert"), "airwriting-lasa",
                   EvaluationOptions())
print(json.dumps({k: metrics[k] for k in ("top1", "event_f1")}))
"""


def test_held_out_top1_on_litert():
    result = subprocess.run([sys.executable, "-c", LITERT_CHECK, str(BUNDLE)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["top1"] >= FLOOR
    recorded = read_manifest(BUNDLE).metrics["airwriting-lasa"]  # the TF numbers
    assert metrics["top1"] == pytest.approx(recorded["top1"], abs=0.01)


def test_a_stream_in_chunks_gives_the_clips_events(pipeline):
    stream = AirwritingStreams("test")[3]
    landmarks = stream.landmarks
    whole = pipeline.annotate_landmarks(landmarks)
    assert len(whole.gestures) >= len(stream.events) - 1
    session = pipeline.stream()
    rng = np.random.default_rng(0)
    events, start = [], 0
    while start < len(landmarks):  # what the server does: features per request, no state
        end = min(len(landmarks), start + int(rng.integers(1, 12)))
        times = np.arange(start, end) / pipeline.manifest.frame_rate
        events += session.push_features(times, pipeline.landmark_features(landmarks[start:end]))
        start = end
    events += session.flush()
    assert [(e.label, e.start, e.end) for e in events] == \
        [(e.label, e.start, e.end) for e in whole.gestures]
    np.testing.assert_allclose([e.confidence for e in events],
                               [e.confidence for e in whole.gestures], atol=1e-5)


def test_features_are_per_frame_so_a_prefix_is_the_prefix():
    landmarks = AirwritingStreams("test")[0].landmarks
    features = fingertip_features(landmarks)
    assert features.shape == (len(landmarks), FINGERTIP_FEATURE_DIM)
    assert np.isfinite(features).all()
    for k in (1, 7, 40, len(landmarks) - 1):
        np.testing.assert_array_equal(fingertip_features(landmarks[:k]), features[:k])
    order = np.random.default_rng(1).permutation(len(landmarks))
    np.testing.assert_array_equal(fingertip_features(landmarks[order]), features[order])


def track(frames: int = 6) -> np.ndarray:
    return np.stack([np.linspace(200, 400, frames), np.linspace(300, 200, frames)], axis=1)


def test_features_read_the_fingertip_in_hand_sizes():
    landmarks = landmark_frames(track(), CLEAN_SCENE)
    features = fingertip_features(landmarks)
    assert (features[:, 0] == 1).all()
    # Zoomed about the image centre (a closer camera): the same numbers.
    zoomed = landmarks.copy()
    zoomed[..., :2] = (zoomed[..., :2] - 0.5) * 1.3 + 0.5
    np.testing.assert_allclose(fingertip_features(zoomed), features, atol=1e-5)
    # The tip 0.1 image widths further right: x grows by 0.1 / the palm's size.
    moved = landmarks.copy()
    right = slice(*ISLR_PARTS["right_hand"])
    moved[:, right, 0] += 0.1
    palm = np.linalg.norm(landmarks[:, right][:, [5, 9, 13, 17], :2]
                          - landmarks[:, right][:, [0], :2], axis=-1).mean(axis=1)
    np.testing.assert_allclose(fingertip_features(moved)[:, 1] - features[:, 1], 0.1 / palm,
                               rtol=1e-4)


def test_missing_frames_hands_and_palms():
    tips = track()
    tips[2] = np.nan  # a missed frame
    landmarks = landmark_frames(tips, CLEAN_SCENE)
    features = fingertip_features(landmarks)
    assert features[2].tolist() == [0.0, 0.0, 0.0]
    # The same hand filed under the left slot (a flipped handedness): the same features.
    left = np.full_like(landmarks, np.nan)
    left[:, slice(*ISLR_PARTS["left_hand"])] = landmarks[:, slice(*ISLR_PARTS["right_hand"])]
    np.testing.assert_array_equal(fingertip_features(left), features)
    # Both hands of a size: the right one is read.
    both = left.copy()
    both[:, slice(*ISLR_PARTS["right_hand"])] = landmarks[:, slice(*ISLR_PARTS["right_hand"])]
    both[:, slice(*ISLR_PARTS["left_hand"]), :2] += 0.2
    np.testing.assert_array_equal(fingertip_features(both), features)
    # A much smaller right hand (someone in the background): the left one is read.
    small = both.copy()
    right = slice(*ISLR_PARTS["right_hand"])
    small[:, right, :2] = (small[:, right, :2] - 0.5) * 0.3 + 0.5
    shifted = fingertip_features(left.copy() + np.array([0.2, 0.2, 0.0], np.float32))
    np.testing.assert_allclose(fingertip_features(small), shifted, atol=1e-6)
    # Only the fingertip (no wrist or finger bases): a nominal hand size stands in.
    tip_only = np.full_like(landmarks, np.nan)
    tip = ISLR_PARTS["right_hand"][0] + 8
    tip_only[:, tip] = landmarks[:, tip]
    expected = (landmarks[:, tip, :2] - 0.5) / NOMINAL_HAND_SIZE
    np.testing.assert_allclose(fingertip_features(tip_only)[[0, 1, 3], 1:],
                               expected[[0, 1, 3]], rtol=1e-5)


def test_old_manifests_still_load(tmp_path):
    demo = read_manifest(DEMO)  # a frames bundle: no landmark_features key, and none written
    assert demo.landmark_features == "hand_pose" and "landmark_features" not in demo.to_json()
    copy = tmp_path / "old"
    shutil.copytree(BUNDLE, copy)
    raw = json.loads((copy / "manifest.json").read_text())
    del raw["landmark_features"]  # a landmark bundle from before the field
    (copy / "manifest.json").write_text(json.dumps(raw))
    assert read_manifest(copy).landmark_features == "hand_pose"
    from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime

    with pytest.raises(BundleError, match="the hand_pose landmark features give 153"):
        load_tensorflow_runtime(copy)  # this classifier reads 3 features per frame
    raw["landmark_features"] = "elbows"
    (copy / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="landmark_features must be one of hand_pose, "
                                          "fingertip, got 'elbows'"):
        read_manifest(copy)


def test_train_airwriting_refuses_other_recipes_flags(capsys):
    from argparse import Namespace

    from framescribe.plugin.train_command import run_train_airwriting

    args = Namespace(what="airwriting", output="x", name=None, data="videos", format="wlasl",
                     epochs=None, batch_size=None, cell="lstm", streams=None,
                     checkpoint_dir=None, no_eval=False, seed=0, backbone=None)
    assert run_train_airwriting(args) == 2
    assert "--data, --format: not for train airwriting" in capsys.readouterr().err
