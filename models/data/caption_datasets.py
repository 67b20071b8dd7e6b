"""Video captioning datasets on disk: MSVD-style and MSR-VTT annotation JSON plus video files.

Both formats are an annotation JSON next to a ``videos/`` folder holding ``<video_id>.<ext>``
(ext: any of VIDEO_EXTENSIONS). ``root`` is the folder holding the JSON, or the JSON itself.

msvd: ``annotations.json`` = {video_id: {"split": "train"|"validation"|"test",
"captions": [str, ...]}, ...}.

msrvtt: the MSR-VTT layout ``{"videos": [{"video_id": "video0", "split": ..., ...}],
"sentences": [{"video_id": "video0", "caption": "...", ...}]}`` with split "train", "validate"
(or "validation") or "test", in ``annotations.json`` or ``videodatainfo.json``; failing both,
every ``*videodatainfo.json`` in the folder (MSR-VTT ships ``train_val_videodatainfo.json`` and
``test_videodatainfo.json``) is read and merged.

Captions are normalised lightly (whitespace stripped and collapsed); blank ones are dropped and a
video left without captions is an error. Problems raise DatasetError naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
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

FORMATS: tuple[str, ...] = ("msvd", "msrvtt")
SPLIT_NAMES: dict[str, dict[str, str]] = {  # format -> {split value in the file: split}
    "msvd": {"train": "train", "validation": "validation", "test": "test"},
    "msrvtt": {
        "train": "train",
        "validate": "validation",
        "validation": "validation",
        "test": "test",
    },
}
ANNOTATION_NAMES: dict[str, tuple[str, ...]] = {
    "msvd": ("annotations.json",),
    "msrvtt": ("annotations.json", "videodatainfo.json"),
}
MSRVTT_GLOB = "*videodatainfo.json"


@dataclass(frozen=True)
class CaptionVideo:
    """One captioned video: id, file, normalised captions (>= 1) and split (one of SPLITS)."""

    video_id: str
    path: Path
    captions: tuple[str, ...]
    split: str


@dataclass(frozen=True)
class _Annotated:
    """A video as the annotations describe it, before its file is found."""

    video_id: str
    captions: tuple[str, ...]
    split: str
    source: Path  # the annotation file that lists it


def normalize_caption(text: str) -> str:
    """``text`` with surrounding whitespace stripped and inner runs collapsed to one space."""
    return " ".join(text.split())


def load_caption_dataset(
    root: str | os.PathLike, format: str, split: str | None = None
) -> list[CaptionVideo]:
    """The videos of a caption dataset, in annotation order, optionally of one split only.

    format: "msvd" or "msrvtt". split: "train", "validation", "test" or None (all). Raises
    DatasetError for a missing/unreadable/malformed annotation file, a missing video file,
    a video without captions, or no video in the requested split.
    """
    root = Path(root)
    if format not in FORMATS:
        raise DatasetError(
            f"{root}: unknown caption dataset format {format!r} (expected one of "
            f"{', '.join(FORMATS)})"
        )
    check_split(split, root)
    files = annotation_files(root, format)
    parse = _parse_msvd if format == "msvd" else _parse_msrvtt
    annotated = parse(files)
    if not annotated:
        raise DatasetError(f"{files[0]}: no videos (expected at least one annotated video)")
    selected = [a for a in annotated if split is None or a.split == split]
    if not selected:
        raise DatasetError(f"{files[0]}: no videos in split {split!r}")
    videos = video_index(files[0].parent / "videos")
    return [_with_file(a, videos, files[0].parent / "videos") for a in selected]


def annotation_files(root: Path, format: str) -> list[Path]:
    """The annotation JSON file(s) of a dataset at ``root`` (a folder, or the JSON itself)."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DatasetError(f"{root}: no such file or folder (expected a {format} dataset)")
    for name in ANNOTATION_NAMES[format]:
        if (root / name).is_file():
            return [root / name]
    if format == "msrvtt":
        found = sorted(root.glob(MSRVTT_GLOB))
        if found:
            return found
    names = " or ".join(ANNOTATION_NAMES[format])
    extra = f" or {MSRVTT_GLOB}" if format == "msrvtt" else ""
    raise DatasetError(f"{root}: no annotation file (expected {names}{extra})")


def _with_file(annotated: _Annotated, videos: Mapping[str, Path], folder: Path) -> CaptionVideo:
    path = videos.get(annotated.video_id)
    if path is None:
        raise DatasetError(
            f"{annotated.source}: video {annotated.video_id!r} has no file in {folder} "
            f"(expected {annotated.video_id}{{{','.join(VIDEO_EXTENSIONS)}}})"
        )
    return CaptionVideo(annotated.video_id, path, annotated.captions, annotated.split)


