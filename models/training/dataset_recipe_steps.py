"""The steps every dataset recipe shares: the frozen encoder (a fresh one, or a bundle's),
cached per-video features, the bundle manifest and the split bookkeeping."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from framescribe.models.training.dataset_recipes import DatasetTrainingOptions

PROGRESS_EVERY = 100  # videos between progress lines

Evaluation = Callable[[object], dict] | None  # pipeline -> metrics; None: empty test split


@dataclass(frozen=True)
class FrozenEncoder:
    """The frozen encoder: model, runtime.encode, and what identifies it in the cache."""

    model: object  # FrameEncoder
    encode: Callable[[np.ndarray], np.ndarray]  # uint8 (n, size, size, 3) -> (n, D)
    bundle: Path | None  # the bundle it was reused from; None: a fresh encoder
    identity: str  # backbone, input size (pooling) and weights SHA-256
    frame_rate: float  # the bundle's, or DEFAULT_FRAME_RATE for a fresh one
    input_size: int
    source: str = ""  # for the manifest: the bundle, or the backbone and its weights

    def record(self) -> dict:
        """The manifest's training record of where the encoder came from."""
        return {"encoder_from": str(self.bundle) if self.bundle else None,
                "encoder": self.source}


def frozen_encoder(options: DatasetTrainingOptions, started: float) -> FrozenEncoder:
    """options.encoder_from's encoder, or a fresh one (fresh_encoder)."""
    from framescribe.models.bundle.bundle_loader import load_encoder
    from framescribe.models.bundle.bundle_manifest import file_sha256, read_manifest
    from framescribe.models.runtimes.tf_runtime import TensorFlowRuntime
    from framescribe.models.training.encoder_sources import encoder_bundle
    from framescribe.models.training.training_recipes import _log

    if options.encoder_from is None:
        return fresh_encoder(options, started)
    bundle = encoder_bundle(options.encoder_from)
    model = load_encoder(bundle)
    _log(f"reusing the encoder of {bundle} (frozen)", started)
    manifest = read_manifest(bundle)
    digest = manifest.encoder.sha256 or file_sha256(bundle / manifest.encoder.file)
    return FrozenEncoder(model, TensorFlowRuntime(model, None, None).encode, bundle,
                         f"{manifest.backbone}-{manifest.input_size}-{digest}",
                         manifest.frame_rate, manifest.input_size, f"bundle {bundle}")


def fresh_encoder(options: DatasetTrainingOptions, started: float) -> FrozenEncoder:
    """A new FrameEncoder (dataset_recipes.DatasetTrainingOptions: backbone, input_size,
    pooling, backbone_weights / backbone_preset), frozen as it is built."""
    from framescribe.models.networks.frame_encoder import FrameEncoder
    from framescribe.models.runtimes.tf_runtime import TensorFlowRuntime
    from framescribe.models.training.dataset_recipes import (
        DEFAULT_BACKBONE,
        DEFAULT_FRAME_RATE,
        DEFAULT_INPUT_SIZE,
    )
    from framescribe.models.training.encoder_sources import (
        backbone_weights_source,
        default_backbone,
        describe_weights,
    )
    from framescribe.models.training.training_recipes import _log

    backbone = default_backbone(options.backbone, options.backbone_weights,
                                options.backbone_preset, DEFAULT_BACKBONE)
    size = options.input_size or DEFAULT_INPUT_SIZE
    pooling = options.pooling or ("spatial" if backbone == "tiny_cnn" else "avg")
    source = backbone_weights_source(options.backbone_weights, options.backbone_preset)
    model = FrameEncoder(backbone, size, pooling, 256 if pooling == "spatial" else None,
                         backbone_weights=source)
    weights = describe_weights(options.backbone_weights, options.backbone_preset, source)
    _log(f"a fresh {backbone} encoder ({size} px, {pooling} pooling, {model.output_dim} "
         f"features), frozen; backbone weights: {weights}", started)
    if source is None:
        _log("warning: the backbone's weights are random, so its frozen features carry little "
             "about the video: pass pretrained weights (--backbone-weights, --backbone-preset) "
             "for a useful model", started)
    identity = f"{backbone}-{size}-{pooling}-{weights_sha256(model)}"
    return FrozenEncoder(model, TensorFlowRuntime(model, None, None).encode, None, identity,
                         DEFAULT_FRAME_RATE, size, f"fresh {backbone}, {size} px, {pooling} "
                         f"pooling; backbone weights: {weights}")


def weights_sha256(model) -> str:
    """SHA-256 of a model's weights, in order (what a feature cache is keyed by)."""
    import hashlib

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(str(weight.shape).encode())
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


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

