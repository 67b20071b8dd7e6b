"""WLASL on disk: sign videos with their gloss and frame range.

``WLASL_v0.3.json`` (or the folder's only ``*.json``, or ``root`` is the JSON) is a list of
``{"gloss": "book", "instances": [{"video_id": "69241", "frame_start": 1, "frame_end": -1,
"split": "train"|"val"|"test", ...}]}`` with videos in ``<json folder>/videos/<video_id>.<ext>``.
``frame_start``/``frame_end`` are 1-based and inclusive, ``frame_end`` -1 meaning "to the end";
clips store them 0-based, end exclusive. Real WLASL copies always lack some videos (dead URLs):
those instances are skipped and counted in ``SignDataset.missing_videos``. Labels: the sorted
glosses. Problems raise DatasetError naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from framescribe.models.data.dataset_errors import (
    VIDEO_EXTENSIONS,
    DatasetError,
    check_split,
    read_json,
    require_key,
    require_type,
    video_index,
)
from framescribe.models.data.sign_datasets import SignDataset, SignVideoClip

WLASL_FILE = "WLASL_v0.3.json"
WLASL_SPLITS = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}


def wlasl_annotation_file(root: str | os.PathLike) -> Path:
    """``root`` if it is a file, else ``root/WLASL_v0.3.json`` or the folder's only ``*.json``."""
    root = Path(root)
    if root.is_file():
        return root
    if not root.is_dir():
        raise DatasetError(f"{root}: no such file or folder (expected a WLASL dataset)")
    if (root / WLASL_FILE).is_file():
        return root / WLASL_FILE
    found = sorted(root.glob("*.json"))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise DatasetError(
            f"{root}: cannot tell the WLASL annotation file (expected {WLASL_FILE} or exactly "
            f"one *.json; found {names})"
        )
    return found[0]


def wlasl_glosses(root: str | os.PathLike) -> tuple[str, ...]:
    """All glosses of a WLASL annotation file, sorted: label id = index."""
    path = wlasl_annotation_file(root)
    return tuple(sorted(gloss for gloss, _ in _wlasl_entries(path)))


def load_wlasl(
    root: str | os.PathLike, split: str | None = None, *, videos_trimmed: bool = False
) -> SignDataset[SignVideoClip]:
    """WLASL clips whose video exists, in annotation order, optionally of one split.

    videos_trimmed: set when each video file already holds just its instance (the WLASL
    start kit's preprocess.py cuts YouTube instances to their frame range); every clip then
    spans its whole video instead of the annotated range.
    """
    path = wlasl_annotation_file(root)
    check_split(split, path)
    entries = _wlasl_entries(path)
    labels = tuple(sorted(gloss for gloss, _ in entries))
    wanted = [
        (gloss, instance)
        for gloss, instances in entries
        for instance in instances
        if split is None or instance[3] == split
    ]
    if not wanted:
        in_split = f" in split {split!r}" if split else ""
        raise DatasetError(f"{path}: no instances{in_split} (expected at least one)")
    folder = path.parent / "videos"
    videos = video_index(folder)
    clips = []
    for gloss, (video_id, start, end, clip_split) in wanted:
        if video_id in videos:
            span = (0, None) if videos_trimmed else (start, end)
            clips.append(SignVideoClip(video_id, videos[video_id], gloss, *span, clip_split))
    if not clips:
        raise DatasetError(
            f"{path}: none of the {len(wanted)} instances has a video in {folder} (expected "
            f"<video_id>{{{','.join(VIDEO_EXTENSIONS)}}})"
        )
    return SignDataset(tuple(clips), labels, len(wanted) - len(clips), path)


_Instance = tuple[str, int, "int | None", str]  # video_id, 0-based start, exclusive end, split


def _wlasl_entries(path: Path) -> list[tuple[str, list[_Instance]]]:
    data = read_json(path)
    require_type(
        data, list, f"{path}: the top level", "a list of {'gloss': ..., 'instances': [...]} objects"
    )
    seen: set[str] = set()
    out = []
    for i, entry in enumerate(data):
        where = f"{path}: entry {i}"
        require_type(entry, dict, where, "an object with 'gloss' and 'instances'")
        gloss = require_key(entry, "gloss", where, "a string such as 'book'")
        require_type(gloss, str, f"{where} 'gloss'", "a non-empty string")
        if not gloss.strip():
            raise DatasetError(f"{where} has an empty 'gloss' (expected a non-empty string)")
        if gloss in seen:
            raise DatasetError(f"{where} repeats gloss {gloss!r} (expected each gloss once)")
        seen.add(gloss)
        instances = require_key(entry, "instances", where, "a list of objects")
        require_type(instances, list, f"{where} 'instances'", "a list of objects")
        where = f"{path}: gloss {gloss!r}"
        out.append(
            (gloss, [_wlasl_instance(x, f"{where} instance {k}") for k, x in enumerate(instances)])
        )
    return out


def _wlasl_instance(instance: object, where: str) -> _Instance:
    require_type(instance, dict, where, "an object with video_id, frame_start, frame_end, split")
    video_id = require_key(instance, "video_id", where, "a string such as '69241'")
    require_type(video_id, str, f"{where} 'video_id'", "a string such as '69241'")
    start = require_key(instance, "frame_start", where, "a 1-based frame number")
    require_type(start, int, f"{where} 'frame_start'", "a 1-based frame number")
    end = require_key(instance, "frame_end", where, "a 1-based frame number or -1")
    require_type(end, int, f"{where} 'frame_end'", "a 1-based frame number or -1")
    if start < 1:
        raise DatasetError(f"{where} has frame_start {start} (expected >= 1, frames count from 1)")
    if end != -1 and end < start:
        raise DatasetError(
            f"{where} has frame_end {end} before frame_start {start} (expected -1 or >= start)"
        )
    split = require_key(instance, "split", where, "'train', 'val' or 'test'")
    require_type(split, str, f"{where} 'split'", "'train', 'val' or 'test'")
    if split not in WLASL_SPLITS:
        raise DatasetError(
            f"{where} has unknown split {split!r} (expected 'train', 'val' or 'test')"
        )
    return video_id, start - 1, None if end == -1 else end, WLASL_SPLITS[split]
