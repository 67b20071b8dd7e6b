"""Bundle manifests: what `manifest.json` holds, reading it back and checking the files.

Layout of a bundle directory: `manifest.json` (format version, models with their configs, files
and SHA-256 sums, input size, frame rate, vocabulary and label files, training config, metrics)
plus the Keras weight files, vocabulary.txt and gesture_labels.txt. Reading the manifest needs
no TensorFlow (bundle_loader.py builds the models, bundle_writer.py writes bundles). Every
problem is reported as a BundleError that names the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framescribe.models.inference.landmark_feature_sets import DEFAULT_FEATURE_SET, FEATURE_SETS
from framescribe.models.networks.caption_vocabulary import CaptionVocabulary

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ENCODER_FILE = "frame_encoder.weights.h5"
DECODER_FILE = "caption_decoder.weights.h5"
CLASSIFIER_FILE = "gesture_classifier.weights.h5"
VOCABULARY_FILE = "vocabulary.txt"
LABELS_FILE = "gesture_labels.txt"
GESTURE_INPUTS = ("frames", "landmarks")  # what the gesture classifier reads per frame
LITERT_DIR = "litert"
# role -> (file name in LITERT_DIR, signature name); the roles the LiteRT runtime calls.
LITERT_FILES = {
    "encoder": ("frame_encoder.tflite", "encode"),
    "caption_init": ("caption_init.tflite", "caption_init"),
    "caption_step": ("caption_step.tflite", "caption_step"),
    "gesture_step": ("gesture_step.tflite", "gesture_step"),
}
# Which Keras model each LiteRT file was exported from (to detect stale exports).
LITERT_SOURCES = {"encoder": "encoder", "caption_init": "caption_decoder",
                  "caption_step": "caption_decoder", "gesture_step": "gesture_classifier"}


class BundleError(ValueError):
    """A bundle is missing a file, or a file is corrupt or does not match the manifest."""


@dataclass(frozen=True)
class ModelEntry:
    """One model of a bundle: its weights file, constructor config and version."""

    file: str
    config: dict[str, Any]
    version: str = "1"
    sha256: str = ""


@dataclass(frozen=True)
class LiteRTModel:
    """One exported LiteRT file. source_sha256: the Keras weights it was exported from."""

    file: str
    signature: str
    sha256: str
    source_sha256: str
    quantized: bool = False  # int8 dynamic-range weights


@dataclass(frozen=True)
class LiteRTExport:
    """The manifest's `litert` section: files by role, how they were made, their accuracy."""

    models: dict[str, LiteRTModel]
    quantization: str = "none"
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)  # batch-1 ms, float32 vs int8


