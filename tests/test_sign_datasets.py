"""Tests for the WLASL and ISLR sign dataset loaders, read_landmarks and their fixtures."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures.dataset_fixtures import (
    ISLR_SIGNS,
    WLASL_GLOSSES,
    write_islr_fixture,
    write_video,
    write_wlasl_fixture,
)

from framescribe.models.data.dataset_errors import DatasetError
from framescribe.models.data.islr_dataset import islr_participant_splits, load_islr
from framescribe.models.data.islr_landmarks import read_landmarks
from framescribe.models.data.lasa_airwriting_paths import GESTURE_FRAMES
from framescribe.models.data.sign_datasets import (
    ISLR_LANDMARKS,
    ISLR_PARTS,
    LandmarkClip,
    SignVideoClip,
)
from framescribe.models.data.wlasl_dataset import load_wlasl, wlasl_glosses
from framescribe.models.video import read_video

FACE, LEFT, POSE, RIGHT = (
    slice(*ISLR_PARTS[p]) for p in ("face", "left_hand", "pose", "right_hand")
)


@pytest.fixture(scope="module")
def wlasl_root(tmp_path_factory) -> Path:
    return write_wlasl_fixture(tmp_path_factory.mktemp("wlasl"))


@pytest.fixture(scope="module")
def islr_root(tmp_path_factory) -> Path:
    return write_islr_fixture(tmp_path_factory.mktemp("islr"))


def _error(load, *args, **kwargs) -> str:
    with pytest.raises(DatasetError) as info:
        load(*args, **kwargs)
    return str(info.value)


# --- WLASL ---------------------------------------------------------------------------------


def test_wlasl_fixture_loads(wlasl_root) -> None:
    data = load_wlasl(wlasl_root)
    assert data.labels == tuple(sorted(WLASL_GLOSSES)) == wlasl_glosses(wlasl_root)
    assert len(data.clips) == 20 and data.missing_videos == 1
    assert all(isinstance(c, SignVideoClip) and c.path.is_file() for c in data.clips)
    assert Counter(c.split for c in data.clips) == {"train": 12, "validation": 4, "test": 4}
    assert Counter(c.gloss for c in data.clips) == {g: 5 for g in WLASL_GLOSSES}
    assert sum(c.frame_end is None for c in data.clips) == 4  # k % 3 == 2: k = 2 per gloss
    assert data.label_id("Sine") == 2
    assert data.source == wlasl_root / "WLASL_v0.3.json"


def test_wlasl_split_filter_counts_missing_in_that_split(wlasl_root) -> None:
    assert load_wlasl(wlasl_root, "train").missing_videos == 1
    validation = load_wlasl(wlasl_root, "validation")
    assert len(validation.clips) == 4 and validation.missing_videos == 0
    assert validation.labels == tuple(sorted(WLASL_GLOSSES))  # labels never depend on split


def test_wlasl_frame_ranges_mark_the_gesture(wlasl_root) -> None:
    for clip in load_wlasl(wlasl_root).clips[:3]:
        frames = np.stack([f.image for f in read_video(clip.path)])
        end = len(frames) if clip.frame_end is None else clip.frame_end
        assert end - clip.frame_start == GESTURE_FRAMES
        assert end <= len(frames) and clip.frame_start >= 3
        assert (frames[clip.frame_start : end].max(axis=(1, 2, 3)) > 200).all()  # fingertip


def test_wlasl_json_root_other_name_and_trimmed(wlasl_root, tmp_path) -> None:
    direct = load_wlasl(wlasl_root / "WLASL_v0.3.json", "test")
    assert [c.video_id for c in direct.clips] == [
        c.video_id for c in load_wlasl(wlasl_root, "test").clips
    ]
    shutil.copytree(wlasl_root / "videos", tmp_path / "videos")
    shutil.copy(wlasl_root / "WLASL_v0.3.json", tmp_path / "nslt_custom.json")
    trimmed = load_wlasl(tmp_path, videos_trimmed=True)
    assert len(trimmed.clips) == 20
    assert {(c.frame_start, c.frame_end) for c in trimmed.clips} == {(0, None)}


def _wlasl(root: Path, data: object, videos: tuple[str, ...] = ("00001.mp4",)) -> Path:
    (root / "videos").mkdir(parents=True, exist_ok=True)
    for name in videos:
        write_video(root / "videos" / name, np.zeros((2, 64, 64, 3), np.uint8))
    (root / "WLASL_v0.3.json").write_text(json.dumps(data))
    return root


def _instance(**overrides) -> dict:
    return {
        "video_id": "00001",
        "frame_start": 1,
        "frame_end": -1,
        "split": "train",
        "fps": 25,
        **overrides,
    }


def test_wlasl_converts_frame_numbers(tmp_path) -> None:
    _wlasl(tmp_path, [{"gloss": "book", "instances": [_instance(frame_start=5, frame_end=9)]}])
    (clip,) = load_wlasl(tmp_path).clips
    assert (clip.frame_start, clip.frame_end) == (4, 9)  # 1-based inclusive -> 0-based [4, 9)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "the top level is an object (expected a list"),
        ([{"instances": []}], "entry 0 has no 'gloss'"),
        ([{"gloss": "book"}], "entry 0 has no 'instances' (expected a list of objects)"),
        ([{"gloss": "book", "instances": {}}], "entry 0 'instances' is an object"),
        (
            [{"gloss": "a", "instances": []}, {"gloss": "a", "instances": []}],
            "entry 1 repeats gloss 'a'",
        ),
        (
            [{"gloss": "book", "instances": [_instance(frame_start="1")]}],
            "gloss 'book' instance 0 'frame_start' is a string (expected a 1-based frame number)",
        ),
        (
            [{"gloss": "book", "instances": [_instance(frame_start=0)]}],
            "frame_start 0 (expected >= 1",
        ),
        (
            [{"gloss": "book", "instances": [_instance(frame_start=9, frame_end=3)]}],
            "frame_end 3 before frame_start 9",
        ),
        (
            [{"gloss": "book", "instances": [_instance(split="dev")]}],
            "instance 0 has unknown split 'dev' (expected 'train', 'val' or 'test')",
        ),
        ([{"gloss": "book", "instances": [{"frame_start": 1}]}], "instance 0 has no 'video_id'"),
        ([{"gloss": "book", "instances": []}], "no instances (expected at least one)"),
        (
            [{"gloss": "book", "instances": [_instance(video_id="404")]}],
            "none of the 1 instances has a video in",
        ),
    ],
)
def test_wlasl_errors(tmp_path, data, problem) -> None:
    _wlasl(tmp_path, data)
    message = _error(load_wlasl, tmp_path)
    assert message.startswith(str(tmp_path / "WLASL_v0.3.json"))
    assert problem in message


def test_wlasl_annotation_file_errors(tmp_path) -> None:
    message = _error(load_wlasl, tmp_path)
    assert str(tmp_path) in message and "found none" in message
    (tmp_path / "a.json").write_text("[]")
    (tmp_path / "b.json").write_text("[]")
    assert "found a.json, b.json" in _error(load_wlasl, tmp_path)
    (tmp_path / "b.json").unlink()
    (tmp_path / "a.json").write_text("[{")
    message = _error(load_wlasl, tmp_path)
    assert str(tmp_path / "a.json") in message and "invalid JSON" in message
    assert "unknown split 'val' requested" in _error(load_wlasl, tmp_path, "val")


# --- ISLR ----------------------------------------------------------------------------------


def test_islr_fixture_loads(islr_root) -> None:
    data = load_islr(islr_root)
    assert data.labels == ISLR_SIGNS  # from sign_to_prediction_index_map.json, not sorted
    assert data.label_id("Sine") == 0 and data.missing_videos == 0
    assert len(data.clips) == 20 and all(isinstance(c, LandmarkClip) for c in data.clips)
    assert Counter(c.sign for c in data.clips) == {s: 5 for s in ISLR_SIGNS}
    people = Counter((c.participant_id, c.split) for c in data.clips)
    assert sorted(people.values()) == [4] * 5
    assert Counter(split for _, split in people) == {"train": 3, "validation": 1, "test": 1}
    test = load_islr(islr_root, "test")
    assert len(test.clips) == 4 and {c.participant_id for c in test.clips} == {
        max(c.participant_id for c in data.clips)
    }


def test_islr_labels_sorted_without_map(islr_root, tmp_path) -> None:
    shutil.copytree(islr_root, tmp_path, dirs_exist_ok=True)
    (tmp_path / "sign_to_prediction_index_map.json").unlink()
    assert load_islr(tmp_path).labels == tuple(sorted(ISLR_SIGNS))


def test_islr_fixture_landmarks(islr_root) -> None:
    clip = load_islr(islr_root).clips[0]
    points = read_landmarks(clip.path)
    assert points.dtype == np.float32 and points.shape[1:] == (ISLR_LANDMARKS, 3)
    assert 24 <= len(points) <= 40
    assert np.isnan(points[:, LEFT]).all()
    assert not np.isnan(points[:, FACE]).any() and not np.isnan(points[:, POSE]).any()
    hand_missing = np.isnan(points[:, RIGHT]).all(axis=(1, 2))
    assert 1 <= hand_missing.sum() <= 3
    assert not np.isnan(points[~hand_missing][:, RIGHT]).any()
    tips = points[~hand_missing, RIGHT.start + 8, :2]
    assert np.ptp(tips, axis=0).max() > 0.2  # the fingertip travels: a gesture, not noise
    assert (tips > 0).all() and (tips < 1).all()


def test_islr_constants() -> None:
    bounds = list(ISLR_PARTS.values())
    assert bounds[0][0] == 0 and bounds[-1][1] == ISLR_LANDMARKS == 543
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert [b - a for a, b in bounds] == [468, 21, 33, 21]


def _parquet(path: Path, rows: list[tuple], **overrides) -> Path:
    columns = dict(
        zip(
            ("frame", "type", "landmark_index", "x", "y", "z"), zip(*rows, strict=True), strict=True
        )
    )
    columns["row_id"] = [f"{f}-{t}-{i}" for f, t, i, *_ in rows]
    columns.update(overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def test_read_landmarks_places_rows_by_type_and_index(tmp_path) -> None:
    rows = [
        (9, "right_hand", 3, 0.1, 0.2, 0.3),
        (2, "pose", 32, 0.4, 0.5, 0.6),
        (9, "face", 0, 0.7, 0.8, 0.9),
        (2, "left_hand", 20, None, None, None),
        (2, "face", 467, 1.0, 1.1, 1.2),
    ]
    points = read_landmarks(_parquet(tmp_path / "x.parquet", rows))
    assert points.shape == (2, 543, 3)  # frames 2 and 9, sorted
    np.testing.assert_allclose(points[1, 522 + 3], [0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(points[0, 489 + 32], [0.4, 0.5, 0.6], rtol=1e-6)
    np.testing.assert_allclose(points[1, 0], [0.7, 0.8, 0.9], rtol=1e-6)
    np.testing.assert_allclose(points[0, 467], [1.0, 1.1, 1.2], rtol=1e-6)
    assert np.isnan(points[0, 468 + 20]).all()  # null x/y/z -> NaN
    assert np.isfinite(points).sum() == 4 * 3  # everything not listed stays NaN


def test_read_landmarks_errors(tmp_path) -> None:
    good = [(0, "face", 0, 0.5, 0.5, 0.0)]
    path = _parquet(tmp_path / "bad_index.parquet", [(0, "left_hand", 21, 0.5, 0.5, 0.0)])
    message = _error(read_landmarks, path)
    assert str(path) in message
    assert "row 0 has landmark_index 21 for type 'left_hand' (expected 0-20)" in message
    path = _parquet(tmp_path / "neg.parquet", [*good, (0, "pose", -1, 0.5, 0.5, 0.0)])
    assert "row 1 has landmark_index -1 for type 'pose' (expected 0-32)" in _error(
        read_landmarks, path
    )
    path = _parquet(tmp_path / "type.parquet", [(0, "hand", 0, 0.5, 0.5, 0.0)])
    assert "unknown landmark type 'hand'" in _error(read_landmarks, path)
    table = pq.read_table(_parquet(tmp_path / "full.parquet", good)).drop_columns(["z"])
    pq.write_table(table, tmp_path / "no_z.parquet")
    message = _error(read_landmarks, tmp_path / "no_z.parquet")
    assert str(tmp_path / "no_z.parquet") in message and "missing column(s) z" in message
    (tmp_path / "text.parquet").write_text("frame,type\n0,face\n")
    message = _error(read_landmarks, tmp_path / "text.parquet")
    assert str(tmp_path / "text.parquet") in message and "not a readable parquet file" in message
    assert "no such file" in _error(read_landmarks, tmp_path / "absent.parquet")
    empty = pq.read_table(tmp_path / "full.parquet").slice(0, 0)
    pq.write_table(empty, tmp_path / "empty.parquet")
    assert "no rows" in _error(read_landmarks, tmp_path / "empty.parquet")


def test_participant_splits() -> None:
    splits = islr_participant_splits(range(100, 121))  # 21 participants, as in ISLR
    assert Counter(splits.values()) == {"train": 17, "validation": 2, "test": 2}
    assert [splits[p] for p in (116, 117, 118, 119, 120)] == [
        "train",
        "validation",
        "validation",
        "test",
        "test",
    ]
    assert islr_participant_splits([30, 10, 20]) == {10: "train", 20: "validation", 30: "test"}
    assert islr_participant_splits([7, 3]) == {3: "train", 7: "test"}
    assert islr_participant_splits([5]) == {5: "train"}
    assert islr_participant_splits(reversed(range(100, 121))) == splits


def _islr_csv(root: Path, header: list[str], rows: list[list]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "train.csv", "w", newline="") as file:
        csv.writer(file).writerows([header, *rows])
    return root / "train.csv"


HEADER = ["path", "participant_id", "sequence_id", "sign"]


@pytest.mark.parametrize(
    ("header", "rows", "problem"),
    [
        (["path", "participant_id", "sign"], [], "missing column(s) sequence_id"),
        (HEADER, [], "no rows (expected one row per landmark sequence)"),
        (
            HEADER,
            [["a.parquet", "p1", "1", "TV"]],
            "line 2 has participant_id 'p1' (expected an integer)",
        ),
        (HEADER, [["a.parquet", "1", "1", ""]], "line 2 has an empty 'sign'"),
        (HEADER, [["a.parquet", "1", "1", "TV"]], "none of the 1 landmark files exists"),
    ],
)
def test_islr_csv_errors(tmp_path, header, rows, problem) -> None:
    path = _islr_csv(tmp_path, header, rows)
    message = _error(load_islr, tmp_path)
    assert message.startswith(str(path)) and problem in message


def test_islr_missing_files_are_counted(islr_root, tmp_path) -> None:
    shutil.copytree(islr_root, tmp_path, dirs_exist_ok=True)
    first = load_islr(tmp_path).clips[0]
    first.path.unlink()
    data = load_islr(tmp_path)
    assert len(data.clips) == 19 and data.missing_videos == 1
    assert "no train.csv" in _error(load_islr, tmp_path / "train_landmark_files")


def test_islr_label_map_errors(islr_root, tmp_path) -> None:
    shutil.copytree(islr_root, tmp_path, dirs_exist_ok=True)
    label_map = tmp_path / "sign_to_prediction_index_map.json"
    label_map.write_text(json.dumps({"Sine": 0, "Angle": 2, "WShape": 3, "CShape": 4}))
    message = _error(load_islr, tmp_path)
    assert str(label_map) in message and "not 0-3 each once" in message
    label_map.write_text(json.dumps({"Sine": 0, "Angle": 1, "WShape": 2}))
    message = _error(load_islr, tmp_path)
    assert str(tmp_path / "train.csv") in message
    assert "sign 'CShape'" in message and "is not in sign_to_prediction_index_map.json" in message
    label_map.write_text(json.dumps({"Sine": "0"}))
    assert "index of 'Sine' is a string (expected an integer)" in _error(load_islr, tmp_path)


def test_sign_fixtures_are_deterministic(tmp_path, wlasl_root, islr_root) -> None:
    again = write_wlasl_fixture(tmp_path / "wlasl")
    assert (again / "WLASL_v0.3.json").read_text() == (wlasl_root / "WLASL_v0.3.json").read_text()
    again = write_islr_fixture(tmp_path / "islr", sequences_per_sign=2)
    first = load_islr(islr_root).clips[1]
    assert (again / "train.csv").read_text().splitlines()[:3] == (
        (islr_root / "train.csv").read_text().splitlines()[:3]
    )
    np.testing.assert_array_equal(
        read_landmarks(again / first.path.relative_to(islr_root)), read_landmarks(first.path)
    )


def test_fixture_rejects_unknown_gesture_names(tmp_path) -> None:
    with pytest.raises(ValueError, match="not LASA shape names: \\['book'\\]"):
        write_wlasl_fixture(tmp_path, glosses=["book"])
