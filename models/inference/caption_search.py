"""Greedy and beam-search caption decoding over any runtime's `caption_init` / `caption_step`.

Decoding is batched: all segments and all their beams go through one `caption_step` call per
word, so a server (or the batch runner) pays one model call per word for the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecodingOptions:
    """beam_size 1 is greedy decoding. length_penalty is GNMT's alpha (0 = raw log-prob)."""

    beam_size: int = 3
    max_length: int = 20
    length_penalty: float = 0.0

    def __post_init__(self):
        if not 1 <= self.beam_size <= 16:
            raise ValueError(f"beam_size must be 1-16, got {self.beam_size}")
        if not 1 <= self.max_length <= 100:
            raise ValueError(f"max_length must be 1-100 words, got {self.max_length}")
        if self.length_penalty < 0:
            raise ValueError(f"length_penalty must be >= 0, got {self.length_penalty}")


@dataclass(frozen=True)
class DecodedCaption:
    tokens: tuple[int, ...]  # word ids, without <start>/<end>
    log_prob: float  # sum of the words' log-probabilities, <end> included


def _length_normaliser(length: np.ndarray, alpha: float) -> np.ndarray:
    return ((5.0 + length) / 6.0) ** alpha


def decode_captions(
    runtime, features: np.ndarray, options: DecodingOptions, *, start_id: int, end_id: int
) -> list[DecodedCaption]:
    """features (batch, frames, feature_dim) -> one caption per segment."""
    batch, beams = len(features), options.beam_size
    if batch == 0:
        return []
    state = runtime.caption_init(features)
    state = {k: np.repeat(v, beams, axis=0) for k, v in state.items()}
    # Only beam 0 is live at first, so the first step does not pick duplicates.
    scores = np.full((batch, beams), -np.inf, np.float64)
    scores[:, 0] = 0.0
    tokens = np.full((batch, beams, 0), end_id, np.int32)
    finished = np.zeros((batch, beams), bool)
    lengths = np.zeros((batch, beams), np.int32)
    last = np.full(batch * beams, start_id, np.int32)
    for step in range(options.max_length + 1):
        log_probs, state = runtime.caption_step(last, state)
        log_probs = log_probs.reshape(batch, beams, -1).astype(np.float64)
        vocab = log_probs.shape[-1]
        if step == options.max_length:  # out of words: every beam must end here
            end_scores = log_probs[..., end_id].copy()
            log_probs[:] = -np.inf
            log_probs[..., end_id] = end_scores
        # A finished beam only extends with <end> at no cost, keeping its score.
        log_probs[finished] = -np.inf
        log_probs[finished, end_id] = 0.0
        candidates = (scores[..., None] + log_probs).reshape(batch, beams * vocab)
        best = np.argsort(-candidates, axis=1, kind="stable")[:, :beams]
        source_beam, token = best // vocab, (best % vocab).astype(np.int32)
        rows = np.arange(batch)[:, None]
        scores = candidates[rows, best]
        was_finished = finished[rows, source_beam]
        lengths = lengths[rows, source_beam] + (~was_finished).astype(np.int32)
        finished = was_finished | (token == end_id)
        tokens = np.concatenate([tokens[rows, source_beam], token[..., None]], axis=2)
        flat_source = (rows * beams + source_beam).reshape(-1)
        state = {k: v[flat_source] for k, v in state.items()}
        last = token.reshape(-1)
        if finished.all():
            break
    ranked = scores / _length_normaliser(lengths, options.length_penalty)
    results = []
    for b in range(batch):
        k = int(np.argmax(ranked[b]))
        words = []
        for t in tokens[b, k]:
            if t == end_id:
                break
            words.append(int(t))
        results.append(DecodedCaption(tuple(words), float(scores[b, k])))
    return results