@dataclass(frozen=True)
class BundleManifest:
    name: str
    version: str
    frame_rate: float  # frames per second the models were trained at
    caption_segment_frames: int  # frames per caption segment
    encoder: ModelEntry | None  # None only for a landmark-gesture bundle without captions
    caption_decoder: ModelEntry | None = None
    gesture_classifier: ModelEntry | None = None
    caption_max_length: int = 20
    gesture_event_options: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    litert: LiteRTExport | None = None
    # "frames": gestures from the encoder's image features; "landmarks": from client-computed
    # hand/pose landmarks (ISLR layout, see landmark_features.py).
    gesture_input: str = "frames"
    # With gesture_input "landmarks": the per-frame feature function the classifier reads, by
    # name (landmark_feature_sets.py; manifests without the key mean the default).
    landmark_features: str = DEFAULT_FEATURE_SET
    format_version: int = FORMAT_VERSION

    @property
    def input_size(self) -> int:
        """Encoder input side in pixels (0: the bundle reads no images)."""
        return int(self.encoder.config["input_size"]) if self.encoder else 0

    @property
    def backbone(self) -> str:
        return str(self.encoder.config["backbone"]) if self.encoder else "none"

    def to_json(self) -> dict[str, Any]:
        def entry(e: ModelEntry | None):
            return None if e is None else e.__dict__.copy()

        return {
            "format_version": self.format_version,
            "name": self.name,
            "version": self.version,
            "frame_rate": self.frame_rate,
            "input_size": self.input_size,
            "backbone": self.backbone,
            "caption_segment_frames": self.caption_segment_frames,
            "caption_max_length": self.caption_max_length,
            "vocabulary_file": VOCABULARY_FILE if self.caption_decoder else None,
            "labels_file": LABELS_FILE if self.gesture_classifier else None,
            "encoder": entry(self.encoder),
            "caption_decoder": entry(self.caption_decoder),
            "gesture_classifier": entry(self.gesture_classifier),
            "gesture_input": self.gesture_input,
            **({"landmark_features": self.landmark_features}
               if self.gesture_input == "landmarks" else {}),
            "gesture_event_options": self.gesture_event_options,
            "training": self.training,
            "metrics": self.metrics,
            "litert": None if self.litert is None else {
                "quantization": self.litert.quantization,
                "models": {role: m.__dict__.copy() for role, m in self.litert.models.items()},
                "metrics": self.litert.metrics,
                "timings": self.litert.timings,
            },
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(raw: Any, key: str, path: Path) -> ModelEntry | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict) or "file" not in raw:
        raise BundleError(f"{path}: '{key}' must be an object with 'file' and 'config'")
    return ModelEntry(
        file=str(raw["file"]),
        config=raw["config"],
        version=str(raw.get("version", "1")),
        sha256=str(raw.get("sha256", "")),
    )


def _litert_section(raw: Any, path: Path) -> LiteRTExport | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), dict):
        raise BundleError(f"{path}: 'litert' must be an object with 'models'")
    models = {}
    for role, entry in raw["models"].items():
        if role not in LITERT_FILES:
            raise BundleError(f"{path}: unknown LiteRT role {role!r} "
                              f"(expected {', '.join(LITERT_FILES)})")
        if not isinstance(entry, dict) or "file" not in entry:
            raise BundleError(f"{path}: litert model {role!r} needs a 'file'")
        models[role] = LiteRTModel(
            file=str(entry["file"]), signature=str(entry.get("signature", LITERT_FILES[role][1])),
            sha256=str(entry.get("sha256", "")), source_sha256=str(entry.get("source_sha256", "")),
            quantized=bool(entry.get("quantized", False)))
    return LiteRTExport(models, str(raw.get("quantization", "none")),
                        dict(raw.get("metrics") or {}), dict(raw.get("timings") or {}))


