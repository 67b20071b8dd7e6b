"""Sign recipes (wlasl / islr): per-frame features of sign clips -> a gesture classifier.

- wlasl: a training stream is the sign's frames plus up to `sign_context_s` seconds of the video
  before and after it; frames of the sign carry the gloss id, the others are idle (-1), so the
  classifier learns where signs start and end. Evaluation: top-1/top-5 of the prediction at the
  sign's last frame (over the label columns, idle excluded), on the test clips.
- islr: per-frame landmark features (landmark_features.py; missing hands are NaN in the data
  and a presence flag of 0 in the features), the whole sequence labelled with its sign (ISLR
  sequences hold one sign and no idle frames). Sequences are taken as captured at
  ISLR_FRAME_RATE (30 fps, the Kaggle ISLR capture rate) and sampled to `frame_rate` (default
  30: every frame). The bundle has no frame encoder and gesture_input "landmarks". Landmark
  features are cheap to compute, so they are not cached. Evaluation: top-1 at the last frame.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from framescribe.models.training.dataset_recipe_steps import (
    Evaluation,
    FrozenEncoder,
    by_split,
    frozen_encoder,
    require_training_items,
    split_counts,
    training_manifest,
    video_features,
)
from framescribe.models.training.dataset_recipes import ISLR_FRAME_RATE

if TYPE_CHECKING:
    from framescribe.models.training.dataset_recipes import DatasetTrainingOptions


@dataclass(frozen=True, eq=False)
class SignStream:
    """One training/evaluation stream: features (T, D), frame labels (T,) (-1 = idle), the
    label, and the index of the sign's last frame (where whole-clip classification reads)."""

    features: np.ndarray
    frame_labels: np.ndarray
    label: int
    last: int


def sign_stream(features, frame_start: int, frame_end: int | None, label: int,
                context: int) -> SignStream:
    """The stream of one WLASL clip from its video's VideoFeatures.

    frame_start/frame_end: 0-based source frames, end exclusive (None: to the end); a range
    between two sampled frames takes the sampled frame nearest its middle. context: idle
    sampled frames kept each side. ValueError when the range starts after the last sampled
    frame.
    """
    source = features.source_frames
    if frame_start > source[-1]:
        raise ValueError(f"frame range [{frame_start}, {frame_end}) starts after the video's "
                         f"last sampled frame {int(source[-1])}")
    inside = source >= frame_start
    if frame_end is not None:
        inside &= source < frame_end
    if not inside.any():
        inside[int(np.argmin(np.abs(source - (frame_start + frame_end - 1) / 2)))] = True
    first, last = np.flatnonzero(inside)[[0, -1]]
    low, high = max(0, first - context), min(len(source), last + 1 + context)
    labels = np.where(inside, label, -1)[low:high].astype(np.int64)
    return SignStream(features.features[low:high], labels, label, int(last - low))


def gesture_evaluation(pipeline, streams: Sequence[SignStream]) -> dict:
    """Top-1/top-5/macro F1 of the prediction at each stream's last sign frame."""
    from framescribe.models.evaluation.evaluation import top_k_gestures
    from framescribe.models.evaluation.gesture_metrics import classification_metrics

    last = np.stack([pipeline.gesture_probabilities(s.features[None])[0, s.last]
                     for s in streams])
    metrics = classification_metrics([s.label for s in streams], top_k_gestures(last),
                                     len(pipeline.labels))
    return {**metrics, "split": "test", "labels": list(pipeline.labels)}


def _train_gesture_bundle(options: DatasetTrainingOptions, streams: Sequence[SignStream],
                          labels: Sequence[str], training: dict, started: float, *,
                          frame_rate: float, encoder=None) -> None:
    """Train the classifier on streams and write the bundle (landmark input when encoder is
    None). training: the manifest's training record, completed here."""
    from framescribe.models.bundle.bundle_writer import save_bundle
    from framescribe.models.training.gesture_training import (
        build_gesture_classifier,
        train_gesture_classifier,
    )
    from framescribe.models.training.training_recipes import _log

    classifier = build_gesture_classifier(len(labels), streams[0].features.shape[-1],
                                          options.gestures)
    _log(f"training the {options.gestures.cell} gesture classifier on {len(streams)} "
         f"streams, {len(labels)} labels", started)
    stage = time.time()
    history = train_gesture_classifier(classifier, [s.features for s in streams],
                                       [s.frame_labels for s in streams], options.gestures,
                                       verbose=options.verbose)
    training = {**training, "history": history,
                "timings": {**training["timings"],
                            "gesture_classifier_s": round(time.time() - stage, 1)}}
    landmarks = encoder is None
    manifest = training_manifest(options, frame_rate, options.segment_frames, training,
                                 gesture_input="landmarks" if landmarks else "frames",
                                 with_encoder=not landmarks)
    save_bundle(options.output, manifest, encoder=encoder, gesture_classifier=classifier,
                labels=tuple(labels))


