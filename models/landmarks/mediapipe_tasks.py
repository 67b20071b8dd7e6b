"""The MediaPipe Tasks model files the landmark stage runs: built here, pinned, cached.

MediaPipe 1.2.x (the Tasks API we run) ships no models, and fetching Google's .task files is
not an option offline. PyPI's mediapipe 0.10.14 wheel does carry MediaPipe's own TFLite models
(it cannot share our environment: it pins protobuf < 5), so its wheel is downloaded with pip,
read as a zip, and its models are packed into the two .task files (zips of TFLite files) the
Tasks landmarkers load:

- hand_landmarker.task: palm_detection_full + hand_landmark_full, as they are.
- holistic_landmarker.task: pose_detection, pose_landmark_full, face_detection_short_range,
  face_landmark, hand_landmark_full and holistic_landmark/hand_recrop, with two fixes:
  pose_landmark_full and hand_recrop get the input normalisation metadata the Tasks graphs need
  (0-1 input, as the 0.10.14 graphs feed them), and face_landmark's 468 points are gathered to
  the 478 the Tasks face graph reads (468-477, the iris points this model lacks, are copies of
  eye-contour points, so the landmarks' hull, from which the next frame's face is cropped, stays
  the 468 points' own; Kaggle ISLR's face is points 0-467).

The wheel and each .task are pinned by SHA-256 (checked after download and after building).
Everything lives in ``cache_dir("mediapipe")`` ($FRAMESCRIBE_CACHE_DIR, default
~/.cache/framescribe). Build (idempotent; `make setup` runs it):

    python -m framescribe.models.landmarks.mediapipe_tasks
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framescribe.models.bundle.bundle_manifest import file_sha256
from framescribe.models.cache_dir import CACHE_ENV, cache_dir
from framescribe.models.landmarks.mediapipe_import import MEDIAPIPE_VERSION

BUILD_COMMAND = "python -m framescribe.models.landmarks.mediapipe_tasks"
LEGACY_VERSION = "0.10.14"
WHEEL_NAME = (f"mediapipe-{LEGACY_VERSION}-cp311-cp311-manylinux_2_17_x86_64."
              "manylinux2014_x86_64.whl")
WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"
PIP_DOWNLOAD = ("-m", "pip", "download", f"mediapipe=={LEGACY_VERSION}", "--no-deps",
                "--only-binary=:all:", "--python-version", "3.11", "--platform",
                "manylinux_2_17_x86_64", "--disable-pip-version-check", "--quiet")
ZIP_ALIGNMENT = 64  # bytes: members start aligned, stored uncompressed, as MediaPipe's own
ZIP_DATE = (2024, 5, 8, 0, 0, 0)  # the wheel's date: fixed, so a build gives the same bytes
ALIGNMENT_EXTRA_ID = 0xD935  # zip extra field id of zipalign-style padding
FACE_POINTS = 468  # face_landmark (0.10.14): 468 x 3 values
# Copies for the 10 iris points (468-477) of the 478-point topology the Tasks face graph reads:
# eye-contour points (right eye 33, 133, 159, 145; left eye 263, 362, 386, 374).
IRIS_STAND_INS = (159, 33, 159, 133, 145, 386, 362, 386, 263, 374)


class TaskFilesMissing(FileNotFoundError):
    """A MediaPipe .task file is not built yet; the message names the command that builds it."""


def face_gather_indices() -> np.ndarray:
    """(1434,) value indices: the 1404 values of 468 points, then the iris stand-ins' x, y, z."""
    points = np.concatenate([np.arange(FACE_POINTS), IRIS_STAND_INS])
    return (points[:, None] * 3 + np.arange(3)).reshape(-1).astype(np.int32)


def _normalized_0_1(data: bytes, name: str) -> bytes:
    from framescribe.models.landmarks.tflite_model_edits import with_image_normalization

    return with_image_normalization(data, mean=0.0, std=255.0, description=name)


def _face_478(data: bytes, name: str) -> bytes:
    from framescribe.models.landmarks.tflite_model_edits import with_gathered_output

    return with_gathered_output(data, 0, face_gather_indices(), description=name)


Edit = Callable[[bytes, str], bytes]


@dataclass(frozen=True)
class TaskMember:
    name: str  # inside the .task (the name the Tasks graph looks up)
    source: str  # inside the 0.10.14 wheel
    edit: Edit | None = None


@dataclass(frozen=True)
class TaskSpec:
    file_name: str
    members: tuple[TaskMember, ...]
    sha256: str


MODULES = "mediapipe/modules/"
TASKS: dict[str, TaskSpec] = {
    "hands": TaskSpec("hand_landmarker.task", (
        TaskMember("hand_detector.tflite", MODULES + "palm_detection/palm_detection_full.tflite"),
        TaskMember("hand_landmarks_detector.tflite",
                   MODULES + "hand_landmark/hand_landmark_full.tflite"),
    ), "53b0c27fde5e83d6e7c0dd16121bdba80244fcac175912b58c0de2f600bc108c"),
    "holistic": TaskSpec("holistic_landmarker.task", (
        TaskMember("pose_detector.tflite", MODULES + "pose_detection/pose_detection.tflite"),
        TaskMember("pose_landmarks_detector.tflite",
                   MODULES + "pose_landmark/pose_landmark_full.tflite", _normalized_0_1),
        TaskMember("face_detector.tflite",
                   MODULES + "face_detection/face_detection_short_range.tflite"),
        TaskMember("face_landmarks_detector.tflite", MODULES + "face_landmark/face_landmark.tflite",
                   _face_478),
        TaskMember("hand_landmarks_detector.tflite",
                   MODULES + "hand_landmark/hand_landmark_full.tflite"),
        TaskMember("hand_roi_refinement.tflite", MODULES + "holistic_landmark/hand_recrop.tflite",
                   _normalized_0_1),
    ), "196f4a9a9fcab89d94513d940baf74df586655d16b264c41c531cadb3060b64a"),
}
KINDS = tuple(TASKS)


