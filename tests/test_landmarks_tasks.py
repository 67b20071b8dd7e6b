"""The landmark stage's pieces: the pinned .task files (models/landmarks/mediapipe_tasks.py),
the extractor's checks, the ISLR parquet writer, the media helper, and that nothing imports
MediaPipe (or, through it, TensorFlow) before an extractor is made. `make setup` builds the
.task files; these tests rely on them."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from framescribe.models.bundle.bundle_manifest import file_sha256
from framescribe.models.data.islr_landmark_writer import islr_landmark_table, islr_parquet_bytes
from framescribe.models.data.islr_landmarks import read_landmarks
from framescribe.models.data.package_media import PackageMediaError, opencv_doc_file
from framescribe.models.landmarks import (
    BUILD_COMMAND,
    LANDMARK_KINDS,
    LandmarkExtractor,
    LandmarkOptions,
    TaskFilesMissing,
    task_path,
)
from framescribe.models.landmarks.landmark_extractor import next_timestamp_ms
from framescribe.models.landmarks.mediapipe_tasks import (
    TASKS,
    ZIP_ALIGNMENT,
    face_gather_indices,
)


@pytest.fixture(scope="module")
def hands() -> LandmarkExtractor:
    with LandmarkExtractor("hands") as extractor:
        yield extractor


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_task_files_are_the_pinned_aligned_zips(kind):
    path = task_path(kind)
    assert file_sha256(path) == TASKS[kind].sha256
    with zipfile.ZipFile(path) as task:
        members = task.infolist()
        assert [m.filename for m in members] == [m.name for m in TASKS[kind].members]
        for member in members:
            assert member.compress_type == zipfile.ZIP_STORED
            start = member.header_offset + 30 + len(member.filename) + len(member.extra)
            assert start % ZIP_ALIGNMENT == 0, member.filename
            with task.open(member) as file:
                assert file.read(8)[4:] == b"TFL3"


def test_the_face_model_s_468_points_become_478_without_new_positions():
    indices = face_gather_indices()
    assert indices.shape == (1434,) and indices.dtype == np.int32
    np.testing.assert_array_equal(indices[:1404], np.arange(1404))
    assert indices[1404:].max() < 1404  # the 10 iris stand-ins copy existing points


def test_missing_task_files_name_the_command_that_builds_them(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMESCRIBE_CACHE_DIR", str(tmp_path))
    for kind in LANDMARK_KINDS:
        with pytest.raises(TaskFilesMissing) as caught:
            LandmarkExtractor(kind)
        message = str(caught.value)
        assert isinstance(caught.value, FileNotFoundError) and "\n" not in message
        assert BUILD_COMMAND in message and str(tmp_path / "mediapipe") in message


def test_kinds_options_and_timestamps_are_checked(hands):
    with pytest.raises(ValueError, match="unknown landmark kind 'face'.*holistic, hands"):
        LandmarkExtractor("face")
    with pytest.raises(ValueError, match="num_hands must be 1 or 2"):
        LandmarkOptions(num_hands=3)
    with pytest.raises(ValueError, match="min_detection_confidence must be 0-1"):
        LandmarkOptions(min_detection_confidence=1.5)
    frame = np.zeros((48, 64, 3), np.uint8)
    points = hands.extract(frame, 100)
    assert points.shape == (543, 3) and points.dtype == np.float32 and np.isnan(points).all()
    for bad in (100, 99, 100.5, True):
        with pytest.raises(ValueError, match="timestamp_ms"):
            hands.extract(frame, bad)
    hands.extract(frame, np.int64(101))  # integer types, and whole floats, are fine
    hands.extract(frame, 102.0)
    with pytest.raises(ValueError, match="uint8"):
        hands.extract(frame.astype(np.float32), 103)


def test_a_closed_extractor_says_so():
    extractor = LandmarkExtractor("hands")
    extractor.close()
    extractor.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        extractor.extract(np.zeros((8, 8, 3), np.uint8), 0)


def test_millisecond_timestamps_keep_increasing():
    last = None
    out = []
    for seconds in (0.0, 0.0004, 0.0009, 0.0333, 0.0333, 0.0667):
        last = next_timestamp_ms(seconds, last)
        out.append(last)
    assert out == [0, 1, 2, 33, 34, 67]


def test_islr_writer_round_trips_through_the_dataset_reader(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.random((3, 543, 3)).astype(np.float32)
    points[1, 468:489] = np.nan  # a missing left hand
    path = tmp_path / "seq.parquet"
    path.write_bytes(islr_parquet_bytes(points, [20, 21, 25]))
    np.testing.assert_array_equal(read_landmarks(path), points)
    table = pq.read_table(path)
    assert table.column("row_id").to_pylist()[:2] == ["20-face-0", "20-face-1"]
    assert table.column("row_id").to_pylist()[-1] == "25-right_hand-20"
    assert table.column("frame").to_pylist()[::543] == [20, 21, 25]
    assert table.column("x").null_count == 21  # NaN as null, as pandas wrote Kaggle's files
    with pytest.raises(ValueError, match="int16"):
        islr_landmark_table(points, [0, 1, 40000])
    with pytest.raises(ValueError, match=r"\(frames, 543, 3\)"):
        islr_landmark_table(points[:, :500])


def test_opencv_doc_files_by_name_or_path():
    by_name = opencv_doc_file("handSrc.jpg")
    assert by_name == opencv_doc_file("opencv4/html/handSrc.jpg") and by_name.is_file()
    assert opencv_doc_file("vtest.avi").parent.name == "data"
    with pytest.raises(PackageMediaError, match="no file named 'no-such.avi'"):
        opencv_doc_file("no-such.avi")


def test_mediapipe_and_tensorflow_load_only_when_an_extractor_is_made():
    code = "\n".join([
        "import sys",
        "import framescribe.models.landmarks as landmarks",
        "from framescribe.models.landmarks import extract_video_landmarks, LandmarkExtractor",
        "from framescribe.plugin.cli import build_parser",
        "build_parser()",
        "assert 'mediapipe' not in sys.modules, 'imported too early'",
        "LandmarkExtractor('hands').close()",
        "assert 'mediapipe' in sys.modules",
        "assert 'tensorflow' not in sys.modules, 'MediaPipe pulled in TensorFlow'",
    ])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_two_hands_with_one_label_the_larger_takes_the_slot():
    """Over Megamind.avi the presenter's own hand behind the writer was labelled "Left" with
    more confidence than the writing hand in front; the larger one in the frame keeps the slot."""
    from types import SimpleNamespace

    from framescribe.models.data.islr_layout import ISLR_PARTS
    from framescribe.models.landmarks.landmark_extractor import _fill_hands

    def hand(x: float, y: float, size: float, label: str, score: float):
        grid = np.linspace(0.0, size, 21)
        points = [SimpleNamespace(x=x + g, y=y + g, z=0.0) for g in grid]
        return [SimpleNamespace(category_name=label, score=score)], points

    behind, writing, right = (hand(0.1, 0.2, 0.12, "Left", 0.98),
                              hand(0.5, 0.4, 0.2, "Left", 0.85),
                              hand(0.7, 0.1, 0.05, "Right", 0.9))
    labels, landmarks = zip(behind, writing, right, strict=True)
    result = SimpleNamespace(handedness=labels, hand_landmarks=landmarks)
    points = np.full((543, 3), np.nan, np.float32)
    _fill_hands(points, result)
    left, right_start = ISLR_PARTS["left_hand"][0], ISLR_PARTS["right_hand"][0]
    assert points[left, 0] == pytest.approx(0.5)  # the writing hand, not the more confident one
    assert points[right_start, 0] == pytest.approx(0.7)
    assert np.isnan(points[:left]).all()  # no face