def _split(value: object, where: str, format: str) -> str:
    names = SPLIT_NAMES[format]
    expected = "one of " + ", ".join(repr(n) for n in names)
    require_type(value, str, f"{where} 'split'", expected)
    if value not in names:
        raise DatasetError(f"{where} has unknown split {value!r} (expected {expected})")
    return names[value]


def _captions(raw: list[str], source: Path, video_id: str) -> tuple[str, ...]:
    captions = tuple(c for c in (normalize_caption(t) for t in raw) if c)
    if not captions:
        raise DatasetError(
            f"{source}: video {video_id!r} has no captions (expected at least one non-empty "
            "caption)"
        )
    return captions


def _parse_msvd(files: list[Path]) -> list[_Annotated]:
    (path,) = files
    data = read_json(path)
    require_type(
        data,
        dict,
        f"{path}: the top level",
        "an object mapping video id -> {'split': ..., 'captions': [...]}",
    )
    out = []
    for video_id, entry in data.items():
        where = f"{path}: entry {video_id!r}"
        require_type(entry, dict, where, "an object with 'split' and 'captions'")
        split = _split(
            require_key(entry, "split", where, "'train', 'validation' or 'test'"), where, "msvd"
        )
        raw = require_key(entry, "captions", where, "a list of strings")
        require_type(raw, list, f"{where} 'captions'", "a list of strings")
        for i, caption in enumerate(raw):
            require_type(caption, str, f"{where} caption {i}", "a string")
        out.append(_Annotated(video_id, _captions(raw, path, video_id), split, path))
    return out


def _parse_msrvtt(files: list[Path]) -> list[_Annotated]:
    splits: dict[str, tuple[str, Path]] = {}  # video id -> (split, file listing it)
    lists = [(path, *_msrvtt_lists(path)) for path in files]
    for path, videos, _ in lists:
        for i, entry in enumerate(videos):
            video_id, split = _msrvtt_video(entry, f"{path}: videos[{i}]")
            if video_id in splits:
                raise DatasetError(
                    f"{path}: videos[{i}] repeats video_id {video_id!r} (first listed in "
                    f"{splits[video_id][1]}; expected each video once)"
                )
            splits[video_id] = (split, path)
    captions: dict[str, list[str]] = {video_id: [] for video_id in splits}
    for path, _, sentences in lists:
        _collect_sentences(path, sentences, captions)
    return [
        _Annotated(video_id, _captions(captions[video_id], source, video_id), split, source)
        for video_id, (split, source) in splits.items()
    ]


def _msrvtt_lists(path: Path) -> tuple[list, list]:
    data = read_json(path)
    expected = "an object with 'videos' and 'sentences' lists"
    require_type(data, dict, f"{path}: the top level", expected)
    videos = require_key(data, "videos", f"{path}: the top level", expected)
    sentences = require_key(data, "sentences", f"{path}: the top level", expected)
    require_type(videos, list, f"{path}: 'videos'", "a list of objects")
    require_type(sentences, list, f"{path}: 'sentences'", "a list of objects")
    return videos, sentences


def _msrvtt_video(entry: object, where: str) -> tuple[str, str]:
    require_type(entry, dict, where, "an object with 'video_id' and 'split'")
    video_id = require_key(entry, "video_id", where, "a string such as 'video0'")
    require_type(video_id, str, f"{where} 'video_id'", "a string such as 'video0'")
    split = require_key(entry, "split", where, "'train', 'validate' or 'test'")
    return video_id, _split(split, where, "msrvtt")


def _collect_sentences(path: Path, sentences: list, captions: dict[str, list[str]]) -> None:
    for i, entry in enumerate(sentences):
        where = f"{path}: sentences[{i}]"
        require_type(entry, dict, where, "an object with 'video_id' and 'caption'")
        video_id = require_key(entry, "video_id", where, "a string such as 'video0'")
        require_type(video_id, str, f"{where} 'video_id'", "a string such as 'video0'")
        caption = require_key(entry, "caption", where, "a string")
        require_type(caption, str, f"{where} 'caption'", "a string")
        if video_id not in captions:
            raise DatasetError(
                f"{where} refers to video {video_id!r}, which 'videos' does not list "
                "(expected every sentence's video_id in 'videos')"
            )
        captions[video_id].append(caption)
