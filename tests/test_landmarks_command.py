"""`framescribe landmarks`: Kaggle ISLR parquet files from real video clips (cut from
opencv-doc's Megamind.avi), resumable, with one-line errors; and a dataset built from its
output trains with `framescribe train gestures --format islr`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from framescribe.models.data.islr_landmarks import read_landmarks
from framescribe.models.data.package_media import opencv_doc_file
from framescribe.models.landmarks.mediapipe_tasks import BUILD_COMMAND
from framescribe.plugin.cli import main

CLI = [sys.executable, "-m", "framescribe.plugin.cli"]
CLIP_FRAMES = 12  # half a second of Megamind.avi (23.976 fps)
CLIPS = {"woman-1": 24, "woman-2": 48, "man-1": 150, "man-2": 175}  # name: first frame
ISLR_SCHEMA = pa.schema([("frame", pa.int16()), ("row_id", pa.string()), ("type", pa.string()),
                         ("landmark_index", pa.int16()), ("x", pa.float64()),
                         ("y", pa.float64()), ("z", pa.float64())])


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Four short clips of Megamind.avi (MJPEG .avi), two of the woman, two of the man."""
    folder = tmp_path_factory.mktemp("clips")
    capture = cv2.VideoCapture(str(opencv_doc_file("examples/data/Megamind.avi")))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    paths = {}
    for name, start in CLIPS.items():
        path = folder / f"{name}.avi"
        height, width = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 23.976,
                                 (width, height))
        for frame in frames[start:start + CLIP_FRAMES]:
            writer.write(frame)
        writer.release()
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def landmark_files(clips, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("landmarks")
    assert main(["landmarks", *map(str, clips.values()), "-o", str(output)]) == 0
    return output


def test_output_has_kaggle_islr_s_exact_columns_and_types(landmark_files, clips):
    files = sorted(landmark_files.glob("*.parquet"))
    assert [f.stem for f in files] == sorted(clips)
    for path in files:
        table = pq.read_table(path)
        assert table.schema.remove_metadata() == ISLR_SCHEMA
        assert table.num_rows == CLIP_FRAMES * 543
        frame = pd.read_parquet(path)
        assert list(frame.columns) == ["frame", "row_id", "type", "landmark_index", "x", "y",
                                       "z"]
        assert [str(t) for t in frame.dtypes[["frame", "landmark_index", "x", "y", "z"]]] == \
            ["int16", "int16", "float64", "float64", "float64"]
        assert pd.api.types.is_string_dtype(frame["row_id"])
        assert pd.api.types.is_string_dtype(frame["type"])
        first = frame.iloc[[0, 467, 468, 489, 522, 542, 543]]
        assert first["row_id"].tolist() == ["0-face-0", "0-face-467", "0-left_hand-0",
                                            "0-pose-0", "0-right_hand-0", "0-right_hand-20",
                                            "1-face-0"]
        assert frame["frame"].unique().tolist() == list(range(CLIP_FRAMES))
        face = frame[frame["type"] == "face"]
        face_frames = face.groupby("frame")["x"].apply(lambda x: x.notna().all())
        assert face_frames.sum() >= CLIP_FRAMES - 2  # (man-1 starts on a cut: found from 2nd)
        assert face["x"].dropna().between(0, 1).mean() > 0.99
        sizes = {"face": 468, "left_hand": 21, "pose": 33, "right_hand": 21}
        counts = frame.groupby(["frame", "type"])["x"].count()  # a part is all there or not
        for (_, part), count in counts.items():
            assert count in (0, sizes[part])
        points = read_landmarks(path)  # the dataset reader reads it back
        assert points.shape == (CLIP_FRAMES, 543, 3)
        np.testing.assert_array_equal(np.isnan(points[..., 0]),
                                      frame["x"].isna().to_numpy().reshape(CLIP_FRAMES, 543))


def test_a_second_run_skips_what_exists_and_hands_mode_writes_hand_rows(clips, landmark_files,
                                                                       capsys, tmp_path):
    before = {p.name: p.stat().st_mtime_ns for p in landmark_files.glob("*.parquet")}
    capsys.readouterr()
    assert main(["landmarks", *map(str, clips.values()), "-o", str(landmark_files)]) == 0
    assert "0 written, 4 skipped" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in landmark_files.glob("*.parquet")} == before

    assert main(["landmarks", str(clips["woman-1"]), "-o", str(tmp_path), "--kind", "hands",
                 "--frame-rate", "12"]) == 0
    frame = pd.read_parquet(tmp_path / "woman-1.parquet")
    assert frame["frame"].unique().tolist() == list(range(0, CLIP_FRAMES, 2))  # the video's own
    assert frame[frame["type"].isin(["face", "pose"])][["x", "y", "z"]].isna().all().all()
    assert frame[frame["type"] == "right_hand"]["x"].notna().any()