def read_manifest(directory: str | os.PathLike) -> BundleManifest:
    """Parse and check manifest.json; BundleError naming the file on any problem."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise BundleError(f"bundle directory not found: {directory}")
    if not path.is_file():
        raise BundleError(f"{path}: missing (not a model bundle?)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(raw, dict):
        raise BundleError(f"{path}: expected a JSON object")
    if raw.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path}: format_version {raw.get('format_version')!r} is not supported "
            f"(this framescribe reads {FORMAT_VERSION})"
        )
    try:
        manifest = BundleManifest(
            name=str(raw["name"]),
            version=str(raw["version"]),
            frame_rate=float(raw["frame_rate"]),
            caption_segment_frames=int(raw["caption_segment_frames"]),
            encoder=_entry(raw.get("encoder"), "encoder", path),
            caption_decoder=_entry(raw.get("caption_decoder"), "caption_decoder", path),
            gesture_classifier=_entry(raw.get("gesture_classifier"), "gesture_classifier", path),
            caption_max_length=int(raw.get("caption_max_length", 20)),
            gesture_event_options=dict(raw.get("gesture_event_options") or {}),
            training=dict(raw.get("training") or {}),
            metrics=dict(raw.get("metrics") or {}),
            litert=_litert_section(raw.get("litert"), path),
            gesture_input=str(raw.get("gesture_input", "frames")),
            landmark_features=str(raw.get("landmark_features", DEFAULT_FEATURE_SET)),
        )
    except KeyError as error:
        raise BundleError(f"{path}: missing required key {error}") from None
    except (TypeError, ValueError) as error:
        raise BundleError(f"{path}: bad value ({error})") from None
    if manifest.gesture_input not in GESTURE_INPUTS:
        raise BundleError(f"{path}: gesture_input must be one of {', '.join(GESTURE_INPUTS)}, "
                          f"got {manifest.gesture_input!r}")
    if manifest.landmark_features not in FEATURE_SETS:
        raise BundleError(f"{path}: landmark_features must be one of {', '.join(FEATURE_SETS)}, "
                          f"got {manifest.landmark_features!r}")
    if manifest.encoder is None and (manifest.caption_decoder is not None
                                     or manifest.gesture_input == "frames"):
        raise BundleError(f"{path}: 'encoder' is required (only a landmark-gesture bundle "
                          "without captions has none)")
    if manifest.caption_decoder is None and manifest.gesture_classifier is None:
        raise BundleError(f"{path}: needs a caption_decoder, a gesture_classifier, or both")
    if manifest.frame_rate <= 0 or manifest.caption_segment_frames < 1:
        raise BundleError(f"{path}: frame_rate and caption_segment_frames must be positive")
    _check_files(directory, manifest)
    return manifest


def _check_files(directory: Path, manifest: BundleManifest) -> None:
    for entry in (manifest.encoder, manifest.caption_decoder, manifest.gesture_classifier):
        if entry is None:
            continue
        file = directory / entry.file
        if not file.is_file():
            raise BundleError(f"{file}: missing (listed in {MANIFEST})")
        if entry.sha256 and file_sha256(file) != entry.sha256:
            raise BundleError(f"{file}: corrupt (SHA-256 differs from {MANIFEST})")
    if manifest.litert is not None:
        for model in manifest.litert.models.values():
            file = directory / model.file
            if not file.is_file():
                raise BundleError(f"{file}: missing (listed in {MANIFEST}); recreate the LiteRT "
                                  f"files with `framescribe export --bundle {directory}`")
            if model.sha256 and file_sha256(file) != model.sha256:
                raise BundleError(f"{file}: corrupt (SHA-256 differs from {MANIFEST})")
    if manifest.caption_decoder is not None:
        _check_count(directory / VOCABULARY_FILE, len(load_vocabulary(directory)), "words",
                     manifest.caption_decoder, "vocabulary_size", "caption decoder")
    if manifest.gesture_classifier is not None:
        _check_count(directory / LABELS_FILE, len(load_labels(directory)), "labels",
                     manifest.gesture_classifier, "num_labels", "gesture classifier")


def _check_count(path: Path, count: int, what: str, entry: ModelEntry, key: str,
                 model: str) -> None:
    expected = entry.config.get(key)
    if count != expected:
        raise BundleError(f"{path}: has {count} {what}, the {model} expects {expected}")


def load_vocabulary(directory: str | os.PathLike) -> CaptionVocabulary:
    path = Path(directory) / VOCABULARY_FILE
    if not path.is_file():
        raise BundleError(f"{path}: missing")
    try:
        return CaptionVocabulary.load(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(str(error)) from None


def load_labels(directory: str | os.PathLike) -> tuple[str, ...]:
    path = Path(directory) / LABELS_FILE
    if not path.is_file():
        raise BundleError(f"{path}: missing")
    try:
        labels = tuple(line.strip() for line in path.read_text("utf-8").splitlines())
    except UnicodeDecodeError as error:
        raise BundleError(f"{path}: not UTF-8 text ({error})") from None
    labels = tuple(label for label in labels if label)
    if len(set(labels)) != len(labels):
        raise BundleError(f"{path}: duplicate labels")
    return labels
