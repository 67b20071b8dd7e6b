"""Shared fixtures: small real models (random weights) saved as a bundle, with LiteRT files."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Benchmarks, experiments and fixtures live under tests/ (not shipped): child processes that
# run them (`python -m benchmarks.naive_server`) find them through PYTHONPATH.
_TESTS = os.path.dirname(os.path.abspath(__file__))
if _TESTS not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_TESTS, os.environ.get("PYTHONPATH")) if p)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A complete bundle with untrained models: real files, real loading. Built once per run
    (~23 s): pytest-xdist workers share it, the first to ask builds it under a lock. Tests
    read it; one that changes a bundle changes a copy."""
    run_folder = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_folder = run_folder.parent  # the run's folder, above each worker's own
    directory = run_folder / "shared-bundles" / "tiny"
    directory.parent.mkdir(exist_ok=True)
    with (directory.parent / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not directory.exists():
            partial = directory.with_name(f"tiny.partial-{os.getpid()}")
            _build_tiny_bundle(partial)
            partial.rename(directory)  # whole or absent: never half-built
    return directory


def _build_tiny_bundle(directory: Path) -> None:
    import keras

    from framescribe.models.bundle.bundle_manifest import BundleManifest, ModelEntry
    from framescribe.models.bundle.bundle_writer import save_bundle
    from framescribe.models.data.lasa_airwriting import gesture_labels
    from framescribe.models.data.moving_digits import MOTIONS
    from framescribe.models.networks.caption_decoder import CaptionDecoder
    from framescribe.models.networks.caption_vocabulary import CaptionVocabulary
    from framescribe.models.networks.frame_encoder import FrameEncoder
    from framescribe.models.networks.gesture_classifier import GestureClassifier
    from framescribe.models.runtimes.litert_export import export_litert

    keras.utils.set_random_seed(0)  # the same untrained weights on every run
    vocabulary = CaptionVocabulary.from_captions(
        [f"digit {d} is {m}" for d in range(10) for m in MOTIONS])
    encoder = FrameEncoder("tiny_cnn", 64, "spatial", 32)  # 32 + 3 * 32 keypoint values = 128
    dim = encoder.output_dim
    decoder = CaptionDecoder(len(vocabulary), dim, units=32, embedding_dim=8, attention_units=16,
                             keypoint_tracks=encoder.keypoint_count)
    labels = gesture_labels()
    classifier = GestureClassifier(len(labels), dim, units=16)
    manifest = BundleManifest(name="tiny", version="1", frame_rate=10.0,
                              caption_segment_frames=16, encoder=ModelEntry("", {}),
                              caption_max_length=8)
    save_bundle(directory, manifest, encoder=encoder, caption_decoder=decoder,
                vocabulary=vocabulary, gesture_classifier=classifier, labels=labels)
    export_litert(directory, log=lambda line: None)


def pytest_collection_modifyitems(items) -> None:
    """Files with slow tests run first (the order is otherwise kept): `make test` spreads
    files over pytest-xdist workers in this order (--dist loadfile --no-loadscope-reorder;
    xdist's own order, most tests first, handed the few-but-long training files out last),
    and a long file handed out last keeps one worker busy after the other has finished."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


# In CI (CI set, as .ci/run does) a skip is a failure: .ci/run installs every tool a test needs,
# so a skip there would only hide a test that never ran. Keep this hook at the end of the file.
def _skip_to_failure(report) -> None:
    if not os.environ.get("CI") or not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    report.outcome = "failed"
    report.longrepr = (f"skipped in CI (CI={os.environ['CI']!r}), where every test must run: "
                       f"{reason} (install what it needs in .ci/run)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _skip_to_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield  # a module-level pytest.importorskip skips the whole file here
    _skip_to_failure(report)
    return report
