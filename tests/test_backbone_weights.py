"""Pretrained backbones (--backbone-weights, --backbone-preset), the encoder a dataset run
starts from, TensorFlow's host setup (GPU memory growth) and --mixed-precision training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from framescribe.models.networks.backbone_weights import (
    PRESETS,
    BackboneWeightsError,
    fetch_preset,
    preset_folder_backbone,
)
from framescribe.models.networks.frame_encoder import FrameEncoder
from framescribe.plugin.cli import main

CLI = [sys.executable, "-m", "framescribe.plugin.cli"]
DEMO = Path(__file__).resolve().parents[1] / "models" / "bundles" / "demo"
SIZE = 32  # the smallest input FrameEncoder takes: keeps the keras-cv backbones fast


def one_error_line(stderr: str, *names: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("framescribe: error:"), stderr[-3000:]
    for name in names:
        assert name in lines[0], f"{name!r} not in {lines[0]!r}"
    return lines[0]


def backbone_output(encoder: FrameEncoder, frames: np.ndarray) -> np.ndarray:
    """The backbone's feature map for uint8 frames (what its weights alone decide)."""
    return np.asarray(encoder.backbone(frames.astype(np.float32) / 255.0, training=False))


@pytest.fixture(scope="module")
def saved_backbone(tmp_path_factory):
    """A mobilenet_v3_small encoder whose backbone is saved both ways: a .weights.h5 file, and
    a keras-cv preset folder (config.json + model.weights.h5, as Kaggle serves them) saved from
    a backbone built the way presets are (include_rescaling, any input size)."""
    import keras
    import keras_cv
    from keras_cv.src.utils.preset_utils import save_to_preset

    from framescribe.models.networks.frame_encoder import backbone_architecture

    keras.utils.set_random_seed(1)
    root = tmp_path_factory.mktemp("backbones")
    encoder = FrameEncoder("mobilenet_v3_small", SIZE, "avg", None)
    encoder.backbone.save_weights(root / "backbone.weights.h5")
    class_name, arguments = backbone_architecture("mobilenet_v3_small")
    preset = getattr(keras_cv.models, class_name)(**arguments, include_rescaling=True,
                                                  input_shape=(None, None, 3))
    preset.set_weights(encoder.backbone.get_weights())
    save_to_preset(preset, root / "preset")
    frames = np.random.default_rng(0).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    other = backbone_output(FrameEncoder("mobilenet_v3_small", SIZE, "avg", None), frames)
    assert not np.allclose(other, backbone_output(encoder, frames), rtol=1e-3, atol=0)
    return encoder, root, frames


# -- --backbone-weights ----------------------------------------------------------------------
@pytest.mark.parametrize("form", ["backbone.weights.h5", "preset"])
def test_backbone_weights_load_into_the_backbone_alone(saved_backbone, form):
    original, root, frames = saved_backbone
    reloaded = FrameEncoder("mobilenet_v3_small", SIZE, "avg", 8,
                            backbone_weights=str(root / form))
    # (other random weights give other outputs: checked in the fixture)
    np.testing.assert_array_equal(backbone_output(reloaded, frames),
                                  backbone_output(original, frames))
    assert reloaded.get_config()["backbone_weights"] is None  # a bundle keeps the weights


def test_a_preset_folder_says_which_backbone_it_is_for(saved_backbone):
    _, root, _ = saved_backbone
    assert preset_folder_backbone(root / "preset") == "mobilenet_v3_small"
    config = json.loads((root / "preset" / "config.json").read_text("utf-8"))
    assert config["registered_name"].endswith("MobileNetV3Backbone")
    assert config["weights"] == "model.weights.h5"


