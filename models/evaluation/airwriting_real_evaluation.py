"""The `airwriting-real` benchmark on a landmark bundle: LASA shapes written by a real hand in
real video (models/data/airwriting_real.py), measured through the whole video path.

Every clip is a video file (generated into the cache on first use) read by the one video reader
at the bundle's frame rate. Isolated clips: the landmark stage (MediaPipe, as every entry point
runs it) -> the bundle's feature function and gesture classifier -> top-1 / top-5 at the last
frame; the same landmarks give the tracker's numbers (frames with a hand, landmark 8's distance
from the true fingertip). Continuous clips: Pipeline.annotate on the file (the session every
entry point runs: reader, landmark stage, classifier, event tracker) -> events in seconds ->
frames -> event precision / recall / F1 (same label, start and end within 4 frames).
"""

from __future__ import annotations

import numpy as np

from framescribe.models.evaluation.gesture_metrics import (
    EventSpan,
    classification_metrics,
    event_metrics,
)

BENCHMARK = "airwriting-real"
TIP_LANDMARK = 8  # MediaPipe's index fingertip


def _check(pipeline, split: str) -> None:
    from framescribe.models.evaluation.airwriting_evaluation import check_airwriting_bundle

    if split != "test":
        raise ValueError(f"{BENCHMARK} has only a test split (LASA demonstrations 5-6), "
                         f"got {split!r}")
    check_airwriting_bundle(pipeline, BENCHMARK)


def video_landmarks(pipeline, path) -> tuple[np.ndarray, np.ndarray]:
    """(times (n,) s, landmarks (n, 543, 3)) of a video file: the one reader, sampled to the
    bundle's rate, through the landmark stage the pipeline's sessions run."""
    from framescribe.models.inference.landmark_stage import LandmarkStage
    from framescribe.models.video import open_source, sample_frames

    with open_source(path) as source, LandmarkStage(pipeline.landmark_kind) as stage:
        frames = list(sample_frames(source, pipeline.manifest.frame_rate))
        times = np.array([f.timestamp for f in frames], np.float64)
        return times, stage.landmarks(times, [f.image for f in frames])


def fingertip_errors(landmarks: np.ndarray, tips: np.ndarray, width: int, height: int
                     ) -> np.ndarray:
    """Per frame, px from the true fingertip to the nearer hand's landmark 8 (NaN: no hand)."""
    from framescribe.models.data.islr_layout import ISLR_PARTS

    errors = []
    for part in ("left_hand", "right_hand"):
        point = landmarks[:, ISLR_PARTS[part][0] + TIP_LANDMARK, :2] * [width, height]
        errors.append(np.hypot(*(point - tips).T))
    errors = np.stack(errors)
    return np.where(np.isnan(errors).all(axis=0), np.nan,
                    np.nanmin(np.where(np.isnan(errors), np.inf, errors), axis=0))


def _isolated(pipeline, clips, progress) -> tuple[dict, dict]:
    from framescribe.models.evaluation.airwriting_evaluation import last_frame_probabilities
    from framescribe.models.evaluation.evaluation import top_k_gestures

    features, labels, errors, first_found, backgrounds = [], [], [], [], []
    for done, (path, clip) in enumerate(clips, 1):
        backgrounds.append(clip.background)
        times, landmarks = video_landmarks(pipeline, path)
        frames = np.rint(times * clip.fps).astype(int)  # the sampled frames' indices
        error = fingertip_errors(landmarks, clip.tips[frames], clip.width, clip.height)
        errors.append(error)
        found = ~np.isnan(error)
        first_found.append(int(np.argmax(found)) if found.any() else len(found))
        features.append(pipeline.landmark_features(landmarks))
        labels.append(clip.label)
        if progress is not None:
            progress(done, len(clips))
    top_k = top_k_gestures(last_frame_probabilities(pipeline, features))
    metrics = classification_metrics(labels, top_k, len(pipeline.labels))
    hits = top_k[:, 0] == np.array(labels)
    metrics["top1_by_background"] = {
        name: float(hits[[b == name for b in backgrounds]].mean())
        for name in sorted(set(backgrounds))}
    error = np.concatenate(errors)
    found = ~np.isnan(error)
    misses_after_first = sum(int(np.isnan(e[f:]).sum()) for e, f in zip(errors, first_found,
                                                                         strict=True))
    tracking = {
        "frames": int(len(error)),
        "hand_found": float(found.mean()),
        "misses_after_first_detection": misses_after_first,
        "tip_error_px_median": float(np.median(error[found])) if found.any() else None,
        "tip_error_px_p90": float(np.percentile(error[found], 90)) if found.any() else None,
    }
    return metrics, tracking


def _continuous(pipeline, clips) -> dict:
    labels = {name: i for i, name in enumerate(pipeline.labels)}
    predicted, truth = [], []
    for path, clip in clips:
        annotation = pipeline.annotate(str(path))
        predicted.append([EventSpan(labels[e.label], round(e.start * clip.fps),
                                    round(e.end * clip.fps), e.confidence)
                          for e in annotation.gestures])
        truth.append([EventSpan(e.label, e.start, e.end) for e in clip.events])
    return event_metrics(predicted, truth)


def evaluate_airwriting_real(pipeline, options, progress=None) -> dict:
    """options: EvaluationOptions (split "test"; limit: the first N clips of each kind)."""
    from framescribe.models.data.airwriting_real import TEST_SEED
    from framescribe.models.data.airwriting_real_cache import cached_clips

    _check(pipeline, options.split)
    isolated, tracking = _isolated(pipeline, cached_clips("isolated", TEST_SEED, options.limit),
                                   progress)
    continuous = _continuous(pipeline, cached_clips("continuous", TEST_SEED, options.limit))
    return {
        "benchmark": BENCHMARK,
        "split": options.split,
        "isolated": isolated,
        "continuous": continuous,
        "tracking": tracking,
        "top1": isolated["top1"],
        "top5": isolated["top5"],
        "macro_f1": isolated["macro_f1"],
        "event_f1": continuous["event_f1"],
        "labels": list(pipeline.labels),
    }
