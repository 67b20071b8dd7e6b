"""Beam search: beam size 1 is greedy decoding; wider beams never score worse."""

import numpy as np
import pytest

from framescribe.models.bundle.bundle_loader import load_tensorflow_runtime
from framescribe.models.inference.caption_search import DecodingOptions, decode_captions


@pytest.fixture(scope="module")
def runtime(tiny_bundle):
    return load_tensorflow_runtime(tiny_bundle)[1]


def greedy_reference(runtime, features, max_length, start_id=1, end_id=2):
    """Plain greedy decoding, one argmax per step, written independently of the beam code."""
    results = []
    for clip in features:
        state = runtime.caption_init(clip[None])
        token, words, total = start_id, [], 0.0
        for step in range(max_length + 1):
            log_probs, state = runtime.caption_step(np.array([token], np.int32), state)
            token = int(np.argmax(log_probs[0])) if step < max_length else end_id
            total += float(log_probs[0, token])
            if token == end_id:
                break
            words.append(token)
        results.append((tuple(words), total))
    return results


def test_beam_size_one_equals_greedy(runtime):
    features = np.random.default_rng(0).normal(size=(5, 16, 128)).astype("float32")
    options = DecodingOptions(beam_size=1, max_length=8)
    beam = decode_captions(runtime, features, options, start_id=1, end_id=2)
    greedy = greedy_reference(runtime, features, max_length=8)
    for decoded, (words, total) in zip(beam, greedy, strict=True):
        assert decoded.tokens == words
        assert decoded.log_prob == pytest.approx(total, abs=1e-4)


def test_wider_beam_finds_at_least_as_likely_captions(runtime):
    features = np.random.default_rng(1).normal(size=(4, 16, 128)).astype("float32")
    greedy = decode_captions(runtime, features, DecodingOptions(beam_size=1, max_length=8),
                             start_id=1, end_id=2)
    beam = decode_captions(runtime, features, DecodingOptions(beam_size=4, max_length=8),
                           start_id=1, end_id=2)
    for g, b in zip(greedy, beam, strict=True):
        assert b.log_prob >= g.log_prob - 1e-4


def test_captions_never_exceed_max_length(runtime):
    features = np.random.default_rng(2).normal(size=(6, 16, 128)).astype("float32")
    for beam_size in (1, 3):
        decoded = decode_captions(runtime, features,
                                  DecodingOptions(beam_size=beam_size, max_length=3),
                                  start_id=1, end_id=2)
        assert all(len(d.tokens) <= 3 for d in decoded)


def test_empty_batch_and_bad_options(runtime):
    assert decode_captions(runtime, np.zeros((0, 16, 128), np.float32), DecodingOptions(),
                           start_id=1, end_id=2) == []
    with pytest.raises(ValueError, match="beam_size"):
        DecodingOptions(beam_size=0)