def test_weights_that_do_not_fit_are_one_line_naming_the_file(saved_backbone, tmp_path):
    encoder, root, _ = saved_backbone
    tiny = FrameEncoder("tiny_cnn", 64, "spatial", 8)
    with pytest.raises(BackboneWeightsError) as error:
        FrameEncoder("tiny_cnn", 64, "spatial", 8,
                     backbone_weights=str(root / "backbone.weights.h5"))
    message = str(error.value)
    assert "\n" not in message and "backbone.weights.h5" in message
    assert "does not fit the tiny_cnn backbone" in message and "--backbone" in message

    whole = tmp_path / "encoder.weights.h5"
    tiny.save_weights(whole)
    with pytest.raises(BackboneWeightsError, match="whole frame encoder's weights"):
        FrameEncoder("tiny_cnn", 64, "spatial", 8, backbone_weights=str(whole))

    other = tmp_path / "large-preset"
    shutil.copytree(root / "preset", other)
    config = json.loads((other / "config.json").read_text("utf-8"))
    config["config"]["stackwise_filters"][0] = 24  # another architecture's config
    (other / "config.json").write_text(json.dumps(config), "utf-8")
    with pytest.raises(BackboneWeightsError) as error:
        FrameEncoder("mobilenet_v3_small", SIZE, "avg", None, backbone_weights=str(other))
    message = str(error.value)
    assert "\n" not in message and "large-preset" in message and "stackwise_filters" in message
    with pytest.raises(BackboneWeightsError, match="holds a .*MobileNetV3Backbone, the resnet18"):
        from framescribe.models.networks.backbone_weights import weights_file

        weights_file(root / "preset", "resnet18")
    with pytest.raises(BackboneWeightsError, match="no config.json"):
        weights_file(tmp_path, "mobilenet_v3_small")


# -- --backbone-preset --------------------------------------------------------------------------
def test_the_preset_table_is_keras_cvs():
    import keras_cv

    classes = {"mobilenet_v3_small": keras_cv.models.MobileNetV3Backbone,
               "mobilenet_v3_large": keras_cv.models.MobileNetV3Backbone,
               "efficientnet_v2_b0": keras_cv.models.EfficientNetV2Backbone,
               "resnet50": keras_cv.models.ResNetBackbone}
    for name, (backbone, handle) in PRESETS.items():
        assert classes[backbone].presets[name]["kaggle_handle"] == f"kaggle://{handle}"


def test_a_preset_already_on_disk_is_used_without_the_network(saved_backbone, tmp_path,
                                                             monkeypatch):
    _, root, _ = saved_backbone
    shutil.copytree(root / "preset", tmp_path / "mobilenet_v3_small_imagenet")
    monkeypatch.setenv("FRAMESCRIBE_PRESETS", str(tmp_path))
    assert fetch_preset("mobilenet_v3_small_imagenet") == tmp_path / "mobilenet_v3_small_imagenet"


def offline_env(tmp_path: Path) -> dict[str, str]:
    """No preset on disk, and any download refused at once (as on a host without internet)."""
    env = {key: value for key, value in os.environ.items()
           if key.lower() not in ("no_proxy", "https_proxy", "http_proxy", "all_proxy")}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", "FRAMESCRIBE_PRESETS": str(tmp_path / "presets"),
            "KAGGLEHUB_CACHE": str(tmp_path / "kagglehub"),
            "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}


def test_backbone_preset_offline_is_one_line_saying_what_to_fetch_and_where(tmp_path):
    output = tmp_path / "out"
    result = subprocess.run(
        [*CLI, "train", "captions", "--output", str(output), "--backbone-preset",
         "mobilenet_v3_small_imagenet", "--no-eval"],
        capture_output=True, text=True, timeout=300, env=offline_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result.stderr, "mobilenet_v3_small_imagenet",
                          "keras/mobilenetv3/keras/mobilenet_v3_small_imagenet/2",
                          "https://www.kaggle.com/models/", "config.json",
                          str(tmp_path / "presets" / "mobilenet_v3_small_imagenet"),
                          "--backbone-weights DIR")
    assert "could not be downloaded" in line
    assert not output.exists()


@pytest.mark.parametrize("args, names", [
    (["--backbone-preset", "vgg16_imagenet"], ["unknown backbone preset", "resnet50_imagenet"]),
    (["--backbone-preset", "resnet50_imagenet", "--backbone", "tiny_cnn"],
     ["'resnet50_imagenet' is for the resnet50 backbone, not tiny_cnn"]),
    (["--backbone-weights", "w.weights.h5", "--backbone-preset", "resnet50_imagenet"],
     ["choose one"]),
    (["--backbone-weights", "w.weights.h5", "--encoder-from", "demo"],
     ["--backbone-weights: not with --encoder-from"]),
])
@pytest.mark.parametrize("mode", ["benchmarks", "dataset"])
def test_encoder_choices_that_clash_are_usage_errors(args, names, mode, tmp_path, capsys):
    data = ["--data", str(tmp_path), "--format", "msvd"] if mode == "dataset" else []
    status = main(["train", "captions", *data, *args, "--output", str(tmp_path / "out")])
    assert status == 2
    one_error_line(capsys.readouterr().err, *names)
    assert not (tmp_path / "out").exists()


