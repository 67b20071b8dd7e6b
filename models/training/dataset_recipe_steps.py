"""The steps every dataset recipe shares: the frozen encoder reused from a bundle, cached
per-video features, the bundle manifest and the split bookkeeping."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from framescribe.models.training.dataset_recipes import DEMO_BUNDLE

if TYPE_CHECKING:
    from framescribe.models.training.dataset_recipes import DatasetTrainingOptions

PROGRESS_EVERY = 100  # videos between progress lines

Evaluation = Callable[[object], dict] | None  # pipeline -> metrics; None: empty test split


@dataclass(frozen=True)
class FrozenEncoder:
    """The reused encoder: model, runtime.encode, and what identifies it in the cache."""

    model: object  # FrameEncoder
    encode: Callable[[np.ndarray], np.ndarray]  # uint8 (n, size, size, 3) -> (n, D)
    bundle: Path
    identity: str  # backbone, input size and weights SHA-256
    frame_rate: float  # the bundle's
    input_size: int


def frozen_encoder(options: DatasetTrainingOptions, started: float) -> FrozenEncoder:
    from framescribe.models.bundle.bundle_loader import load_encoder
    from framescribe.models.bundle.bundle_manifest import file_sha256, read_manifest
    from framescribe.models.runtimes.tf_runtime import TensorFlowRuntime
    from framescribe.models.training.training_recipes import _log

    bundle = Path(options.encoder_from) if options.encoder_from else DEMO_BUNDLE
    model = load_encoder(bundle)
    _log(f"reusing the encoder of {bundle} (frozen)", started)
    manifest = read_manifest(bundle)
    digest = manifest.encoder.sha256 or file_sha256(bundle / manifest.encoder.file)
    return FrozenEncoder(model, TensorFlowRuntime(model, None, None).encode, bundle,
                         f"{manifest.backbone}-{manifest.input_size}-{digest}",
                         manifest.frame_rate, manifest.input_size)


def video_features(paths: Sequence[Path], encoder: FrozenEncoder, frame_rate: float,
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


def training_manifest(options: DatasetTrainingOptions, frame_rate: float, segment_frames: int,
                      training: dict, gesture_input: str = "frames", with_encoder: bool = True):
    from framescribe.models.bundle.bundle_manifest import BundleManifest, ModelEntry

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


def by_split(items: Sequence, split: str) -> list:
    return [item for item in items if item.split == split]


def split_counts(items: Sequence) -> dict[str, int]:
    return {split: len(by_split(items, split)) for split in ("train", "validation", "test")}


def require_training_items(items: Sequence, source: Path, what: str) -> None:
    from framescribe.models.data.dataset_errors import DatasetError

    if not items:
        raise DatasetError(f"{source}: no {what} in split 'train' (expected at least one)")

