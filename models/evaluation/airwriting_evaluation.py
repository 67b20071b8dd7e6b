"""The `airwriting-lasa` benchmark on a landmark bundle: isolated top-1/top-5 and continuous
event F1 of LASA shapes written by a tracked hand (models/data/airwriting_tracks.py).

Landmark frames go through the bundle's own feature function (Pipeline.landmark_features) and
gesture classifier, and the continuous streams through the event tracker with the bundle's
event options, so what is measured is what is served.
"""

from __future__ import annotations

import numpy as np

from framescribe.models.evaluation.gesture_metrics import (
    EventSpan,
    classification_metrics,
    tracked_event_metrics,
)

BENCHMARK = "airwriting-lasa"
CLIPS_PER_BATCH = 64


def check_airwriting_bundle(pipeline, benchmark: str = BENCHMARK) -> None:
    """ValueError unless `pipeline` is a landmark bundle over the 26 LASA shapes (what the
    air-writing benchmarks measure)."""
    from framescribe.models.data.lasa_airwriting_paths import gesture_labels

    if not pipeline.reads_landmarks:
        raise ValueError(f"{benchmark} measures landmark bundles (gesture_input 'landmarks'); "
                         "this bundle's gestures read images (try lasa-airwriting)")
    if tuple(pipeline.labels or ()) != gesture_labels():
        raise ValueError(f"{benchmark}: the bundle's labels are not the 26 LASA shapes "
                         f"(got {len(pipeline.labels or ())} labels)")


def last_frame_probabilities(pipeline, features: list[np.ndarray]) -> np.ndarray:
    """Clips of different lengths -> (clips, 1 + labels) probabilities at each one's last
    frame. Padded at the end: the classifier is causal, so padding never reaches them."""
    lengths = np.array([len(f) for f in features])
    batch = np.zeros((len(features), lengths.max(), features[0].shape[1]), np.float32)
    for i, f in enumerate(features):
        batch[i, : len(f)] = f
    probabilities = pipeline.gesture_probabilities(batch)
    return probabilities[np.arange(len(features)), lengths - 1]


def evaluate_airwriting(pipeline, options, progress=None) -> dict:
    """options: EvaluationOptions (split, limit). Metrics of BENCHMARKS.md's air-writing rows."""
    from framescribe.models.data.airwriting_tracks import AirwritingClips, AirwritingStreams
    from framescribe.models.evaluation.evaluation import top_k_gestures

    check_airwriting_bundle(pipeline)
    clips = AirwritingClips(options.split)
    count = min(len(clips), options.limit or len(clips))
    true_labels, top_k, clean = [], [], []
    for start in range(0, count, CLIPS_PER_BATCH):
        batch = [clips[i] for i in range(start, min(count, start + CLIPS_PER_BATCH))]
        last = last_frame_probabilities(
            pipeline, [pipeline.landmark_features(c.landmarks) for c in batch])
        top_k.append(top_k_gestures(last))
        true_labels += [c.label for c in batch]
        clean += [i < clips.pairs for i in range(start, start + len(batch))]
        if progress is not None:
            progress(len(true_labels), count)
    top_k = np.concatenate(top_k)
    isolated = classification_metrics(true_labels, top_k, len(pipeline.labels))
    hits = top_k[:, 0] == np.array(true_labels)
    clean = np.array(clean)
    isolated["top1_clean"] = float(hits[clean].mean()) if clean.any() else None
    isolated["top1_varied"] = float(hits[~clean].mean()) if (~clean).any() else None
    streams = AirwritingStreams(options.split)
    runs = []
    for i in range(min(len(streams), options.limit or len(streams))):
        stream = streams[i]
        features = pipeline.landmark_features(stream.landmarks)
        runs.append((pipeline.gesture_probabilities(features[None])[0],
                     [EventSpan(s.label, s.start, s.end) for s in stream.events]))
    continuous = tracked_event_metrics(runs, pipeline.default_event_options)
    return {
        "benchmark": BENCHMARK,
        "split": options.split,
        "isolated": isolated,
        "continuous": continuous,
        "top1": isolated["top1"],
        "top5": isolated["top5"],
        "macro_f1": isolated["macro_f1"],
        "event_f1": continuous["event_f1"],
        "labels": list(pipeline.labels),
    }