def test_train_help_lists_the_encoder_and_precision_flags(capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["train", "--help"])
    assert exit_status.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--backbone-weights FILE|DIR", "--backbone-preset NAME", "--mixed-precision",
                   "--encoder-from BUNDLE", "'demo' names the shipped demo bundle"):
        assert option in text, option


# -- the encoder a dataset run starts from ------------------------------------------------------
def test_a_dataset_run_starts_from_a_fresh_backbone_unless_the_demo_is_named(capsys):
    from framescribe.models.training.dataset_recipe_steps import frozen_encoder
    from framescribe.models.training.dataset_recipes import DatasetTrainingOptions
    from framescribe.models.training.encoder_sources import DEMO_BUNDLE

    fresh = frozen_encoder(DatasetTrainingOptions("d", "msvd", "o", input_size=SIZE), 0.0)
    assert fresh.bundle is None and fresh.model.backbone_name == "mobilenet_v3_small"
    assert fresh.record()["encoder_from"] is None and fresh.frame_rate == 10.0
    assert "weights are random" in capsys.readouterr().out
    demo = frozen_encoder(DatasetTrainingOptions("d", "msvd", "o", encoder_from="demo"), 0.0)
    assert demo.bundle == DEMO_BUNDLE and demo.model.backbone_name == "tiny_cnn"


# -- TensorFlow's host setup ----------------------------------------------------------------
def test_configure_tensorflow_is_idempotent_and_a_no_op_on_cpu():
    import tensorflow as tf

    from framescribe.models.runtimes.tf_setup import configure_tensorflow

    _ = tf.constant(1.0) + 1.0  # after TensorFlow has run ops, too
    assert configure_tensorflow() == configure_tensorflow() == [
        gpu.name for gpu in tf.config.list_physical_devices("GPU")]


# Runs in a fresh child: which loader sets TensorFlow up, and before its first op?
SETUP_CHILD = textwrap.dedent("""
    import sys
    from framescribe.models.inference.pipeline import Pipeline
    from framescribe.models.runtimes import tf_setup

    calls = []
    real = tf_setup.configure_tensorflow

    def recording(*args, **kwargs):
        from tensorflow.python.eager import context
        calls.append(context.context()._context_handle is None)  # no op has run yet
        return real(*args, **kwargs)

    tf_setup.configure_tensorflow = recording
    Pipeline.from_bundle(sys.argv[1], runtime="tf")
    assert calls and calls[0], calls
    print("ok")
""")


