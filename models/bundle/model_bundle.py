"""Transitional: the bundle API's old import path, for the callers not yet moved.

The bundle code lives in bundle_manifest.py (manifest types, reading, checks), bundle_writer.py
(save_bundle, update_metrics) and bundle_loader.py (runtimes and the encoder). Only the names
still imported from here are re-exported, by models/inference/pipeline.py, plugin/cli.py,
plugin/batch_job.py and tests/conftest.py; delete this module once they import from those.
"""

from framescribe.models.bundle.bundle_loader import (
    load_litert_runtime,
    load_tensorflow_runtime,
)
from framescribe.models.bundle.bundle_manifest import (
    BundleManifest,
    ModelEntry,
    file_sha256,
    load_labels,
    load_vocabulary,
    read_manifest,
)
from framescribe.models.bundle.bundle_writer import save_bundle, update_metrics

__all__ = [
    "BundleManifest",
    "ModelEntry",
    "file_sha256",
    "load_labels",
    "load_litert_runtime",
    "load_tensorflow_runtime",
    "load_vocabulary",
    "read_manifest",
    "save_bundle",
    "update_metrics",
]
