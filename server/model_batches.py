"""One batch of the recurrent heads' work: gesture steps and captions, done the same way in the
server process (live streams: ServingModel's threads) and in a background worker process
(clips: encoder_worker --heads), so a clip's model work never runs on the server's GIL.

- `gesture_step_batch`: chunks of consecutive frames of several streams, stepped together.
- `caption_batch`: segments with the same length and decoding options decode together in one
  beam search (`Pipeline.caption`, the one implementation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from framescribe.models.inference.caption_search import DecodingOptions


@dataclass(frozen=True)
class GestureChunk:
    """Consecutive frames of one stream: features (T, D) and the recurrent states before them
    (list of (units,) arrays; None = the initial state)."""

    features: np.ndarray
    states: list[np.ndarray] | None


@dataclass(frozen=True)
class GestureChunkResult:
    probabilities: np.ndarray  # (T, 1 + labels)
    states: list[np.ndarray]  # after the chunk's last frame


@dataclass(frozen=True)
class CaptionRequest:
    features: np.ndarray  # (frames, D) of one segment
    decoding: DecodingOptions


def caption_batch(pipeline, requests: Sequence[CaptionRequest]) -> list[tuple[str, float]]:
    """(text, log_prob) per request, in order."""
    results: list[tuple[str, float] | None] = [None] * len(requests)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault((len(r.features), r.decoding), []).append(i)
    for (_, decoding), members in groups.items():
        batch = np.stack([requests[i].features for i in members])
        for i, result in zip(members, pipeline.caption(batch, decoding), strict=True):
            results[i] = result
    return results


def gesture_step_batch(runtime, chunks: Sequence[GestureChunk]) -> list[GestureChunkResult]:
    """Step every chunk's frames in time order; at step t, all chunks longer than t go through
    one `runtime.gesture_step` call together."""
    states = [np.stack(s) for s in zip(*[
        c.states if c.states is not None else
        [row[0] for row in runtime.gesture_initial_state(1)] for c in chunks], strict=True)]
    lengths = np.array([len(c.features) for c in chunks])
    probabilities = [[] for _ in chunks]
    for t in range(int(lengths.max())):
        active = np.flatnonzero(lengths > t)
        features = np.stack([chunks[i].features[t] for i in active])
        probs, new = runtime.gesture_step(features, [s[active] for s in states])
        for k, i in enumerate(active):
            probabilities[i].append(probs[k])
        for s, n in zip(states, new, strict=True):
            s[active] = n
    return [GestureChunkResult(np.stack(p), [s[i] for s in states])
            for i, p in enumerate(probabilities)]
