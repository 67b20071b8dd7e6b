"""Tests for the MSVD / MSR-VTT caption dataset loaders and their fixtures."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fixtures.dataset_fixtures import (
    FIXTURE_VIDEO_SIZE,
    write_msrvtt_fixture,
    write_msvd_fixture,
    write_video,
)

from framescribe.models.data.caption_datasets import (
    CaptionVideo,
    load_caption_dataset,
    normalize_caption,
)
from framescribe.models.data.dataset_errors import DatasetError
from framescribe.models.data.moving_digits import MovingDigits
from framescribe.models.video import fit_frame, read_video


@pytest.fixture(scope="module")
def msvd_root(tmp_path_factory) -> Path:
    return write_msvd_fixture(tmp_path_factory.mktemp("msvd"))


@pytest.fixture(scope="module")
def msrvtt_root(tmp_path_factory) -> Path:
    return write_msrvtt_fixture(tmp_path_factory.mktemp("msrvtt"))


def _video(folder: Path, name: str) -> Path:
    """A real 2-frame video file."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_video(folder / name, np.zeros((2, 64, 64, 3), np.uint8))


def _msvd(root: Path, annotations: object, videos: tuple[str, ...] = ("a.mp4",)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in videos:
        _video(root / "videos", name)
    (root / "annotations.json").write_text(json.dumps(annotations))
    return root


def _msrvtt(root: Path, data: object, videos: tuple[str, ...] = ("video0.mp4",)) -> Path:
    _msvd(root, {}, videos)
    (root / "annotations.json").unlink()
    (root / "videodatainfo.json").write_text(json.dumps(data))
    return root


def _error(root: Path, format: str, split: str | None = None) -> str:
    with pytest.raises(DatasetError) as info:
        load_caption_dataset(root, format, split)
    return str(info.value)


# --- fixtures load back --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["msvd", "msrvtt"])
def test_fixture_loads_with_splits_and_references(fmt, msvd_root, msrvtt_root) -> None:
    root = msvd_root if fmt == "msvd" else msrvtt_root
    videos = load_caption_dataset(root, fmt)
    assert len(videos) == 12
    assert all(isinstance(v, CaptionVideo) and v.path.is_file() for v in videos)
    assert Counter(v.split for v in videos) == {"train": 8, "validation": 2, "test": 2}
    expected = MovingDigits("train", size=8)
    for i, video in enumerate(videos[:8]):
        assert video.captions == expected[i].references
    assert [v.video_id for v in load_caption_dataset(root, fmt, "test")] == [
        v.video_id for v in videos[-2:]
    ]


def test_msvd_fixture_mixes_extensions(msvd_root) -> None:
    suffixes = Counter(v.path.suffix for v in load_caption_dataset(msvd_root, "msvd"))
    assert suffixes == {".mp4": 8, ".avi": 4}


def test_msrvtt_accepts_the_json_itself_and_validate(msrvtt_root) -> None:
    data = json.loads((msrvtt_root / "videodatainfo.json").read_text())
    assert Counter(v["split"] for v in data["videos"]) == {"train": 8, "validate": 2, "test": 2}
    direct = load_caption_dataset(msrvtt_root / "videodatainfo.json", "msrvtt", "validation")
    assert [v.video_id for v in direct] == ["video8", "video9"]


def test_fixture_videos_read_back_as_the_clips(msvd_root) -> None:
    videos = load_caption_dataset(msvd_root, "msvd")
    clips = MovingDigits("train", size=8)
    for video in (videos[0], videos[2]):  # an .mp4 and an .avi
        frames = list(read_video(video.path))
        assert len(frames) == 16
        assert frames[0].image.shape == (FIXTURE_VIDEO_SIZE, FIXTURE_VIDEO_SIZE, 3)
        assert [f.timestamp for f in frames[:3]] == pytest.approx([0.0, 0.1, 0.2])
        decoded = np.stack([fit_frame(f.image, 64) for f in frames]).astype(int)
        original = clips[int(video.video_id[4:])].frames.astype(int)
        assert np.abs(decoded - original).mean() < 2.0


def test_fixtures_are_deterministic(tmp_path, msvd_root) -> None:
    again = write_msvd_fixture(tmp_path / "again")
    assert (again / "annotations.json").read_text() == (msvd_root / "annotations.json").read_text()


def test_captions_are_normalised_and_blank_ones_dropped(tmp_path) -> None:
    root = _msvd(tmp_path, {"a": {"split": "train", "captions": ["  a  dog\truns \n", "  ", "x"]}})
    (video,) = load_caption_dataset(root, "msvd")
    assert video.captions == ("a dog runs", "x")
    assert normalize_caption("\n one   two ") == "one two"


def test_msrvtt_merges_train_val_and_test_files(tmp_path) -> None:
    _video(tmp_path / "videos", "video0.mp4")
    _video(tmp_path / "videos", "video1.avi")
    first = {
        "videos": [{"video_id": "video0", "split": "train"}],
        "sentences": [{"video_id": "video0", "caption": "a"}],
    }
    second = {
        "videos": [{"video_id": "video1", "split": "test"}],
        "sentences": [{"video_id": "video1", "caption": "b"}],
    }
    (tmp_path / "train_val_videodatainfo.json").write_text(json.dumps(first))
    (tmp_path / "test_videodatainfo.json").write_text(json.dumps(second))
    videos = load_caption_dataset(tmp_path, "msrvtt")
    assert {(v.video_id, v.split, v.path.suffix) for v in videos} == {
        ("video0", "train", ".mp4"),
        ("video1", "test", ".avi"),
    }


# --- errors --------------------------------------------------------------------------------


def test_missing_annotation_file(tmp_path) -> None:
    message = _error(tmp_path, "msvd")
    assert str(tmp_path) in message and "no annotation file" in message
    assert "annotations.json" in message
    message = _error(tmp_path, "msrvtt")
    assert "videodatainfo.json" in message
    assert "no such file or folder" in _error(tmp_path / "nope", "msvd")


def test_bad_json(tmp_path) -> None:
    _msvd(tmp_path, {})
    (tmp_path / "annotations.json").write_text('{"a": {"split": ')
    message = _error(tmp_path, "msvd")
    assert str(tmp_path / "annotations.json") in message and "invalid JSON at line 1" in message


@pytest.mark.parametrize(
    ("annotations", "problem"),
    [
        ([], "the top level is a list (expected an object"),
        ({"a": ["x"]}, "entry 'a' is a list (expected an object"),
        ({"a": {"split": "train"}}, "entry 'a' has no 'captions' (expected a list of strings)"),
        ({"a": {"captions": ["x"]}}, "entry 'a' has no 'split'"),
        (
            {"a": {"split": "train", "captions": "x"}},
            "entry 'a' 'captions' is a string (expected a list of strings)",
        ),
        (
            {"a": {"split": "train", "captions": ["x", 3]}},
            "entry 'a' caption 1 is a number (3) (expected a string)",
        ),
        ({"a": {"split": 1, "captions": ["x"]}}, "entry 'a' 'split' is a number (1)"),
        (
            {"a": {"split": "dev", "captions": ["x"]}},
            "entry 'a' has unknown split 'dev' (expected one of 'train', 'validation', 'test')",
        ),
        ({"a": {"split": "train", "captions": []}}, "video 'a' has no captions"),
        ({}, "no videos (expected at least one annotated video)"),
    ],
)
def test_msvd_annotation_errors(tmp_path, annotations, problem) -> None:
    _msvd(tmp_path, annotations)
    message = _error(tmp_path, "msvd")
    assert message.startswith(str(tmp_path / "annotations.json"))
    assert problem in message


def test_missing_video_file(tmp_path) -> None:
    _msvd(
        tmp_path,
        {"a": {"split": "train", "captions": ["x"]}, "b": {"split": "train", "captions": ["y"]}},
    )
    message = _error(tmp_path, "msvd")
    assert str(tmp_path / "annotations.json") in message
    assert "video 'b' has no file in" in message and str(tmp_path / "videos") in message
    assert ".mp4" in message and ".avi" in message


def test_missing_videos_folder(tmp_path) -> None:
    (tmp_path / "annotations.json").write_text(
        json.dumps({"a": {"split": "train", "captions": ["x"]}})
    )
    message = _error(tmp_path, "msvd")
    assert str(tmp_path / "videos") in message and "no such folder" in message


def test_unknown_format_and_split(tmp_path) -> None:
    _msvd(tmp_path, {"a": {"split": "train", "captions": ["x"]}})
    message = _error(tmp_path, "youcook")
    assert str(tmp_path) in message and "unknown caption dataset format 'youcook'" in message
    assert "msvd, msrvtt" in message
    message = _error(tmp_path, "msvd", "dev")
    assert "unknown split 'dev' requested" in message and "train, validation, test" in message
    message = _error(tmp_path, "msvd", "test")
    assert "no videos in split 'test'" in message


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"videos": []}, "the top level has no 'sentences'"),
        ({"videos": {}, "sentences": []}, "'videos' is an object (expected a list of objects)"),
        ({"videos": [{"split": "train"}], "sentences": []}, "videos[0] has no 'video_id'"),
        (
            {"videos": [{"video_id": "video0", "split": "val"}], "sentences": []},
            "videos[0] has unknown split 'val' (expected one of 'train', 'validate', 'validation'",
        ),
        (
            {"videos": [{"video_id": "video0", "split": "train"}] * 2, "sentences": []},
            "videos[1] repeats video_id 'video0'",
        ),
        (
            {
                "videos": [{"video_id": "video0", "split": "train"}],
                "sentences": [{"video_id": "video9", "caption": "x"}],
            },
            "sentences[0] refers to video 'video9', which 'videos' does not list",
        ),
        (
            {
                "videos": [{"video_id": "video0", "split": "train"}],
                "sentences": [{"video_id": "video0", "caption": None}],
            },
            "sentences[0] 'caption' is null (expected a string)",
        ),
        (
            {"videos": [{"video_id": "video0", "split": "train"}], "sentences": []},
            "video 'video0' has no captions",
        ),
    ],
)
def test_msrvtt_annotation_errors(tmp_path, data, problem) -> None:
    _msrvtt(tmp_path, data)
    message = _error(tmp_path, "msrvtt")
    assert message.startswith(str(tmp_path / "videodatainfo.json"))
    assert problem in message
