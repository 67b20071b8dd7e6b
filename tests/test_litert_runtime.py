"""LiteRT runtime: parity with the TensorFlow runtime, no TensorFlow import, clear bundle errors.

The LiteRT runtime cannot share a process with TensorFlow (see litert_runtime.py), and this
test process has TensorFlow loaded, so every LiteRT computation here runs in a child process
that writes its outputs to an .npz file; the TF side runs here on the same inputs.

Stated tolerance (float32 files): features within 1e-3 absolute (values up to ~10), gesture
probabilities within 1e-4, and identical captions and gesture labels.
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
from framescribe.models.inference.caption_search import DecodingOptions
from framescribe.models.inference.pipeline import Pipeline

DEMO = Path(__file__).resolve().parents[1] / "models" / "bundles" / "demo"
FEATURE_TOLERANCE = 1e-3
PROBABILITY_TOLERANCE = 1e-4

# Runs in a child: the benchmark test clips through the LiteRT pipeline.
CHILD = r"""
import sys
import numpy as np
from framescribe.models.inference.caption_search import DecodingOptions
from framescribe.models.inference.pipeline import Pipeline
from framescribe.models.data.lasa_airwriting import LasaAirwriting
from framescribe.models.data.moving_digits import MovingDigits

bundle, out = sys.argv[1], sys.argv[2]
caption_clips, gesture_clips = int(sys.argv[3]), int(sys.argv[4])
pipeline = Pipeline.from_bundle(bundle, runtime="litert")
digits, lasa = MovingDigits("test"), LasaAirwriting("test")
frames = np.stack([digits[i].frames for i in range(caption_clips)])
features = pipeline.encode(list(frames.reshape(-1, *frames.shape[2:])))
features = features.reshape(caption_clips, 16, -1)
captions = [t for t, _ in pipeline.caption(features, DecodingOptions(beam_size=3,
            max_length=pipeline.manifest.caption_max_length))]
clips = np.stack([lasa[i].frames for i in range(gesture_clips)])
gesture_features = pipeline.encode(list(clips.reshape(-1, *clips.shape[2:]))).reshape(
    gesture_clips, clips.shape[1], -1)
probabilities = pipeline.gesture_probabilities(gesture_features)
assert "tensorflow" not in sys.modules, "the LiteRT pipeline imported TensorFlow"
np.savez(out, features=features, captions=np.array(captions), probabilities=probabilities,
         gesture_features=gesture_features)
