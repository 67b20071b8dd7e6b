"""One ISLR landmark parquet -> a (frames, 543, 3) array.

Each parquet has rows (frame, row_id, type, landmark_index, x, y, z), 543 landmarks per frame:
face, left_hand, pose, right_hand (ISLR_PARTS). Problems raise DatasetError naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from framescribe.models.data.dataset_errors import DatasetError
from framescribe.models.data.sign_datasets import ISLR_LANDMARKS, ISLR_PARTS

ISLR_COLUMNS: tuple[str, ...] = ("frame", "type", "landmark_index", "x", "y", "z")  # read ones


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