def test_the_tf_runtime_sets_tensorflow_up_before_any_op():
    result = subprocess.run([sys.executable, "-c", SETUP_CHILD, str(DEMO)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


LITERT_CHILD = textwrap.dedent("""
    import sys
    from framescribe.models.inference.pipeline import Pipeline

    Pipeline.from_bundle(sys.argv[1], runtime="litert")
    loaded = [m for m in ("tensorflow", "keras", "framescribe.models.runtimes.tf_setup")
              if m in sys.modules]
    assert not loaded, loaded
    print("ok")
""")


def test_the_litert_runtime_never_sets_tensorflow_up():
    result = subprocess.run([sys.executable, "-c", LITERT_CHILD, str(DEMO)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


# -- --mixed-precision --------------------------------------------------------------------------
def test_the_tf_runtime_under_mixed_precision_keeps_float32_outputs_and_states():
    """What a server's mixed_precision option runs: the demo bundle computing in float16 gives
    float32 features, log-probabilities and carried states, close to the float32 ones."""
    from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime
    from framescribe.models.data.moving_digits import MovingDigits
    from framescribe.models.runtimes.tf_setup import mixed_precision

    frames = MovingDigits("test")[0].frames

    def run(runtime):
        features = runtime.encode(frames)
        state = runtime.caption_init(features[None])
        for token in (1, 2, 3):
            log_probs, state = runtime.caption_step(np.array([token], np.int32), state)
        gesture_states = runtime.gesture_initial_state(1)
        for feature in features:
            probabilities, gesture_states = runtime.gesture_step(feature[None], gesture_states)
        return features, log_probs, state, probabilities, gesture_states

    expected = run(load_tensorflow_runtime(DEMO)[1])
    with mixed_precision(True):
        mixed_runtime = load_tensorflow_runtime(DEMO)[1]
        assert mixed_runtime.caption_decoder.compute_dtype == "float16"
        found = run(mixed_runtime)
    features, log_probs, state, probabilities, gesture_states = found
    assert all(a.dtype == np.float32 for a in [features, log_probs, probabilities,
                                               *state.values(), *gesture_states])
    scale = np.abs(expected[0]).max()
    np.testing.assert_allclose(features, expected[0], atol=0.02 * scale)
    np.testing.assert_allclose(np.exp(log_probs), np.exp(expected[1]), atol=0.02)
    np.testing.assert_allclose(probabilities, expected[3], atol=0.02)


LITERT_GESTURES_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from framescribe.models.inference.pipeline import Pipeline

    pipeline = Pipeline.from_bundle(sys.argv[1], runtime="litert")
    frames = np.load(sys.argv[2])
    features = pipeline.encode(list(frames))
    probabilities = pipeline.gesture_probabilities(features[None])
    np.savez(sys.argv[3], features=features, probabilities=probabilities)
""")


@pytest.mark.slow
def test_mixed_precision_training_writes_a_float32_bundle_that_runs_everywhere(tmp_path,
                                                                              monkeypatch):
    import keras

    from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime
    from framescribe.models.data.lasa_airwriting import LasaAirwriting
    from framescribe.models.runtimes import tf_setup
    from framescribe.models.training.gesture_training import GestureTrainingOptions
    from framescribe.models.training.training_recipes import TrainingOptions, train
    from framescribe.models.video import fit_frame

    calls = []
    real = tf_setup.configure_tensorflow
    monkeypatch.setattr(tf_setup, "configure_tensorflow",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    options = TrainingOptions(
        output=str(tmp_path / "bundle"), tasks=("gestures",), input_size=SIZE, feature_dim=16,
        pretrain_epochs=1, pretrain_gesture_streams=1, gesture_streams=2,
        gestures=GestureTrainingOptions(epochs=2, units=8, num_layers=1, batch_size=4),
        checkpoint_dir=str(tmp_path / "checkpoints"), evaluate=False, verbose=0,
        mixed_precision=True)
    manifest = train(options)
    assert calls  # the recipe set TensorFlow up
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    assert manifest["training"]["options"]["mixed_precision"] is True
    assert set(manifest["litert"]["models"]) == {"encoder", "gesture_step"}

    clip = np.stack([fit_frame(f, SIZE) for f in LasaAirwriting("test")[0].frames[:12]])
    _, runtime = load_tensorflow_runtime(options.output)  # float32, as saved
    features = runtime.encode(clip)
    probabilities = runtime.gesture_run(features[None])
    assert features.dtype == probabilities.dtype == np.float32
    assert np.isfinite(features).all() and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)

    with tf_setup.mixed_precision(True):  # the same weights computing in float16 ...
        _, mixed = load_tensorflow_runtime(options.output)
        mixed_features = mixed.encode(clip)
        states = mixed.gesture_initial_state(1)
        for feature in mixed_features:  # ... states carried step to step stay float32
            step_probabilities, states = mixed.gesture_step(feature[None], states)
    assert mixed_features.dtype == step_probabilities.dtype == np.float32
    scale = np.abs(features).max()
    np.testing.assert_allclose(mixed_features, features, atol=0.02 * scale)
    np.testing.assert_allclose(step_probabilities[0], probabilities[0, -1], atol=0.05)

    np.save(tmp_path / "frames.npy", clip)
    result = subprocess.run(
        [sys.executable, "-c", LITERT_GESTURES_CHILD, options.output,
         str(tmp_path / "frames.npy"), str(tmp_path / "litert.npz")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lite = np.load(tmp_path / "litert.npz")
    np.testing.assert_allclose(lite["features"], features, atol=1e-3 * max(1.0, scale))
    np.testing.assert_allclose(lite["probabilities"], probabilities, atol=1e-4)
