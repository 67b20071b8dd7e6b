"""(frames, 543, 3) landmarks -> one parquet file in Kaggle ISLR's exact schema (the inverse of
islr_landmarks.read_landmarks, which reads these files and Kaggle's own).

Columns, in Kaggle's order and types: frame (int16), row_id (string "<frame>-<type>-<index>",
e.g. "20-face-0"), type (string: face, left_hand, pose, right_hand), landmark_index (int16),
x, y, z (float64; a missing landmark's are null, which pandas reads as NaN, as pandas wrote
Kaggle's files). Rows go frame by frame, each frame's 543
landmarks in ISLR_PARTS order (face 0-467, left_hand 0-20, pose 0-32, right_hand 0-20): every
landmark of every frame has a row, found or not, as in Kaggle's files.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from framescribe.models.data.islr_layout import ISLR_LANDMARKS, ISLR_PARTS

ISLR_SCHEMA = pa.schema([
    ("frame", pa.int16()),
    ("row_id", pa.string()),
    ("type", pa.string()),
    ("landmark_index", pa.int16()),
    ("x", pa.float64()),
    ("y", pa.float64()),
    ("z", pa.float64()),
])
MAX_FRAME_NUMBER = np.iinfo(np.int16).max  # the schema's frame column is int16


def _frame_layout() -> tuple[list[str], np.ndarray]:
    """The type and landmark_index of each of one frame's 543 rows."""
    types: list[str] = []
    indices: list[int] = []
    for name, (start, stop) in ISLR_PARTS.items():
        types += [name] * (stop - start)
        indices += range(stop - start)
    return types, np.asarray(indices, np.int16)


def islr_landmark_table(landmarks: np.ndarray, frame_numbers=None) -> pa.Table:
    """The Kaggle ISLR table of `landmarks` ((frames, 543, 3), NaN = missing), its frame column
    `frame_numbers` (default 0, 1, 2...; increasing, 0-32767). ValueError on a wrong shape or
    frame numbers the int16 column cannot hold."""
    landmarks = np.asarray(landmarks)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (ISLR_LANDMARKS, 3):
        raise ValueError(f"landmarks must be (frames, {ISLR_LANDMARKS}, 3), got shape "
                         f"{landmarks.shape}")
    count = len(landmarks)
    numbers = np.arange(count) if frame_numbers is None else np.asarray(frame_numbers)
    if numbers.shape != (count,):
        raise ValueError(f"{count} frames of landmarks but {numbers.shape} frame numbers")
    if count and (numbers.min() < 0 or numbers.max() > MAX_FRAME_NUMBER):
        raise ValueError(f"frame numbers must be 0-{MAX_FRAME_NUMBER} (Kaggle ISLR's frame "
                         f"column is int16), got {int(numbers.min())}-{int(numbers.max())}: "
                         "cut the video into shorter clips")
    if count > 1 and not (np.diff(numbers) > 0).all():
        raise ValueError("frame numbers must increase")
    types, indices = _frame_layout()
    frame_column = np.repeat(numbers.astype(np.int16), ISLR_LANDMARKS)
    type_column = types * count
    index_column = np.tile(indices, count)
    row_ids = [f"{f}-{t}-{i}" for f, t, i in
               zip(frame_column.tolist(), type_column, index_column.tolist(), strict=True)]
    rows = landmarks.reshape(-1, 3).astype(np.float64)
    return pa.Table.from_arrays([
        pa.array(frame_column, pa.int16()),
        pa.array(row_ids, pa.string()),
        pa.array(type_column, pa.string()),
        pa.array(index_column, pa.int16()),
        *(pa.array(rows[:, axis], pa.float64(), from_pandas=True) for axis in range(3)),
    ], schema=ISLR_SCHEMA)


def islr_parquet_bytes(landmarks: np.ndarray, frame_numbers=None) -> bytes:
    """The parquet file (bytes) of islr_landmark_table(landmarks, frame_numbers)."""
    sink = pa.BufferOutputStream()
    pq.write_table(islr_landmark_table(landmarks, frame_numbers), sink)
    return sink.getvalue().to_pybytes()
