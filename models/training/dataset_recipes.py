"""Training on datasets on disk: MSVD / MSR-VTT captions, WLASL / ISLR signs -> a bundle.

One recipe per format, all ending the way the benchmark recipe (training_recipes.py) does:
`save_bundle`, `export_litert`, then the test split is evaluated through the bundle's Pipeline
and recorded with `update_metrics` under "<format>:test" (skipped, with a log line, when the
test split is empty). Test features are computed before training, so a broken test file fails
the run early. The validation split is only counted (the head trainers take no validation data).

Video formats (msvd, msrvtt, wlasl) reuse the frame encoder of an existing bundle, frozen
(`encoder_from`, default the shipped demo bundle): these datasets have no per-frame labels to
pretrain one. Each video is read, sampled to `frame_rate` and encoded once; its features are
cached in `cache_dir` (video_features_cache.py), so a second run (another head, other epochs)
skips the encoder entirely.

- msvd / msrvtt: a training example is one (video, caption) pair whose input is the centred
  window of `segment_frames` consecutive sampled frames of the video (a shorter video is padded
  by repeating its last frame). The bundle's caption_segment_frames is that window: on a long
  video the pipeline then captions consecutive windows of that length, one caption each (a tail
  under half a window joins the previous one). Captions longer than `captions.max_length` words
  (or with no word) are skipped and counted. Vocabulary: the training captions' words.
  Evaluation: beam search (beam 3) on each test video's centred window, scored with
  `caption_metrics` against all of its references.
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

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from framescribe.models.training.caption_training import CaptionTrainingOptions
from framescribe.models.training.gesture_training import GestureTrainingOptions

CAPTION_FORMATS: tuple[str, ...] = ("msvd", "msrvtt")
GESTURE_FORMATS: tuple[str, ...] = ("wlasl", "islr")
FORMAT_TASKS: dict[str, str] = {**dict.fromkeys(CAPTION_FORMATS, "captions"),
                                **dict.fromkeys(GESTURE_FORMATS, "gestures")}
TASK_FORMATS: dict[str, tuple[str, ...]] = {"captions": CAPTION_FORMATS,
                                            "gestures": GESTURE_FORMATS}
DEMO_BUNDLE = Path(__file__).resolve().parent / "bundles" / "demo"  # the default encoder
ISLR_FRAME_RATE = 30.0  # frames per second of the Kaggle ISLR landmark sequences
DEFAULT_SEGMENT_FRAMES = 16
EVAL_BEAM_SIZE = 3
PROGRESS_EVERY = 100  # videos between progress lines


@dataclass(frozen=True)
class DatasetTrainingOptions:
    """What to train on and how. See the module docstring for what each format trains.

    data: the dataset folder (or its annotation file); format: one of FORMAT_TASKS.
    task: "captions" or "gestures" when the caller asked for one (checked against format).
    name: bundle name (default: the output folder's name).
    encoder_from: bundle whose frame encoder is reused, frozen (default DEMO_BUNDLE); must be
        None for islr, which reads landmarks.
    frame_rate: frames per second the videos are sampled to (default: the encoder bundle's;
        islr: ISLR_FRAME_RATE, and at most that).
    segment_frames: caption window length, sampled frames (2-1024).
    sign_context_s: wlasl: idle seconds kept each side of a sign (bounds the stream length on
        long untrimmed videos).
    cache_dir: where per-video frame features are cached.
    """

    data: str
    format: str
    output: str
    task: str | None = None
    name: str | None = None
    encoder_from: str | None = None
    frame_rate: float | None = None
    segment_frames: int = DEFAULT_SEGMENT_FRAMES
    sign_context_s: float = 2.0
    cache_dir: str = ".cache/features"
    # reverse_time is off: a real video played backwards is not what its caption says.
    captions: CaptionTrainingOptions = field(
        default_factory=lambda: CaptionTrainingOptions(reverse_time=False))
    gestures: GestureTrainingOptions = field(default_factory=GestureTrainingOptions)
    evaluate: bool = True
    seed: int = 0
    verbose: int = 2

    def __post_init__(self):
        problem = format_problem(self.task, self.format)
        if problem:
            raise ValueError(problem)
        if self.frame_rate is not None and not 0 < self.frame_rate < float("inf"):
            raise ValueError(f"frame_rate must be a positive number of frames per second, "
                             f"got {self.frame_rate}")
        if self.format == "islr" and self.frame_rate is not None \
                and self.frame_rate > ISLR_FRAME_RATE:
            raise ValueError(f"frame_rate {self.frame_rate} is above the {ISLR_FRAME_RATE:g} fps "
                             "ISLR sequences are captured at")
        if self.format == "islr" and self.encoder_from is not None:
            raise ValueError("islr bundles read hand/pose landmarks and have no frame encoder; "
                             "drop encoder_from (--encoder-from)")
        if not 2 <= self.segment_frames <= 1024:
            raise ValueError(f"segment_frames must be 2-1024, got {self.segment_frames}")
        if not self.sign_context_s >= 0:
            raise ValueError(f"sign_context_s must be >= 0 seconds, got {self.sign_context_s}")


def format_problem(task: str | None, format: str) -> str | None:
    """Why ``format`` cannot train ``task`` (None: it can; task None: any known format)."""
    if format not in FORMAT_TASKS:
        return f"unknown dataset format {format!r} (expected one of {', '.join(FORMAT_TASKS)})"
    if task is None or FORMAT_TASKS[format] == task:
        return None
    if task not in TASK_FORMATS:
        return f"unknown task {task!r} (expected captions or gestures)"
    return (f"format {format!r} is a {FORMAT_TASKS[format]} dataset; {task} train on "
            f"{' or '.join(TASK_FORMATS[task])}")


def train_from_dataset(options: DatasetTrainingOptions) -> dict:
    """Train, write, export and evaluate a bundle; returns its final manifest as JSON."""
    import keras

    from framescribe.models.data.dataset_errors import DatasetError
    from framescribe.models.runtimes.litert_export import export_litert
    from framescribe.models.training.training_recipes import _log

    if not Path(options.data).exists():
        raise DatasetError(f"{options.data}: no such file or folder (expected a "
                           f"{options.format} dataset)")
    started = time.time()
    keras.utils.set_random_seed(options.seed)
    recipe = {"msvd": _train_captions, "msrvtt": _train_captions, "wlasl": _train_wlasl,
              "islr": _train_islr}[options.format]
    evaluation = recipe(options, started)
    _log(f"wrote the bundle {options.output}", started)
    export_litert(options.output, log=lambda line: _log(f"LiteRT {line}", started))
    if options.evaluate:
        _evaluate_and_record(options, evaluation, started)
    return json.loads((Path(options.output) / "manifest.json").read_text("utf-8"))


# -- shared ---------------------------------------------------------------------------------
Evaluation = Callable[[object], dict] | None  # pipeline -> metrics; None: empty test split


@dataclass(frozen=True)
class _FrozenEncoder:
    """The reused encoder: model, runtime.encode, and what identifies it in the cache."""

    model: object  # FrameEncoder
    encode: Callable[[np.ndarray], np.ndarray]  # uint8 (n, size, size, 3) -> (n, D)
    bundle: Path
    identity: str  # backbone, input size and weights SHA-256
    frame_rate: float  # the bundle's
    input_size: int


def _frozen_encoder(options: DatasetTrainingOptions, started: float) -> _FrozenEncoder:
    from framescribe.models.bundle.model_bundle import file_sha256, load_encoder, read_manifest
    from framescribe.models.runtimes.tf_runtime import TensorFlowRuntime
    from framescribe.models.training.training_recipes import _log

    bundle = Path(options.encoder_from) if options.encoder_from else DEMO_BUNDLE
    model = load_encoder(bundle)
    _log(f"reusing the encoder of {bundle} (frozen)", started)
    manifest = read_manifest(bundle)
    digest = manifest.encoder.sha256 or file_sha256(bundle / manifest.encoder.file)
    return _FrozenEncoder(model, TensorFlowRuntime(model, None, None).encode, bundle,
                          f"{manifest.backbone}-{manifest.input_size}-{digest}",
                          manifest.frame_rate, manifest.input_size)


def _video_features(paths: Sequence[Path], encoder: _FrozenEncoder, frame_rate: float,
                    options: DatasetTrainingOptions, what: str, started: float) -> list:
    """VideoFeatures of each video (cached), logging progress and cache hits."""
    from framescribe.models.data.video_features_cache import cached_video_features
    from framescribe.models.training.training_recipes import _log

    encoded = [0]  # frames the encoder really ran on (a cache hit encodes none)

    def encode(frames: np.ndarray) -> np.ndarray:
        encoded[0] += len(frames)
        return encoder.encode(frames)

    out, hits, stage = [], 0, time.time()
    for i, path in enumerate(paths):
        before = encoded[0]
        out.append(cached_video_features(path, encode, frame_rate=frame_rate,
                                         input_size=encoder.input_size,
                                         cache_dir=options.cache_dir,
                                         encoder_id=encoder.identity))
        hits += encoded[0] == before
        if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == len(paths):
            _log(f"{what}: features of {i + 1}/{len(paths)} videos ({hits} from the cache, "
                 f"{encoded[0]} frames encoded, {time.time() - stage:.1f}s)", started)
    return out


def _manifest(options: DatasetTrainingOptions, frame_rate: float, segment_frames: int,
              training: dict, gesture_input: str = "frames", with_encoder: bool = True):
    from framescribe.models.bundle.model_bundle import BundleManifest, ModelEntry

    return BundleManifest(
        name=options.name or Path(options.output).name,
        version="1",
        frame_rate=frame_rate,
        caption_segment_frames=segment_frames,
        encoder=ModelEntry(file="", config={}) if with_encoder else None,  # save_bundle fills
        caption_max_length=options.captions.max_length,
        training={"options": asdict(options), **training},
        gesture_input=gesture_input,
    )


def _evaluate_and_record(options: DatasetTrainingOptions, evaluation: Evaluation,
                         started: float) -> None:
    from framescribe.models.bundle.model_bundle import update_metrics
    from framescribe.models.inference.pipeline import Pipeline
    from framescribe.models.training.training_recipes import _log

    key = f"{options.format}:test"
    if evaluation is None:
        _log(f"{key}: the test split is empty, evaluation skipped", started)
        return
    metrics = evaluation(Pipeline.from_bundle(options.output))
    update_metrics(options.output, key, metrics)
    summary = {k: metrics[k] for k in ("count", "bleu4", "cider", "meteor", "exact_match",
                                        "top1", "top5") if k in metrics}
    _log(f"{key}: {summary}", started)


def _by_split(items: Sequence, split: str) -> list:
    return [item for item in items if item.split == split]


def _split_counts(items: Sequence) -> dict[str, int]:
    return {split: len(_by_split(items, split)) for split in ("train", "validation", "test")}


def _require_training_items(items: Sequence, source: Path, what: str) -> None:
    from framescribe.models.data.dataset_errors import DatasetError

    if not items:
        raise DatasetError(f"{source}: no {what} in split 'train' (expected at least one)")


# -- captions -------------------------------------------------------------------------------
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


def _train_captions(options: DatasetTrainingOptions, started: float) -> Evaluation:
    from framescribe.models.bundle.model_bundle import save_bundle
    from framescribe.models.data.caption_datasets import annotation_files, load_caption_dataset
    from framescribe.models.networks.caption_vocabulary import CaptionVocabulary
    from framescribe.models.training.caption_training import (
        build_caption_decoder,
        train_caption_decoder,
    )
    from framescribe.models.training.training_recipes import _log

    videos = load_caption_dataset(options.data, options.format)
    source = annotation_files(Path(options.data), options.format)[0]
    train, test = _by_split(videos, "train"), _by_split(videos, "test")
    _require_training_items(train, source, "videos")
    _log(f"{options.format} {source}: {_split_counts(videos)} videos", started)
    encoder = _frozen_encoder(options, started)
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
               "annotations": str(source), "videos": _split_counts(videos),
               "training_pairs": len(texts), "skipped_captions": skipped}
    training = {"encoder_from": str(encoder.bundle), "dataset": dataset,
                "history": history, "timings": timings}
    save_bundle(options.output, _manifest(options, rate, options.segment_frames, training),
                encoder=encoder.model, caption_decoder=decoder, vocabulary=vocabulary)
    if test_windows is None:
        return None
    return lambda pipeline: caption_evaluation(pipeline, test_windows,
                                               [v.captions for v in test])


def _caption_windows(videos, encoder: _FrozenEncoder, frame_rate: float,
                     options: DatasetTrainingOptions, split: str, started: float) -> np.ndarray:
    """(videos, segment_frames, D) float32: each video's centred window of features."""
    features = _video_features([v.path for v in videos], encoder, frame_rate, options, split,
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


# -- gestures -------------------------------------------------------------------------------
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
    from framescribe.models.bundle.model_bundle import save_bundle
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
    manifest = _manifest(options, frame_rate, options.segment_frames, training,
                         gesture_input="landmarks" if landmarks else "frames",
                         with_encoder=not landmarks)
    save_bundle(options.output, manifest, encoder=encoder, gesture_classifier=classifier,
                labels=tuple(labels))


def _train_wlasl(options: DatasetTrainingOptions, started: float) -> Evaluation:
    from framescribe.models.data.sign_datasets import load_wlasl
    from framescribe.models.training.training_recipes import _log

    dataset = load_wlasl(options.data)
    train, test = _by_split(dataset.clips, "train"), _by_split(dataset.clips, "test")
    _require_training_items(train, dataset.source, "clips with a video")
    _log(f"wlasl {dataset.source}: {_split_counts(dataset.clips)} clips, "
         f"{len(dataset.labels)} glosses, {dataset.missing_videos} without a video", started)
    encoder = _frozen_encoder(options, started)
    rate = options.frame_rate or encoder.frame_rate
    stage = time.time()
    streams = _wlasl_streams(train, dataset, encoder, rate, options, "train", started)
    test_streams = _wlasl_streams(test, dataset, encoder, rate, options, "test", started)
    dataset_record = {"format": "wlasl", "path": str(options.data),
                      "annotations": str(dataset.source),
                      "clips": _split_counts(dataset.clips),
                      "missing_videos": dataset.missing_videos}
    training = {"encoder_from": str(encoder.bundle), "dataset": dataset_record,
                "timings": {"features_s": round(time.time() - stage, 1)}}
    _train_gesture_bundle(options, streams, dataset.labels, training, started,
                          frame_rate=rate, encoder=encoder.model)
    if not test_streams:
        return None
    return lambda pipeline: gesture_evaluation(pipeline, test_streams)


def _wlasl_streams(clips, dataset, encoder: _FrozenEncoder, frame_rate: float,
                   options: DatasetTrainingOptions, split: str,
                   started: float) -> list[SignStream]:
    from framescribe.models.data.dataset_errors import DatasetError

    features = _video_features([c.path for c in clips], encoder, frame_rate, options, split,
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
    from framescribe.models.data.sign_datasets import read_landmarks
    from framescribe.models.inference.landmark_features import landmark_features
    from framescribe.models.inference.video_frames import TimedFrame, sample_frames

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


def _train_islr(options: DatasetTrainingOptions, started: float) -> Evaluation:
    from framescribe.models.data.sign_datasets import load_islr
    from framescribe.models.training.training_recipes import _log

    dataset = load_islr(options.data)
    train, test = _by_split(dataset.clips, "train"), _by_split(dataset.clips, "test")
    _require_training_items(train, dataset.source, "sequences")
    _log(f"islr {dataset.source}: {_split_counts(dataset.clips)} sequences, "
         f"{len(dataset.labels)} signs, {dataset.missing_videos} without a landmark file",
         started)
    rate = options.frame_rate or ISLR_FRAME_RATE
    stage = time.time()
    streams, test_streams = _islr_streams(train, dataset, rate), _islr_streams(test, dataset, rate)
    _log(f"landmark features of {len(streams)} training and {len(test_streams)} test "
         f"sequences ({time.time() - stage:.1f}s)", started)
    dataset_record = {"format": "islr", "path": str(options.data),
                      "annotations": str(dataset.source),
                      "sequences": _split_counts(dataset.clips),
                      "missing_files": dataset.missing_videos}
    training = {"encoder_from": None, "dataset": dataset_record,
                "timings": {"features_s": round(time.time() - stage, 1)}}
    _train_gesture_bundle(options, streams, dataset.labels, training, started,
                          frame_rate=rate)
    if not test_streams:
        return None
    return lambda pipeline: gesture_evaluation(pipeline, test_streams)

