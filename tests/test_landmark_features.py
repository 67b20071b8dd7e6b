"""Landmark gestures: per-frame features from ISLR-layout landmarks, and landmark bundles."""

from __future__ import annotations

import numpy as np
import pytest

from framescribe.models.data.sign_datasets import ISLR_LANDMARKS, ISLR_PARTS
from framescribe.models.inference.landmark_features import LANDMARK_FEATURE_DIM, landmark_features


def body(frames: int = 5, seed: int = 0) -> np.ndarray:
    """(frames, 543, 3): all points found, shoulders at (0.4, 0.5) and (0.6, 0.5)."""
    rng = np.random.default_rng(seed)
    landmarks = rng.uniform(0.3, 0.7, (frames, ISLR_LANDMARKS, 3)).astype(np.float32)
    pose = ISLR_PARTS["pose"][0]
    landmarks[:, pose + 11] = [0.4, 0.5, 0.0]
    landmarks[:, pose + 12] = [0.6, 0.5, 0.0]
    return landmarks


def test_shape_and_finite_with_missing_hands():
    landmarks = body()
    left = slice(*ISLR_PARTS["left_hand"])
    landmarks[:, left] = np.nan
    landmarks[2, slice(*ISLR_PARTS["right_hand"])] = np.nan
    features = landmark_features(landmarks)
    assert features.shape == (5, LANDMARK_FEATURE_DIM)
    assert np.isfinite(features).all()
    per_hand = (LANDMARK_FEATURE_DIM - 19) // 2
    assert (features[:, :per_hand] == 0).all()  # missing left hand: zeros, flag 0
    assert (features[:, 2 * per_hand - 1] == [1, 1, 0, 1, 1]).all()  # right-hand presence


def test_invariant_to_where_the_person_stands_and_how_far():
    landmarks = body()
    moved = landmarks.copy()
    moved[..., :2] = (moved[..., :2] - 0.5) * 0.5 + [0.3, 0.6]  # smaller and shifted
    moved[..., 2] *= 0.5
    np.testing.assert_allclose(landmark_features(moved), landmark_features(landmarks),
                               atol=1e-4)


def test_missing_pose_falls_back_to_image_centre():
    landmarks = body()
    landmarks[:, slice(*ISLR_PARTS["pose"])] = np.nan
    features = landmark_features(landmarks)
    assert np.isfinite(features).all()
    assert (features[:, -1] == 0).all()  # pose presence flag


@pytest.mark.parametrize("shape", [(5, 542, 3), (5, 543, 2), (543, 3)])
def test_wrong_layout_says_what_was_received(shape):
    with pytest.raises(ValueError, match=r"shape \(frames, 543, 3\) in the ISLR layout, got"):
        landmark_features(np.zeros(shape))


@pytest.fixture(scope="module")
def landmark_bundle(tmp_path_factory):
    import keras

    from framescribe.models.bundle.bundle_manifest import BundleManifest
    from framescribe.models.bundle.bundle_writer import save_bundle
    from framescribe.models.networks.gesture_classifier import GestureClassifier
    from framescribe.models.runtimes.litert_export import export_litert

    keras.utils.set_random_seed(0)
    labels = ("hello", "thanks", "yes")
    classifier = GestureClassifier(len(labels), LANDMARK_FEATURE_DIM, units=16)
    manifest = BundleManifest(name="signs", version="1", frame_rate=30.0,
                              caption_segment_frames=16, encoder=None,
                              gesture_input="landmarks")
    directory = tmp_path_factory.mktemp("bundles") / "signs"
    save_bundle(directory, manifest, gesture_classifier=classifier, labels=labels)
    export_litert(directory, log=lambda line: None)
    return directory


def test_landmark_bundle_annotates_landmarks(landmark_bundle):
    from framescribe.models.bundle.bundle_manifest import read_manifest
    from framescribe.models.inference.pipeline import Pipeline

    manifest = read_manifest(landmark_bundle)
    assert manifest.encoder is None and manifest.gesture_input == "landmarks"
    assert set(manifest.litert.models) == {"gesture_step"}
    pipeline = Pipeline.from_bundle(landmark_bundle)
    landmarks = body(frames=60)
    result = pipeline.annotate_landmarks(landmarks, timestamps=np.arange(60) / 60.0)
    assert result.frames == 30  # 60 fps sampled to the bundle's 30
    assert result.captions == ()


def test_landmark_bundle_annotates_video_through_its_landmark_stage(landmark_bundle):
    """Video frames to a landmark bundle: the session extracts holistic landmarks (the
    bundle's hand_pose features need them) and gives what annotate_landmarks gives on the
    same landmarks, at the same times."""
    from framescribe.models.data.package_media import opencv_doc_file
    from framescribe.models.inference.landmark_stage import LandmarkStage
    from framescribe.models.inference.pipeline import Pipeline, PipelineOptions
    from framescribe.models.video import read_video

    pipeline = Pipeline.from_bundle(landmark_bundle)
    frames = []
    for frame in read_video(str(opencv_doc_file("examples/data/Megamind.avi"))):
        frames.append(frame)
        if len(frames) == 24:
            break
    result = pipeline.annotate(frames, PipelineOptions(tasks=("gestures",)))
    assert pipeline.landmark_kind == "holistic"
    with LandmarkStage(pipeline.landmark_kind) as stage:
        landmarks = stage.landmarks([f.timestamp for f in frames], [f.image for f in frames])
    assert np.isfinite(landmarks[:, 489:522]).all(axis=(1, 2)).mean() >= 0.9  # a pose found
    expected = pipeline.annotate_landmarks(landmarks, [f.timestamp for f in frames])
    assert result == expected


def test_frames_bundle_refuses_landmarks(tiny_bundle):
    from framescribe.models.inference.pipeline import Pipeline

    with pytest.raises(ValueError, match="reads images, not landmarks"):
        Pipeline.from_bundle(tiny_bundle).annotate_landmarks(body())


def test_landmark_bundle_width_mismatch_is_named(landmark_bundle, tmp_path):
    import json
    import shutil

    from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime
    from framescribe.models.bundle.bundle_manifest import BundleError

    copy = tmp_path / "b"
    shutil.copytree(landmark_bundle, copy)
    raw = json.loads((copy / "manifest.json").read_text())
    raw["gesture_input"] = "frames"
    (copy / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="'encoder' is required"):
        load_tensorflow_runtime(copy)
