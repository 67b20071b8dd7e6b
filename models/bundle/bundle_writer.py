"""Writing bundles: the whole directory atomically, and metrics recorded into its manifest."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from framescribe.models.bundle.bundle_manifest import (
    CLASSIFIER_FILE,
    DECODER_FILE,
    ENCODER_FILE,
    LABELS_FILE,
    MANIFEST,
    VOCABULARY_FILE,
    BundleError,
    BundleManifest,
    ModelEntry,
    file_sha256,
    read_manifest,
)
from framescribe.models.networks.caption_vocabulary import CaptionVocabulary


def save_bundle(
    directory: str | os.PathLike,
    manifest: BundleManifest,
    *,
    encoder=None,
    caption_decoder=None,
    vocabulary: CaptionVocabulary | None = None,
    gesture_classifier=None,
    labels: tuple[str, ...] | None = None,
) -> BundleManifest:
    """Write a complete bundle atomically (temp dir, then rename). Returns the final manifest."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    staging.chmod(0o755)
    try:
        entries = {}
        for key, model, file in (
            ("encoder", encoder, ENCODER_FILE),
            ("caption_decoder", caption_decoder, DECODER_FILE),
            ("gesture_classifier", gesture_classifier, CLASSIFIER_FILE),
        ):
            if model is None:
                entries[key] = None
                continue
            _clean_copy(model).save_weights(staging / file)
            old = getattr(manifest, key)
            entries[key] = ModelEntry(
                file=file,
                config=model.get_config(),
                version=old.version if old else "1",
                sha256=file_sha256(staging / file),
            )
        if caption_decoder is not None:
            vocabulary.save(staging / VOCABULARY_FILE)
        if gesture_classifier is not None:
            (staging / LABELS_FILE).write_text("\n".join(labels) + "\n", encoding="utf-8")
        final = replace(manifest, litert=None, **entries)  # export_litert adds fresh files
        (staging / MANIFEST).write_text(json.dumps(final.to_json(), indent=2) + "\n", "utf-8")
        read_manifest(staging)  # never publish a bundle we cannot read back
        if directory.exists():
            backup = directory.with_name(f".{directory.name}-old")
            shutil.rmtree(backup, ignore_errors=True)
            directory.rename(backup)
            staging.rename(directory)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            staging.rename(directory)
        return final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _clean_copy(model):
    """The same weights in a fresh, uncompiled model: a trained model's weights file would
    otherwise also carry its optimizer's slots (3x the size)."""
    clean = model.__class__(**model.get_config())
    clean.set_weights(model.get_weights())
    return clean


def update_metrics(directory: str | os.PathLike, benchmark: str, metrics: dict,
                   runtime: str = "tf") -> None:
    """Record evaluation results for `benchmark` in the bundle's manifest (atomic rewrite).
    runtime "litert" records them in the litert section (its files may be int8)."""
    path = Path(directory) / MANIFEST
    raw = json.loads(path.read_text("utf-8"))
    if runtime == "litert":
        if not raw.get("litert"):
            raise BundleError(f"{path}: has no LiteRT export to record metrics for")
        raw["litert"].setdefault("metrics", {})[benchmark] = metrics
    else:
        raw.setdefault("metrics", {})[benchmark] = metrics
    write_json_atomically(path, raw)


def write_json_atomically(path: Path, data: dict) -> None:
    """Replace a JSON file in one step: readers see the old or the new file, never half."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp",
                                     encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2) + "\n")
    os.chmod(f.name, 0o644)
    os.replace(f.name, path)