def train_wlasl(options: DatasetTrainingOptions, started: float) -> Evaluation:
    from framescribe.models.data.wlasl_dataset import load_wlasl
    from framescribe.models.training.training_recipes import _log

    dataset = load_wlasl(options.data)
    train, test = by_split(dataset.clips, "train"), by_split(dataset.clips, "test")
    require_training_items(train, dataset.source, "clips with a video")
    _log(f"wlasl {dataset.source}: {split_counts(dataset.clips)} clips, "
         f"{len(dataset.labels)} glosses, {dataset.missing_videos} without a video", started)
    encoder = frozen_encoder(options, started)
    rate = options.frame_rate or encoder.frame_rate
    stage = time.time()
    streams = _wlasl_streams(train, dataset, encoder, rate, options, "train", started)
    test_streams = _wlasl_streams(test, dataset, encoder, rate, options, "test", started)
    dataset_record = {"format": "wlasl", "path": str(options.data),
                      "annotations": str(dataset.source),
                      "clips": split_counts(dataset.clips),
                      "missing_videos": dataset.missing_videos}
    training = {**encoder.record(), "dataset": dataset_record,
                "timings": {"features_s": round(time.time() - stage, 1)}}
    _train_gesture_bundle(options, streams, dataset.labels, training, started,
                          frame_rate=rate, encoder=encoder.model)
    if not test_streams:
        return None
    return lambda pipeline: gesture_evaluation(pipeline, test_streams)


def _wlasl_streams(clips, dataset, encoder: FrozenEncoder, frame_rate: float,
                   options: DatasetTrainingOptions, split: str,
                   started: float) -> list[SignStream]:
    from framescribe.models.data.dataset_errors import DatasetError

    features = video_features([c.path for c in clips], encoder, frame_rate, options, split,
                              started)
    context = round(options.sign_context_s * frame_rate)
    streams = []
    for clip, video in zip(clips, features, strict=True):
        try:
            streams.append(sign_stream(video, clip.frame_start, clip.frame_end,
                                       dataset.label_id(clip.gloss), context))
        except ValueError as error:
            raise DatasetError(f"{dataset.source}: instance {clip.video_id!r} of "
                               f"{clip.gloss!r} ({clip.path}): {error}") from None
    return streams


def islr_sequence_features(path, frame_rate: float = ISLR_FRAME_RATE) -> np.ndarray:
    """One ISLR parquet -> landmark features (frames, LANDMARK_FEATURE_DIM), its frames taken
    as ISLR_FRAME_RATE and sampled to ``frame_rate`` as the pipeline samples landmarks."""
    from framescribe.models.data.islr_landmarks import read_landmarks
    from framescribe.models.inference.landmark_features import landmark_features
    from framescribe.models.video import TimedFrame, sample_frames

    landmarks = read_landmarks(path)
    frames = (TimedFrame(i / ISLR_FRAME_RATE, i) for i in range(len(landmarks)))
    keep = [frame.image for frame in sample_frames(frames, frame_rate)]
    return landmark_features(landmarks[keep])


def _islr_streams(clips, dataset, frame_rate: float) -> list[SignStream]:
    streams = []
    for clip in clips:
        features = islr_sequence_features(clip.path, frame_rate)
        label = dataset.label_id(clip.sign)
        streams.append(SignStream(features, np.full(len(features), label, np.int64), label,
                                  len(features) - 1))
    return streams


def train_islr(options: DatasetTrainingOptions, started: float) -> Evaluation:
    from framescribe.models.data.islr_dataset import load_islr
    from framescribe.models.training.training_recipes import _log

    dataset = load_islr(options.data)
    train, test = by_split(dataset.clips, "train"), by_split(dataset.clips, "test")
    require_training_items(train, dataset.source, "sequences")
    _log(f"islr {dataset.source}: {split_counts(dataset.clips)} sequences, "
         f"{len(dataset.labels)} signs, {dataset.missing_videos} without a landmark file",
         started)
    rate = options.frame_rate or ISLR_FRAME_RATE
    stage = time.time()
    streams, test_streams = _islr_streams(train, dataset, rate), _islr_streams(test, dataset, rate)
    _log(f"landmark features of {len(streams)} training and {len(test_streams)} test "
         f"sequences ({time.time() - stage:.1f}s)", started)
    dataset_record = {"format": "islr", "path": str(options.data),
                      "annotations": str(dataset.source),
                      "sequences": split_counts(dataset.clips),
                      "missing_files": dataset.missing_videos}
    training = {"encoder_from": None, "dataset": dataset_record,
                "timings": {"features_s": round(time.time() - stage, 1)}}
    _train_gesture_bundle(options, streams, dataset.labels, training, started,
                          frame_rate=rate)
    if not test_streams:
        return None
    return lambda pipeline: gesture_evaluation(pipeline, test_streams)