"""


def litert_outputs(bundle: Path, tmp_path: Path, caption_clips: int, gesture_clips: int):
    out = tmp_path / "litert.npz"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(bundle), str(out), str(caption_clips),
         str(gesture_clips)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return np.load(out)


def check_parity(bundle: Path, tmp_path: Path, caption_clips: int, gesture_clips: int) -> None:
    from framescribe.models.data.lasa_airwriting import LasaAirwriting
    from framescribe.models.data.moving_digits import MovingDigits

    lite = litert_outputs(bundle, tmp_path, caption_clips, gesture_clips)
    pipeline = Pipeline.from_bundle(bundle, runtime="tf")
    digits, lasa = MovingDigits("test"), LasaAirwriting("test")
    frames = np.stack([digits[i].frames for i in range(caption_clips)])
    features = pipeline.encode(list(frames.reshape(-1, *frames.shape[2:]))).reshape(
        caption_clips, 16, -1)
    np.testing.assert_allclose(lite["features"], features, atol=FEATURE_TOLERANCE)
    decoding = DecodingOptions(beam_size=3, max_length=pipeline.manifest.caption_max_length)
    # Same features in, same captions out (the decoder's parity, not the encoder's).
    captions = [t for t, _ in pipeline.caption(lite["features"], decoding)]
    assert list(lite["captions"]) == captions
    clips = np.stack([lasa[i].frames for i in range(gesture_clips)])
    gesture_features = pipeline.encode(list(clips.reshape(-1, *clips.shape[2:]))).reshape(
        gesture_clips, clips.shape[1], -1)
    np.testing.assert_allclose(lite["gesture_features"], gesture_features, atol=FEATURE_TOLERANCE)
    probabilities = pipeline.gesture_probabilities(lite["gesture_features"])
    np.testing.assert_allclose(lite["probabilities"], probabilities, atol=PROBABILITY_TOLERANCE)
    assert (lite["probabilities"].argmax(-1) == probabilities.argmax(-1)).all()


def test_tiny_bundle_parity(tiny_bundle, tmp_path):
    check_parity(tiny_bundle, tmp_path, caption_clips=8, gesture_clips=8)


@pytest.mark.slow
def test_demo_bundle_parity_on_benchmark_test_clips(tmp_path):
    assert read_manifest(DEMO).litert is not None, "the demo bundle must carry LiteRT files"
    check_parity(DEMO, tmp_path, caption_clips=128, gesture_clips=64)


def test_litert_refuses_to_run_next_to_tensorflow(tiny_bundle):
    import tensorflow  # noqa: F401  (this process has it; the runtime must say no, clearly)

    with pytest.raises(RuntimeError, match="cannot run in a process that has imported"):
        Pipeline.from_bundle(tiny_bundle, runtime="litert")


def test_unknown_runtime_is_a_clear_error(tiny_bundle):
    with pytest.raises(ValueError, match="unknown runtime 'onnx'; available: tf, litert"):
        Pipeline.from_bundle(tiny_bundle, runtime="onnx")


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    return copy


def _edit_manifest(bundle: Path, edit) -> None:
    path = bundle / "manifest.json"
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))


def _load_litert(bundle: Path):
    from framescribe.models.bundle.bundle_loader import load_litert_runtime

    return load_litert_runtime(bundle)


def test_missing_litert_file_names_it_and_the_fix(bundle_copy):
    (bundle_copy / "litert" / "caption_step.tflite").unlink()
    with pytest.raises(BundleError, match=r"caption_step.tflite: missing .*framescribe export"):
        read_manifest(bundle_copy)


def test_corrupt_litert_file_is_named(bundle_copy):
    with open(bundle_copy / "litert" / "gesture_step.tflite", "r+b") as f:
        f.seek(100)
        f.write(b"\x00" * 16)
    with pytest.raises(BundleError, match=r"gesture_step.tflite: corrupt"):
        read_manifest(bundle_copy)


def test_stale_litert_files_are_refused(bundle_copy):
    def retrained(raw):
        raw["litert"]["models"]["encoder"]["source_sha256"] = "0" * 64

    _edit_manifest(bundle_copy, retrained)
    with pytest.raises(BundleError, match=r"frame_encoder.tflite: stale .*framescribe export"):
        _load_litert(bundle_copy)


def test_bundle_without_litert_section_says_how_to_make_it(bundle_copy):
    _edit_manifest(bundle_copy, lambda raw: raw.pop("litert"))
    with pytest.raises(BundleError, match=r"has no LiteRT files; create them with `framescribe "
                                          r"export --bundle"):
        _load_litert(bundle_copy)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "framescribe.plugin.cli", *args],
                          capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_export_with_dynamic_quantization_records_choices_and_accuracy(bundle_copy):
    before = read_manifest(bundle_copy).litert.models["encoder"].sha256
    result = run_cli("export", "--bundle", str(bundle_copy), "--quantize", "dynamic")
    assert result.returncode == 0, result.stderr[-2000:]
    litert = read_manifest(bundle_copy).litert
    assert litert.quantization == "dynamic"
    assert set(litert.models) == {"encoder", "caption_init", "caption_step", "gesture_step"}
    for role, timing in litert.timings.items():  # measured per model, kept only where faster
        assert timing["float32_ms"] > 0 and timing["int8_ms"] > 0
        assert litert.models[role].quantized == (timing["int8_ms"] < timing["float32_ms"])
    if litert.models["encoder"].quantized:
        assert litert.models["encoder"].sha256 != before
    assert not list(bundle_copy.glob(".litert*")), "no staging directory left behind"
    # The re-exported files serve (in a child: this process has TensorFlow).
    result = run_cli("eval", "--bundle", str(bundle_copy), "--benchmark", "lasa-airwriting",
                     "--runtime", "litert", "--limit", "4", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert 0.0 <= json.loads(result.stdout)["top1"] <= 1.0


def test_export_of_a_missing_bundle_is_one_line(tmp_path):
    result = run_cli("export", "--bundle", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"framescribe: error: bundle directory not found: {tmp_path / 'nope'}"]


def test_eval_litert_record_goes_to_the_litert_section(bundle_copy):
    result = run_cli("eval", "--bundle", str(bundle_copy), "--benchmark", "moving-digits",
                     "--runtime", "litert", "--limit", "2", "--record")
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = read_manifest(bundle_copy)
    assert "moving-digits" in manifest.litert.metrics
    assert "moving-digits" not in manifest.metrics