def mediapipe_cache_dir() -> Path:
    return cache_dir("mediapipe")


def task_path(kind: str) -> Path:
    """The built .task file of `kind` ("hands" or "holistic"); TaskFilesMissing if not built."""
    if kind not in TASKS:
        raise ValueError(f"unknown landmark kind {kind!r} (expected one of {', '.join(KINDS)})")
    path = mediapipe_cache_dir() / TASKS[kind].file_name
    if not path.is_file():
        raise TaskFilesMissing(
            f"{path}: MediaPipe model file not built (cache: ${CACHE_ENV} or "
            f"~/.cache/framescribe); build it with `{BUILD_COMMAND}` (part of `make setup`)")
    return path


def _check_sha256(path: Path, expected: str, what: str) -> None:
    actual = file_sha256(path)
    if actual != expected:
        raise RuntimeError(f"{path}: SHA-256 {actual} does not match the pinned {expected} "
                           f"({what}); delete it and run `{BUILD_COMMAND}` again")


def legacy_wheel(log: Callable[[str], None] = lambda line: None) -> Path:
    """The mediapipe 0.10.14 wheel in the cache, downloaded with pip if missing, SHA-checked."""
    folder = mediapipe_cache_dir()
    path = folder / WHEEL_NAME
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        log(f"downloading {WHEEL_NAME} with pip")
        with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as temporary:
            result = subprocess.run([sys.executable, *PIP_DOWNLOAD, "-d", temporary],
                                    capture_output=True, text=True)
            downloaded = Path(temporary) / WHEEL_NAME
            if result.returncode != 0 or not downloaded.is_file():
                detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
                raise RuntimeError(f"pip could not download mediapipe=={LEGACY_VERSION} "
                                   f"({detail[0]}); a package index must be reachable")
            _check_sha256(downloaded, WHEEL_SHA256, f"mediapipe {LEGACY_VERSION} wheel")
            os.replace(downloaded, path)
    _check_sha256(path, WHEEL_SHA256, f"mediapipe {LEGACY_VERSION} wheel")
    return path


def task_bytes(spec: TaskSpec, wheel: zipfile.ZipFile) -> bytes:
    """The .task file of `spec`: its members from the wheel, edited, in one aligned zip."""
    import io

    members = []
    for member in spec.members:
        data = wheel.read(member.source)
        members.append((member.name, member.edit(data, member.name) if member.edit else data))
    out = io.BytesIO()
    write_aligned_zip(out, members)
    return out.getvalue()


def write_aligned_zip(out, members: list[tuple[str, bytes]]) -> None:
    """Stored (uncompressed) members whose data start at multiples of ZIP_ALIGNMENT bytes, with
    fixed dates and modes: the same members give the same bytes."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            header_end = out.tell() + 30 + len(name.encode("utf-8")) + 4  # + the extra's header
            padding = -header_end % ZIP_ALIGNMENT
            info.extra = (ALIGNMENT_EXTRA_ID.to_bytes(2, "little") + padding.to_bytes(2, "little")
                          + bytes(padding))
            archive.writestr(info, data)


def build_task(kind: str, log: Callable[[str], None] = lambda line: None) -> Path:
    """Build (or keep, when it matches its pin) the .task file of `kind`; its path."""
    spec = TASKS[kind]
    folder = mediapipe_cache_dir()
    path = folder / spec.file_name
    if path.is_file() and file_sha256(path) == spec.sha256:
        log(f"{path}: up to date")
        return path
    with zipfile.ZipFile(legacy_wheel(log)) as wheel:
        data = task_bytes(spec, wheel)
    built = hashlib.sha256(data).hexdigest()
    if built != spec.sha256:
        raise RuntimeError(
            f"building {spec.file_name} gave SHA-256 {built}, not the pinned {spec.sha256}: "
            f"the TFLite edits depend on mediapipe=={MEDIAPIPE_VERSION}'s generated code and "
            "flatbuffers 25.x (what `make setup` installs)")
    temporary = folder / f".{spec.file_name}.{secrets.token_hex(6)}.tmp"
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    log(f"{path}: built")
    return path


def build_all(log: Callable[[str], None] = lambda line: None) -> dict[str, Path]:
    return {kind: build_task(kind, log) for kind in KINDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m framescribe.models.landmarks.mediapipe_tasks",
        description="Build the MediaPipe Tasks model files of the landmark stage "
                    "(hand_landmarker.task, holistic_landmarker.task) from the models in PyPI's "
                    f"mediapipe {LEGACY_VERSION} wheel (downloaded with pip), check them against "
                    f"their pinned SHA-256 and keep them in ${CACHE_ENV}/mediapipe (default "
                    "~/.cache/framescribe/mediapipe). Files already there and matching are kept. "
                    "Prints each file's path.")
    parser.parse_args(argv)
    try:
        paths = build_all(log=lambda line: print(line, file=sys.stderr))
    except (OSError, ImportError, RuntimeError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
