"""Loading a bundle's models: TensorFlow/Keras or LiteRT runtimes, or just its frame encoder.

Each checks the manifest first (bundle_manifest.read_manifest) and reports every problem as a
BundleError naming the file. The TensorFlow loaders set TensorFlow up for the host first
(tf_setup.configure_tensorflow: GPU memory growth, before any op); the LiteRT loader imports
neither.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from framescribe.models.bundle.bundle_manifest import (
    LITERT_SOURCES,
    MANIFEST,
    BundleError,
    BundleManifest,
    ModelEntry,
    read_manifest,
)


def load_tensorflow_runtime(directory: str | os.PathLike):
    """(manifest, TensorFlowRuntime) for the bundle; BundleError naming the bad file."""
    from framescribe.models.networks.caption_decoder import CaptionDecoder
    from framescribe.models.networks.frame_encoder import FrameEncoder
    from framescribe.models.networks.gesture_classifier import GestureClassifier
    from framescribe.models.runtimes.tf_runtime import TensorFlowRuntime
    from framescribe.models.runtimes.tf_setup import configure_tensorflow

    directory = Path(directory)
    manifest = read_manifest(directory)
    configure_tensorflow()
    encoder = decoder = classifier = None
    if manifest.encoder is not None:
        encoder = _load_model(directory, manifest.encoder, FrameEncoder)
    if manifest.caption_decoder is not None:
        decoder = _load_model(directory, manifest.caption_decoder, CaptionDecoder)
    if manifest.gesture_classifier is not None:
        classifier = _load_model(directory, manifest.gesture_classifier, GestureClassifier)
    _check_input_widths(directory, manifest, encoder.output_dim if encoder else None)
    return manifest, TensorFlowRuntime(encoder, decoder, classifier)


def load_encoder(directory: str | os.PathLike):
    """The bundle's FrameEncoder with its weights (e.g. to reuse it frozen for training)."""
    from framescribe.models.networks.frame_encoder import FrameEncoder
    from framescribe.models.runtimes.tf_setup import configure_tensorflow

    directory = Path(directory)
    manifest = read_manifest(directory)
    configure_tensorflow()
    if manifest.encoder is None:
        raise BundleError(f"{directory / MANIFEST}: has no frame encoder (a landmark-gesture "
                          "bundle)")
    return _load_model(directory, manifest.encoder, FrameEncoder)


def _check_input_widths(directory: Path, manifest: BundleManifest, feature_dim: int | None):
    """Each head must read what feeds it: the encoder's features or the landmark features."""
    from framescribe.models.inference.landmark_feature_sets import feature_dim as landmark_dim

    gesture_source = (landmark_dim(manifest.landmark_features),
                      f"the {manifest.landmark_features} landmark features give") \
        if manifest.gesture_input == "landmarks" else (feature_dim, "the encoder gives")
    for entry, key, (width, source) in (
            (manifest.caption_decoder, "feature_dim", (feature_dim, "the encoder gives")),
            (manifest.gesture_classifier, "input_dim", gesture_source)):
        if entry is not None and entry.config.get(key) != width:
            raise BundleError(f"{directory / MANIFEST}: {entry.file} expects "
                              f"{key}={entry.config.get(key)}, {source} {width}")


def _load_model(directory: Path, entry: ModelEntry, model_class):
    file = directory / entry.file
    try:
        model = model_class(**entry.config)
    except (TypeError, ValueError) as error:
        raise BundleError(f"{directory / MANIFEST}: bad config for {entry.file}: {error}") from None
    try:
        model.load_weights(file)
    except Exception as error:  # h5py/keras raise many types for corrupt or mismatched files
        message = str(error).splitlines()[0][:200]
        raise BundleError(f"{file}: cannot load weights ({message})") from None
    return model


def load_litert_runtime(directory: str | os.PathLike, threads: int | None = None,
                        roles: Sequence[str] | None = None):
    """(manifest, LiteRTRuntime) for the bundle, without importing TensorFlow. threads: per
    interpreter (None: litert_runtime.default_threads()). roles: load only these models (e.g.
    ("encoder",) for an encoder worker); None: all the bundle has."""
    from framescribe.models.runtimes.litert_runtime import LiteRTRuntime

    directory = Path(directory)
    manifest = read_manifest(directory)
    export = manifest.litert
    hint = f"create them with `framescribe export --bundle {directory}`"
    if export is None:
        raise BundleError(f"{directory / MANIFEST}: the bundle has no LiteRT files; {hint}")
    needed = ["encoder"] if manifest.encoder is not None else []
    if manifest.caption_decoder is not None:
        needed += ["caption_init", "caption_step"]
    if manifest.gesture_classifier is not None:
        needed.append("gesture_step")
    for role in needed:
        model = export.models.get(role)
        if model is None:
            raise BundleError(f"{directory / MANIFEST}: no LiteRT file for the {role}; {hint}")
        source = getattr(manifest, LITERT_SOURCES[role])
        if model.source_sha256 and source.sha256 and model.source_sha256 != source.sha256:
            raise BundleError(f"{directory / model.file}: stale (exported from other "
                              f"{source.file} weights); {hint}")
    if roles is not None:
        needed = [role for role in needed if role in roles]
    files = {role: directory / export.models[role].file for role in needed}
    return manifest, LiteRTRuntime(files, manifest, threads)
