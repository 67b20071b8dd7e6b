"""Caption recipes (msvd / msrvtt): a frozen encoder's features -> a trained caption decoder.

A training example is one (video, caption) pair whose input is the centred window of
`segment_frames` consecutive sampled frames of the video (a shorter video is padded by
repeating its last frame). The bundle's caption_segment_frames is that window: on a long video
the pipeline then captions consecutive windows of that length, one caption each (a tail under
half a window joins the previous one). Captions longer than `captions.max_length` words (or
with no word) are skipped and counted. Vocabulary: the training captions' words. Evaluation:
beam search (beam 3) on each test video's centred window, scored with `caption_metrics`
against all of its references.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
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

if TYPE_CHECKING:
    from framescribe.models.training.dataset_recipes import DatasetTrainingOptions

EVAL_BEAM_SIZE = 3


def centred_window(features: np.ndarray, length: int) -> np.ndarray:
    """features (n >= 1, D) -> (length, D): the middle ``length`` frames, or all of them
    followed by copies of the last one when n < length."""
    if len(features) >= length:
        start = (len(features) - length) // 2
        return features[start:start + length]
    padding = np.repeat(features[-1:], length - len(features), axis=0)
    return np.concatenate([features, padding])


def usable_captions(captions: Sequence[str], max_length: int) -> list[str]:
    """The captions with 1 to ``max_length`` words (the decoder's limit, <end> not counted)."""
    from framescribe.models.networks.caption_vocabulary import tokenize

    return [c for c in captions if 1 <= len(tokenize(c)) <= max_length]


def caption_pairs(windows: np.ndarray, captions: Sequence[Sequence[str]], max_length: int,
                  source: Path) -> tuple[np.ndarray, list[str], int]:
    """One example per (video, usable caption): (features (pairs, frames, D), texts, number of
    captions skipped for length). A DatasetError naming ``source`` when none is usable."""
    from framescribe.models.data.dataset_errors import DatasetError

    usable = [usable_captions(texts, max_length) for texts in captions]
    skipped = sum(map(len, captions)) - sum(map(len, usable))
    if not any(usable):
        raise DatasetError(f"{source}: no training caption has 1-{max_length} words (expected "
                           "some; raise captions.max_length)")
    features = np.repeat(windows, [len(texts) for texts in usable], axis=0)
    return features, [text for texts in usable for text in texts], skipped


def train_captions(options: DatasetTrainingOptions, started: float) -> Evaluation:
    from framescribe.models.bundle.bundle_writer import save_bundle
    from framescribe.models.data.caption_datasets import annotation_files, load_caption_dataset
    from framescribe.models.networks.caption_vocabulary import CaptionVocabulary
    from framescribe.models.training.caption_training import (
        build_caption_decoder,
        train_caption_decoder,
    )
    from framescribe.models.training.training_recipes import _log

    videos = load_caption_dataset(options.data, options.format)
    source = annotation_files(Path(options.data), options.format)[0]
    train, test = by_split(videos, "train"), by_split(videos, "test")
    require_training_items(train, source, "videos")
    _log(f"{options.format} {source}: {split_counts(videos)} videos", started)
    encoder = frozen_encoder(options, started)
    rate = options.frame_rate or encoder.frame_rate
    stage = time.time()
    windows = _caption_windows(train, encoder, rate, options, "train", started)
    # Test features now: a broken test video fails the run before the training, not after.
    test_windows = _caption_windows(test, encoder, rate, options, "test", started) if test \
        else None
    features, texts, skipped = caption_pairs(windows, [v.captions for v in train],
                                             options.captions.max_length, source)
    vocabulary = CaptionVocabulary.from_captions(texts)
    timings = {"features_s": round(time.time() - stage, 1)}
    _log(f"training the caption decoder on {len(texts)} (video, caption) pairs, "
         f"{len(vocabulary)} words ({skipped} captions over "
         f"{options.captions.max_length} words or empty skipped)", started)
    decoder = build_caption_decoder(vocabulary, features.shape[-1], options.captions,
                                    keypoint_tracks=encoder.model.keypoint_count)
    stage = time.time()
    history = train_caption_decoder(decoder, vocabulary, features, texts, options.captions,
                                    verbose=options.verbose)
    timings["caption_decoder_s"] = round(time.time() - stage, 1)
    dataset = {"format": options.format, "path": str(options.data),
               "annotations": str(source), "videos": split_counts(videos),
               "training_pairs": len(texts), "skipped_captions": skipped}
    training = {**encoder.record(), "dataset": dataset,
                "history": history, "timings": timings}
    save_bundle(options.output, training_manifest(options, rate, options.segment_frames, training),
                encoder=encoder.model, caption_decoder=decoder, vocabulary=vocabulary)
    if test_windows is None:
        return None
    return lambda pipeline: caption_evaluation(pipeline, test_windows,
                                               [v.captions for v in test])


def _caption_windows(videos, encoder: FrozenEncoder, frame_rate: float,
                     options: DatasetTrainingOptions, split: str, started: float) -> np.ndarray:
    """(videos, segment_frames, D) float32: each video's centred window of features."""
    features = video_features([v.path for v in videos], encoder, frame_rate, options, split,
                              started)
    return np.stack([centred_window(f.features, options.segment_frames) for f in features])


def caption_evaluation(pipeline, windows: np.ndarray,
                       references: Sequence[Sequence[str]]) -> dict:
    """Beam-search captions of windows (videos, frames, D), scored against each video's
    references (caption_metrics)."""
    from framescribe.models.evaluation.caption_metrics import caption_metrics
    from framescribe.models.evaluation.evaluation import CLIPS_PER_BATCH
    from framescribe.models.inference.caption_search import DecodingOptions

    decoding = DecodingOptions(beam_size=EVAL_BEAM_SIZE,
                               max_length=pipeline.manifest.caption_max_length)
    hypotheses = []
    for start in range(0, len(windows), CLIPS_PER_BATCH):
        batch = windows[start:start + CLIPS_PER_BATCH]
        hypotheses += [text for text, _ in pipeline.caption(batch, decoding)]
    metrics = caption_metrics(hypotheses, [list(r) for r in references])
    metrics["split"] = "test"
    metrics["examples"] = [{"hypothesis": h, "references": list(r)}
                           for h, r in zip(hypotheses[:3], references[:3], strict=True)]
    return metrics

