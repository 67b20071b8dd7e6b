"""Evaluating a bundle on a benchmark split: the metrics of BENCHMARKS.md as one dict.

Uses the Pipeline's steps (encode, caption, gesture_probabilities) and the event tracker, so
what is measured is what is served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from framescribe.models.evaluation.caption_metrics import caption_metrics
from framescribe.models.evaluation.gesture_metrics import (
    EventSpan,
    classification_metrics,
    tracked_event_metrics,
)

BENCHMARKS = ("moving-digits", "lasa-airwriting", "airwriting-lasa", "airwriting-real")
CLIPS_PER_BATCH = 64


@dataclass(frozen=True)
class EvaluationOptions:
    split: str = "test"
    limit: int | None = None  # evaluate only the first `limit` clips/streams (quick checks)
    beam_size: int = 3

    def __post_init__(self):
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 (or None for the whole split), got {self.limit}")


def _progress(callback: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if callback is not None:
        callback(done, total)


def _encode_clips(pipeline, frames: np.ndarray) -> np.ndarray:
    """(clips, frames, h, w, 3) -> (clips, frames, feature_dim)."""
    clips, length = frames.shape[:2]
    flat = pipeline.encode(list(frames.reshape(clips * length, *frames.shape[2:])))
    return flat.reshape(clips, length, -1)


def evaluate_captions(pipeline, options: EvaluationOptions, progress=None) -> dict:
    from framescribe.models.data.moving_digits import MovingDigits
    from framescribe.models.inference.caption_search import DecodingOptions

    dataset = MovingDigits(options.split)
    count = min(len(dataset), options.limit or len(dataset))
    decoding = DecodingOptions(beam_size=options.beam_size,
                               max_length=pipeline.manifest.caption_max_length)
    hypotheses, references = [], []
    for start in range(0, count, CLIPS_PER_BATCH):
        clips = [dataset[i] for i in range(start, min(count, start + CLIPS_PER_BATCH))]
        features = _encode_clips(pipeline, np.stack([c.frames for c in clips]))
        hypotheses += [text for text, _ in pipeline.caption(features, decoding)]
        references += [c.references for c in clips]
        _progress(progress, len(hypotheses), count)
    metrics = caption_metrics(hypotheses, references)
    metrics["benchmark"], metrics["split"] = "moving-digits", options.split
    metrics["examples"] = [{"hypothesis": h, "references": list(r)}
                           for h, r in zip(hypotheses[:5], references[:5], strict=True)]
    return metrics


def top_k_gestures(probabilities: np.ndarray, k: int = 5) -> np.ndarray:
    """Last-frame probabilities (clips, 1 + labels) -> best k gesture labels (clips, k)."""
    gestures = probabilities[:, 1:]
    return np.argsort(-gestures, axis=1, kind="stable")[:, :k]


def evaluate_gestures(pipeline, options: EvaluationOptions, progress=None) -> dict:
    from framescribe.models.data.lasa_airwriting import ContinuousStreams, LasaAirwriting

    isolated = LasaAirwriting(options.split)
    count = min(len(isolated), options.limit or len(isolated))
    true_labels, top_k = [], []
    for start in range(0, count, CLIPS_PER_BATCH):
        clips = [isolated[i] for i in range(start, min(count, start + CLIPS_PER_BATCH))]
        features = _encode_clips(pipeline, np.stack([c.frames for c in clips]))
        last = pipeline.gesture_probabilities(features)[:, -1, :]
        top_k.append(top_k_gestures(last))
        true_labels += [c.label for c in clips]
        _progress(progress, len(true_labels), count)
    metrics = classification_metrics(true_labels, np.concatenate(top_k), len(pipeline.labels))
    streams = ContinuousStreams(options.split)
    stream_count = min(len(streams), options.limit or len(streams))
    runs = []
    for i in range(stream_count):
        stream = streams[i]
        features = pipeline.encode(list(stream.frames))
        runs.append((pipeline.gesture_probabilities(features[None])[0],
                     [EventSpan(s.label, s.start, s.end) for s in stream.events]))
    continuous = tracked_event_metrics(runs, pipeline.default_event_options)
    return {
        "benchmark": "lasa-airwriting",
        "split": options.split,
        "isolated": metrics,
        "continuous": continuous,
        "top1": metrics["top1"],
        "top5": metrics["top5"],
        "macro_f1": metrics["macro_f1"],
        "event_f1": continuous["event_f1"],
        "labels": list(pipeline.labels),
    }


def evaluate(pipeline, benchmark: str, options: EvaluationOptions, progress=None) -> dict:
    if benchmark == "moving-digits":
        return evaluate_captions(pipeline, options, progress)
    if benchmark == "lasa-airwriting":
        return evaluate_gestures(pipeline, options, progress)
    if benchmark == "airwriting-lasa":  # a landmark bundle: LASA shapes by a tracked hand
        from framescribe.models.evaluation.airwriting_evaluation import evaluate_airwriting

        return evaluate_airwriting(pipeline, options, progress)
    if benchmark == "airwriting-real":  # a landmark bundle on video: a real hand, real scenes
        from framescribe.models.evaluation.airwriting_real_evaluation import (
            evaluate_airwriting_real,
        )

        return evaluate_airwriting_real(pipeline, options, progress)
    raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {', '.join(BENCHMARKS)}")


def evaluate_bundle(bundle, benchmark: str, options: EvaluationOptions, runtime: str = "tf",
                    record: bool = False, progress=None) -> dict:
    """Load the bundle on `runtime`, evaluate it on `benchmark`; with `record`, write the
    metrics (without the examples) into its manifest (the litert section for runtime
    "litert")."""
    from framescribe.models.bundle.bundle_writer import update_metrics
    from framescribe.models.inference.pipeline import Pipeline

    metrics = evaluate(Pipeline.from_bundle(bundle, runtime=runtime), benchmark, options,
                       progress)
    if record:
        update_metrics(bundle, benchmark, {k: v for k, v in metrics.items() if k != "examples"},
                       runtime=runtime)
    return metrics


if __name__ == "__main__":  # python -m ... BUNDLE BENCHMARK RUNTIME: evaluate on test, record
    import sys

    evaluate_bundle(sys.argv[1], sys.argv[2], EvaluationOptions(split="test"),
                    runtime=sys.argv[3], record=True)
