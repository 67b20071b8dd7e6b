"""Kaggle ISLR "asl-signs" on disk: the sequence index, its labels and derived splits.

``<root>/train.csv`` (columns path, participant_id, sequence_id, sign; path relative to root)
lists one landmark parquet per sequence (islr_landmarks.read_landmarks reads them). ISLR has no
split, so one is derived from participants (islr_participant_splits). Label ids come from
``sign_to_prediction_index_map.json`` when present, else from the sorted signs. Problems raise
DatasetError naming the file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from framescribe.models.data.dataset_errors import (
    DatasetError,
    check_split,
    read_json,
    require_type,
)
from framescribe.models.data.sign_datasets import LandmarkClip, SignDataset

ISLR_CSV = "train.csv"
ISLR_LABEL_MAP = "sign_to_prediction_index_map.json"
ISLR_CSV_COLUMNS: tuple[str, ...] = ("path", "participant_id", "sequence_id", "sign")
ISLR_HELDOUT_FRACTION = 0.1  # of participants, for each of validation and test


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
