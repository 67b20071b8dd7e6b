"""Sign language datasets on disk: WLASL (videos) and Kaggle ISLR "asl-signs" (landmarks).

WLASL: ``WLASL_v0.3.json`` (or the folder's only ``*.json``, or ``root`` is the JSON) is a list of
``{"gloss": "book", "instances": [{"video_id": "69241", "frame_start": 1, "frame_end": -1,
"split": "train"|"val"|"test", ...}]}`` with videos in ``<json folder>/videos/<video_id>.<ext>``.
``frame_start``/``frame_end`` are 1-based and inclusive, ``frame_end`` -1 meaning "to the end";
clips store them 0-based, end exclusive. Real WLASL copies always lack some videos (dead URLs):
those instances are skipped and counted in ``SignDataset.missing_videos``.

ISLR: ``<root>/train.csv`` (columns path, participant_id, sequence_id, sign; path relative to
root) and one parquet per sequence with rows (frame, row_id, type, landmark_index, x, y, z),
543 landmarks per frame: face, left_hand, pose, right_hand (ISLR_PARTS). ISLR has no split, so
one is derived from participants (islr_participant_splits). Label ids come from
``sign_to_prediction_index_map.json`` when present, else from the sorted signs.

Labels are shared by all splits (computed from the whole annotation file) so ids are stable.
Problems raise DatasetError naming the file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from framescribe.models.data.dataset_errors import (
    VIDEO_EXTENSIONS,
    DatasetError,
    check_split,
    read_json,
    require_key,
    require_type,
    video_index,
)

WLASL_FILE = "WLASL_v0.3.json"
WLASL_SPLITS = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}

ISLR_CSV = "train.csv"
ISLR_LABEL_MAP = "sign_to_prediction_index_map.json"
ISLR_CSV_COLUMNS: tuple[str, ...] = ("path", "participant_id", "sequence_id", "sign")
ISLR_COLUMNS: tuple[str, ...] = ("frame", "type", "landmark_index", "x", "y", "z")  # read ones
ISLR_LANDMARKS = 543  # per frame
ISLR_PARTS: dict[str, tuple[int, int]] = {  # type -> [start, stop) in the 543 landmarks
    "face": (0, 468),
    "left_hand": (468, 489),
    "pose": (489, 522),
    "right_hand": (522, 543),
}
ISLR_HAND_LANDMARKS = 21
ISLR_HELDOUT_FRACTION = 0.1  # of participants, for each of validation and test


@dataclass(frozen=True)
class SignVideoClip:
    """One signed gloss in a video: frames [frame_start, frame_end) (0-based; end None = to the
    end of the video) of ``path``; split is one of SPLITS."""

    video_id: str
    path: Path
    gloss: str
    frame_start: int
    frame_end: int | None
    split: str


@dataclass(frozen=True)
class LandmarkClip:
    """One ISLR sequence: a landmark parquet (read_landmarks), its signer, sign and split."""

    path: Path
    participant_id: int
    sequence_id: int
    sign: str
    split: str


ClipT = TypeVar("ClipT", SignVideoClip, LandmarkClip)


@dataclass(frozen=True)
class SignDataset(Generic[ClipT]):
    """Usable clips, the label names (label id = index) and how many clips were skipped.

    missing_videos: annotated clips of the requested split skipped because their media file
    (video, or landmark parquet for ISLR) does not exist.
    source: the annotation file read.
    """

    clips: tuple[ClipT, ...]
    labels: tuple[str, ...]
    missing_videos: int
    source: Path

    def label_id(self, name: str) -> int:
        """The id of label ``name`` (its index in ``labels``)."""
        try:
            return self.labels.index(name)
        except ValueError:
            raise KeyError(f"{self.source}: unknown label {name!r}") from None


# --- WLASL -------------------------------------------------------------------------------


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


# --- ISLR --------------------------------------------------------------------------------


def islr_participant_splits(participant_ids: Iterable[int]) -> dict[int, str]:
    """A deterministic split per participant: {participant_id: split}.

    Participants are sorted by id. With n >= 3, the last max(1, round(0.1 n)) are "test", the
    max(1, round(0.1 n)) before them "validation", the rest "train" (21 ISLR participants:
    17/2/2). With 2: one train, one test. With 1: train.
    """
    ids = sorted(set(participant_ids))
    n = len(ids)
    held = max(1, round(ISLR_HELDOUT_FRACTION * n)) if n >= 3 else 0
    test = held if n >= 3 else (1 if n == 2 else 0)
    splits = {pid: "train" for pid in ids[: n - test - held]}
    splits.update({pid: "validation" for pid in ids[n - test - held : n - test]})
    splits.update({pid: "test" for pid in ids[n - test :]})
    return splits


def islr_annotation_file(root: str | os.PathLike) -> Path:
    """``root`` if it is a file, else ``root/train.csv``."""
    root = Path(root)
    if root.is_file():
        return root
    path = root / ISLR_CSV
    if not path.is_file():
        raise DatasetError(f"{root}: no {ISLR_CSV} (expected the ISLR asl-signs layout)")
    return path


def load_islr(root: str | os.PathLike, split: str | None = None) -> SignDataset[LandmarkClip]:
    """ISLR sequences whose parquet exists, in CSV order, optionally of one derived split."""
    path = islr_annotation_file(root)
    check_split(split, path)
    rows = _islr_rows(path)
    labels = _islr_labels(path, rows)
    splits = islr_participant_splits(r.participant_id for r in rows)
    wanted = [r for r in rows if split is None or splits[r.participant_id] == split]
    if not wanted:
        raise DatasetError(f"{path}: no sequences in split {split!r} (expected at least one)")
    clips = tuple(
        LandmarkClip(r.path, r.participant_id, r.sequence_id, r.sign, splits[r.participant_id])
        for r in wanted
        if r.path.is_file()
    )
    if not clips:
        raise DatasetError(
            f"{path}: none of the {len(wanted)} landmark files exists (expected parquet files "
            f"at the 'path' column, relative to {path.parent})"
        )
    return SignDataset(clips, labels, len(wanted) - len(clips), path)


@dataclass(frozen=True)
class _IslrRow:
    path: Path
    participant_id: int
    sequence_id: int
    sign: str


def _islr_rows(path: Path) -> list[_IslrRow]:
    try:
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            missing = [c for c in ISLR_CSV_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise DatasetError(
                    f"{path}: missing column(s) {', '.join(missing)} (expected a header with "
                    f"{', '.join(ISLR_CSV_COLUMNS)})"
                )
            rows = [_islr_row(row, path, reader.line_num) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read CSV ({exc})") from None
    if not rows:
        raise DatasetError(f"{path}: no rows (expected one row per landmark sequence)")
    return rows


def _islr_row(row: dict[str, str | None], path: Path, line: int) -> _IslrRow:
    where = f"{path}: line {line}"
    values = {c: (row.get(c) or "").strip() for c in ISLR_CSV_COLUMNS}
    for column in ("path", "sign"):
        if not values[column]:
            raise DatasetError(f"{where} has an empty {column!r} (expected a value)")
    ids = []
    for column in ("participant_id", "sequence_id"):
        try:
            ids.append(int(values[column]))
        except ValueError:
            raise DatasetError(
                f"{where} has {column} {values[column]!r} (expected an integer)"
            ) from None
    return _IslrRow(path.parent / values["path"], ids[0], ids[1], values["sign"])


def _islr_labels(csv_path: Path, rows: list[_IslrRow]) -> tuple[str, ...]:
    map_path = csv_path.parent / ISLR_LABEL_MAP
    if not map_path.is_file():
        return tuple(sorted({r.sign for r in rows}))
    data = read_json(map_path)
    require_type(data, dict, f"{map_path}: the top level", "an object {sign: index}")
    for sign, index in data.items():
        require_type(index, int, f"{map_path}: index of {sign!r}", "an integer")
    if sorted(data.values()) != list(range(len(data))):
        raise DatasetError(
            f"{map_path}: indices are not 0-{len(data) - 1} each once (expected a permutation)"
        )
    for row in rows:
        if row.sign not in data:
            raise DatasetError(
                f"{csv_path}: sign {row.sign!r} (sequence {row.sequence_id}) is not in "
                f"{map_path.name} (expected every sign to have an index)"
            )
    return tuple(sorted(data, key=data.__getitem__))


def read_landmarks(path: str | os.PathLike) -> np.ndarray:
    """One ISLR sequence: (frames, 543, 3) float32 x, y, z, NaN where a landmark is missing.

    Frames are sorted by the ``frame`` column; each row lands at ISLR_PARTS[type][0] +
    landmark_index whatever the row order. x and y are normalised image coordinates (0-1 inside
    the image), z relative depth.
    """
    path = Path(path)
    table = _read_landmark_table(path)
    if table.num_rows == 0:
        raise DatasetError(f"{path}: no rows (expected {ISLR_LANDMARKS} rows per frame)")
    frame = _int_column(table, "frame", path)
    slots = _landmark_slots(table, path)
    xyz = np.stack([_float_column(table, c, path) for c in ("x", "y", "z")], axis=1)
    frame_ids, frame_pos = np.unique(frame, return_inverse=True)
    out = np.full((len(frame_ids), ISLR_LANDMARKS, 3), np.nan, np.float32)
    out[frame_pos.reshape(-1), slots] = xyz
    return out


def _read_landmark_table(path: Path) -> pa.Table:
    try:
        names = pq.read_schema(path).names
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file (expected a landmark parquet file)") from None
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"{path}: not a readable parquet file ({exc})") from None
    missing = [c for c in ISLR_COLUMNS if c not in names]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(ISLR_COLUMNS)})"
        )
    try:
        return pq.read_table(path, columns=list(ISLR_COLUMNS))
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"{path}: not a readable parquet file ({exc})") from None


def _int_column(table: pa.Table, name: str, path: Path) -> np.ndarray:
    column = table.column(name)
    if column.null_count:
        raise DatasetError(f"{path}: column {name!r} has empty values (expected integers)")
    try:
        return pc.cast(column, pa.int64()).to_numpy()
    except pa.ArrowException as exc:
        raise DatasetError(f"{path}: column {name!r} is not integer ({exc})") from None


def _float_column(table: pa.Table, name: str, path: Path) -> np.ndarray:
    try:
        column = pc.cast(table.column(name), pa.float32())
    except pa.ArrowException as exc:
        raise DatasetError(f"{path}: column {name!r} is not numeric ({exc})") from None
    return pc.fill_null(column, np.float32(np.nan)).to_numpy()


def _landmark_slots(table: pa.Table, path: Path) -> np.ndarray:
    """(rows,) int64 position of each row in the 543 landmarks, from (type, landmark_index)."""
    index = _int_column(table, "landmark_index", path)
    try:
        types = pc.dictionary_encode(pc.cast(table.column("type"), pa.string())).combine_chunks()
    except pa.ArrowException as exc:
        raise DatasetError(f"{path}: column 'type' is not text ({exc})") from None
    if types.null_count:
        raise DatasetError(f"{path}: column 'type' has empty values (expected part names)")
    names = types.dictionary.to_pylist()
    unknown = [n for n in names if n not in ISLR_PARTS]
    if unknown:
        raise DatasetError(
            f"{path}: unknown landmark type {unknown[0]!r} (expected one of "
            f"{', '.join(ISLR_PARTS)})"
        )
    codes = types.indices.to_numpy().astype(np.int64)
    starts = np.array([ISLR_PARTS[n][0] for n in names], np.int64)[codes]
    sizes = np.array([ISLR_PARTS[n][1] - ISLR_PARTS[n][0] for n in names], np.int64)[codes]
    bad = np.flatnonzero((index < 0) | (index >= sizes))
    if bad.size:
        row = int(bad[0])
        raise DatasetError(
            f"{path}: row {row} has landmark_index {int(index[row])} for type "
            f"{names[codes[row]]!r} (expected 0-{int(sizes[row]) - 1})"
        )
    return starts + index