def test_bad_inputs_get_one_line_and_exit_1(clips, tmp_path, capsys):
    missing = tmp_path / "missing.mp4"
    assert main(["landmarks", str(missing), "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == f"framescribe: error: {missing}: no such file or " \
                                      "directory\n"
    assert not (tmp_path / "out").exists()  # nothing done

    broken = tmp_path / "broken.avi"
    broken.write_text("not a video")
    assert main(["landmarks", str(broken), str(clips["man-1"]), "-o", str(tmp_path / "out")]) \
        == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("framescribe: error:")]
    assert len(errors) == 1 and str(broken) in errors[0] and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["man-1.parquet"]

    other = tmp_path / "other"
    other.mkdir()
    twin = other / "man-1.avi"
    twin.write_bytes(clips["man-1"].read_bytes())
    assert main(["landmarks", str(clips["man-1"]), str(twin), "-o", str(tmp_path)]) == 1
    assert "would both write" in capsys.readouterr().err


def test_missing_model_files_name_the_command_that_builds_them(clips, tmp_path, monkeypatch,
                                                               capsys):
    monkeypatch.setenv("FRAMESCRIBE_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert main(["landmarks", str(clips["man-1"]), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and BUILD_COMMAND in err
    assert str(tmp_path / "empty-cache" / "mediapipe" / "holistic_landmarker.task") in err


@pytest.mark.parametrize("module", ["mediapipe", "pyarrow"])
def test_without_mediapipe_or_pyarrow_it_says_what_to_install(module, clips, tmp_path):
    shim = (f"import sys\nsys.modules[{module!r}] = None\n"
            "from framescribe.plugin.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    result = subprocess.run([sys.executable, "-c", shim, "landmarks", str(clips["man-1"]),
                             "-o", str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"framescribe: error: `framescribe landmarks` needs {module}")
    assert result.stderr.count("\n") == 1 and "pip install" in result.stderr
    assert not (tmp_path / "out").exists()


def test_help_explains_the_output():
    result = subprocess.run([*CLI, "landmarks", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    for words in ("Kaggle ISLR", "row_id", "int16", "--kind", "--frame-rate", "skipped",
                  "train gestures --format islr"):
        assert words in " ".join(result.stdout.split()), words


@pytest.mark.slow
def test_train_gestures_on_a_set_built_from_landmarks_output(landmark_files, tmp_path, capsys):
    """Kaggle's asl-signs layout around the command's files: train.csv (path, participant_id,
    sequence_id, sign) and sign_to_prediction_index_map.json; one epoch."""
    rows = ["path,participant_id,sequence_id,sign"]
    for number, name in enumerate(sorted(CLIPS)):
        rows.append(f"{name}.parquet,1,{number + 1},{name.split('-')[0]}")
    (landmark_files / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (landmark_files / "sign_to_prediction_index_map.json").write_text(
        json.dumps({"woman": 0, "man": 1}), encoding="utf-8")
    bundle = tmp_path / "bundle"
    # In this process (TensorFlow next to MediaPipe, as a server with a landmark bundle has
    # them); the CLI's subprocess path is test_dataset_recipes'.
    assert main(["train", "gestures", "--data", str(landmark_files), "--format", "islr",
                 "--output", str(bundle), "--epochs", "1", "--batch-size", "2"]) == 0
    assert "islr:test: the test split is empty" in capsys.readouterr().out
    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    assert manifest["gesture_input"] == "landmarks" and manifest["encoder"] is None
    assert manifest["training"]["dataset"]["sequences"]["train"] == 4
    assert (bundle / "gesture_labels.txt").read_text("utf-8").split() == ["woman", "man"]
