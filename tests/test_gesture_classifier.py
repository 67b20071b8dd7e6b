"""The gesture classifier gives the same probabilities whole-clip and step by step."""

import numpy as np
import pytest

from framescribe.models.networks.gesture_classifier import GestureClassifier


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_step_by_step_equals_whole_clip(cell):
    classifier = GestureClassifier(num_labels=5, input_dim=12, cell=cell, units=16, num_layers=2)
    features = np.random.default_rng(0).normal(size=(3, 20, 12)).astype("float32")
    whole = np.asarray(classifier(features))
    states = classifier.initial_state(3)
    steps = []
    for t in range(features.shape[1]):
        logits, states = classifier.step(features[:, t], states)
        steps.append(np.asarray(logits))
    np.testing.assert_allclose(np.stack(steps, axis=1), whole, atol=1e-5)
    assert whole.shape == (3, 20, 6)  # idle + 5 labels


def test_runtime_step_equals_run(tiny_bundle):
    from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime

    _, runtime = load_tensorflow_runtime(tiny_bundle)
    features = np.random.default_rng(1).normal(size=(2, 12, 128)).astype("float32")
    whole = runtime.gesture_run(features)
    states = runtime.gesture_initial_state(2)
    for t in range(12):
        probs, states = runtime.gesture_step(features[:, t], states)
        np.testing.assert_allclose(probs, whole[:, t], atol=1e-5)
    np.testing.assert_allclose(whole.sum(axis=-1), 1.0, atol=1e-5)


def test_unknown_cell_is_rejected():
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        GestureClassifier(num_labels=3, input_dim=4, cell="transformer")


def test_config_round_trip():
    classifier = GestureClassifier(num_labels=4, input_dim=8, cell="gru", units=8, num_layers=1)
    clone = GestureClassifier(**classifier.get_config())
    assert clone.get_config() == classifier.get_config()
