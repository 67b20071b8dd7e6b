"""Bundles load when whole and fail with a message naming the file when not."""

import json
import shutil

import pytest

from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime
from framescribe.models.bundle.bundle_manifest import BundleError, read_manifest


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, target)
    return target


def test_complete_bundle_loads(tiny_bundle):
    manifest, runtime = load_tensorflow_runtime(tiny_bundle)
    assert manifest.input_size == 64 and manifest.backbone == "tiny_cnn"
    assert manifest.encoder.sha256 and manifest.caption_decoder.sha256
    raw = json.loads((tiny_bundle / "manifest.json").read_text())
    for key in ("format_version", "frame_rate", "input_size", "vocabulary_file", "labels_file",
                "training", "metrics"):
        assert key in raw


def test_missing_directory_and_manifest(tmp_path):
    with pytest.raises(BundleError, match="bundle directory not found"):
        read_manifest(tmp_path / "nope")
    with pytest.raises(BundleError, match="manifest.json: missing"):
        read_manifest(tmp_path)


def test_missing_weights_file_is_named(bundle_copy):
    (bundle_copy / "caption_decoder.weights.h5").unlink()
    with pytest.raises(BundleError, match="caption_decoder.weights.h5: missing"):
        read_manifest(bundle_copy)


def test_corrupt_weights_file_is_named(bundle_copy):
    path = bundle_copy / "frame_encoder.weights.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="frame_encoder.weights.h5: corrupt"):
        read_manifest(bundle_copy)


def test_truncated_weights_without_checksum_fail_on_load(bundle_copy):
    manifest_path = bundle_copy / "manifest.json"
    raw = json.loads(manifest_path.read_text())
    raw["gesture_classifier"]["sha256"] = ""
    manifest_path.write_text(json.dumps(raw))
    path = bundle_copy / "gesture_classifier.weights.h5"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BundleError, match="gesture_classifier.weights.h5: cannot load weights"):
        load_tensorflow_runtime(bundle_copy)


def test_bad_json_and_version(bundle_copy):
    manifest_path = bundle_copy / "manifest.json"
    raw = json.loads(manifest_path.read_text())
    manifest_path.write_text("{ not json")
    with pytest.raises(BundleError, match="manifest.json: not valid JSON"):
        read_manifest(bundle_copy)
    manifest_path.write_text(json.dumps({**raw, "format_version": 99}))
    with pytest.raises(BundleError, match="format_version 99 is not supported"):
        read_manifest(bundle_copy)
    del raw["frame_rate"]
    manifest_path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="missing required key 'frame_rate'"):
        read_manifest(bundle_copy)


def test_vocabulary_and_labels_must_match_models(bundle_copy):
    vocabulary = bundle_copy / "vocabulary.txt"
    vocabulary.write_text(vocabulary.read_text() + "extra\n")
    with pytest.raises(BundleError, match="vocabulary.txt: has .* words, the caption decoder"):
        read_manifest(bundle_copy)


def test_labels_count_must_match(bundle_copy):
    labels = bundle_copy / "gesture_labels.txt"
    labels.write_text("\n".join(labels.read_text().split()[:3]))
    with pytest.raises(BundleError, match="gesture_labels.txt: has 3 labels"):
        read_manifest(bundle_copy)


def test_mismatched_config_is_reported(bundle_copy):
    manifest_path = bundle_copy / "manifest.json"
    raw = json.loads(manifest_path.read_text())
    raw["gesture_classifier"]["config"]["units"] = 999
    manifest_path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="gesture_classifier.weights.h5: cannot load weights"):
        load_tensorflow_runtime(bundle_copy)


def test_trained_models_are_saved_without_optimizer_state(tmp_path):
    import keras
    import numpy as np

    from framescribe.models.bundle.bundle_manifest import BundleManifest, ModelEntry
    from framescribe.models.bundle.bundle_writer import save_bundle
    from framescribe.models.networks.frame_encoder import FrameEncoder
    from framescribe.models.networks.gesture_classifier import GestureClassifier

    classifier = GestureClassifier(num_labels=3, input_dim=8, units=64)
    classifier.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    classifier.fit(np.zeros((4, 5, 8), np.float32), np.zeros((4, 5), np.int32), verbose=0)
    manifest = BundleManifest(name="t", version="1", frame_rate=10.0, caption_segment_frames=16,
                              encoder=ModelEntry("", {}))
    save_bundle(tmp_path / "b", manifest, encoder=FrameEncoder("tiny_cnn", 64, "avg", 8),
                gesture_classifier=classifier, labels=("a", "b", "c"))
    weights_bytes = 4 * classifier.count_params()
    size = (tmp_path / "b" / "gesture_classifier.weights.h5").stat().st_size
    assert size < 1.5 * weights_bytes + 50_000  # Adam's two slots would triple it
    _, runtime = load_tensorflow_runtime(tmp_path / "b")
    probs = runtime.gesture_run(np.ones((1, 3, 8), np.float32))
    np.testing.assert_allclose(probs, np.asarray(keras.ops.softmax(
        classifier(np.ones((1, 3, 8), np.float32)))), atol=1e-5)
