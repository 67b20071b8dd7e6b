"""Tiny but real copies of each on-disk dataset format, for tests and short training runs.

Every writer is deterministic for a given ``seed``, takes well under 3 s, writes into ``root``
(created if needed) and returns it. Content is learnable, not noise: caption videos are
`moving-digits` clips, sign videos and landmarks follow `lasa-airwriting` gestures.

Videos are written with OpenCV at FIXTURE_FPS (the benchmark rate, so sampling at 10 fps keeps
every frame), each 64x64 frame upscaled to FIXTURE_VIDEO_SIZE with nearest-neighbour; ``.mp4``
uses the 'mp4v' codec and ``.avi`` 'MJPG' (both read back by opencv-python-headless).
"""

from __future__ import annotations

import csv
import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import lasa_airwriting as la
from .moving_digits import SPLIT_SEEDS as DIGIT_SEEDS
from .moving_digits import MovingDigits
from .sign_datasets import ISLR_CSV, ISLR_LABEL_MAP, ISLR_PARTS, WLASL_FILE

FIXTURE_FPS = 10.0
FIXTURE_VIDEO_SIZE = 128  # px, square
CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
WLASL_GLOSSES: tuple[str, ...] = ("Angle", "CShape", "Sine", "WShape")  # LASA shape names
ISLR_SIGNS: tuple[str, ...] = ("Sine", "Angle", "WShape", "CShape")  # map order != sorted order
ISLR_PARTICIPANTS = 5
_WLASL_SPLIT_VALUES = {"train": "train", "validation": "val", "test": "test"}


def write_video(path: Path, frames: np.ndarray, fps: float = FIXTURE_FPS) -> Path:
    """Write (T, h, w, 3) uint8 RGB frames, upscaled to FIXTURE_VIDEO_SIZE, as .mp4 or .avi."""
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"{path}: unsupported extension (expected one of {sorted(CODECS)})")
    size = (FIXTURE_VIDEO_SIZE, FIXTURE_VIDEO_SIZE)
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*codec), fps, size)
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write {codec!r} video here")
    try:
        for frame in frames:
            big = cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST)
            writer.write(cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def fixture_splits(count: int) -> list[str]:
    """Contiguous splits for ``count`` items: validation and test get max(1, count // 6) each
    (none when count < 3), train the rest, in the order train, validation, test."""
    held = max(1, count // 6) if count >= 3 else 0
    return ["train"] * (count - 2 * held) + ["validation"] * held + ["test"] * held


def _lasa_labels(names: Sequence[str]) -> list[int]:
    """LASA label ids of gesture names; a name that is not a LASA shape is a ValueError."""
    labels = la.gesture_labels()
    unknown = [n for n in names if n not in labels]
    if unknown:
        raise ValueError(f"not LASA shape names: {unknown} (expected some of {labels})")
    return [labels.index(n) for n in names]


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


# --- captions ----------------------------------------------------------------------------


def _digit_clips(videos: int, seed: int) -> list[tuple[str, tuple[str, ...], np.ndarray]]:
    """(split, references, (16, 64, 64, 3) frames) per video, each split from its generator."""
    splits = fixture_splits(videos)
    out = []
    for split in ("train", "validation", "test"):
        count = splits.count(split)
        source = MovingDigits(split, size=count, seed=DIGIT_SEEDS[split] + seed)
        for i in range(count):
            clip = source[i]
            out.append((split, clip.references, clip.frames))
    return out


def write_msvd_fixture(root: str | os.PathLike, videos: int = 12, *, seed: int = 0) -> Path:
    """MSVD-style: ``annotations.json`` + ``videos/clip0000.{mp4,avi}`` (every third is .avi).

    Splits are contiguous (fixture_splits: 8/2/2 for 12 videos); captions are the clip's
    moving-digits references (one for one digit, both orders for two).
    """
    root = Path(root)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    annotations = {}
    for i, (split, references, frames) in enumerate(_digit_clips(videos, seed)):
        video_id = f"clip{i:04d}"
        write_video(root / "videos" / f"{video_id}{'.avi' if i % 3 == 2 else '.mp4'}", frames)
        annotations[video_id] = {"split": split, "captions": list(references)}
    _write_json(root / "annotations.json", annotations)
    return root


def write_msrvtt_fixture(root: str | os.PathLike, videos: int = 12, *, seed: int = 0) -> Path:
    """MSR-VTT layout: ``videodatainfo.json`` + ``videos/video<i>.mp4``.

    Split values "train", "validate", "test" (contiguous, as in MSR-VTT); one sentence per
    moving-digits reference, with MSR-VTT's extra fields (category, url, times, sen_id).
    """
    root = Path(root)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    entries, sentences = [], []
    for i, (split, references, frames) in enumerate(_digit_clips(videos, seed)):
        video_id = f"video{i}"
        write_video(root / "videos" / f"{video_id}.mp4", frames)
        entries.append(
            {
                "category": i % 20,
                "url": f"https://example.invalid/{video_id}",
                "video_id": video_id,
                "start time": 0.0,
                "end time": len(frames) / FIXTURE_FPS,
                "split": "validate" if split == "validation" else split,
                "id": i,
            }
        )
        sentences.extend(
            {"caption": text, "video_id": video_id, "sen_id": len(sentences) + k}
            for k, text in enumerate(references)
        )
    info = {"year": 2016, "version": "fixture", "description": "framescribe test fixture"}
    _write_json(
        root / "videodatainfo.json", {"info": info, "videos": entries, "sentences": sentences}
    )
    return root


# --- WLASL -------------------------------------------------------------------------------


def _wlasl_positions(
    label: int, k: int, split: str, rng: np.random.Generator
) -> tuple[np.ndarray, int, bool]:
    """Fingertip path of instance ``k``: idle, the gesture, idle (none when k % 3 == 2).

    Returns ((frames, 2) float32 px with NaN for an absent fingertip, lead idle frames, whether
    the gesture runs to the end of the video).
    """
    source = la.LasaAirwriting(split)
    copy = k % (len(source) // source.pairs)
    index = copy * source.pairs + label * len(source.demos) + k % len(source.demos)
    gesture = source.positions(index)
    lead, trail = (int(n) for n in rng.integers(3, 9, size=2))
    to_end = k % 3 == 2
    parts = [_idle(rng, lead, gesture[0]), gesture, _idle(rng, 0 if to_end else trail, gesture[-1])]
    return np.concatenate(parts), lead, to_end


def _idle(rng: np.random.Generator, length: int, rest: np.ndarray) -> np.ndarray:
    """(length, 2) idle fingertip: absent (NaN) or resting at ``rest`` with 1 px jitter."""
    if rng.random() < 0.5:
        return np.full((length, 2), np.nan, np.float32)
    jitter = rng.normal(0.0, 1.0, size=(length, 2))
    return np.clip(rest + jitter, *la.POSITION_LIMITS).astype(np.float32)


def write_wlasl_fixture(
    root: str | os.PathLike,
    clips_per_gloss: int = 5,
    glosses: Sequence[str] = WLASL_GLOSSES,
    *,
    seed: int = 0,
) -> Path:
    """WLASL layout: ``WLASL_v0.3.json`` + ``videos/<5-digit id>.mp4``.

    Per gloss (a LASA shape name), instance k: LASA gesture (GESTURE_FRAMES frames) with 3-8
    idle frames before and after; frame_start/frame_end (1-based, inclusive) mark the gesture,
    frame_end -1 when k % 3 == 2 (those videos end with the gesture). Splits: the last instance
    "test", the one before "val" (with >= 3 per gloss), the rest "train". The first gloss has
    one extra "train" instance whose video is missing.
    """
    root = Path(root)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    labels = _lasa_labels(glosses)
    splits = _per_gloss_splits(clips_per_gloss)
    entries, number = [], 0
    for g, gloss in enumerate(glosses):
        instances = []
        for k, split in enumerate(splits):
            rng = np.random.default_rng((seed, g, k))
            positions, lead, to_end = _wlasl_positions(labels[g], k, split, rng)
            video_id = f"{60000 + number:05d}"
            number += 1
            write_video(root / "videos" / f"{video_id}.mp4", la.render(positions, rng))
            end = -1 if to_end else lead + la.GESTURE_FRAMES
            instances.append(_wlasl_instance(video_id, lead + 1, end, split, k))
        if g == 0:
            missing = f"{60000 + number:05d}"  # annotated, never written: a dead URL
            instances.append(_wlasl_instance(missing, 1, -1, "train", len(splits)))
            number += 1
        entries.append({"gloss": gloss, "instances": instances})
    _write_json(root / WLASL_FILE, entries)
    return root


def _per_gloss_splits(count: int) -> list[str]:
    held = 1 if count >= 3 else 0
    return ["train"] * (count - 2 * held) + ["validation"] * held + ["test"] * held


def _wlasl_instance(video_id: str, start: int, end: int, split: str, k: int) -> dict:
    return {
        "bbox": [0, 0, FIXTURE_VIDEO_SIZE, FIXTURE_VIDEO_SIZE],
        "fps": int(FIXTURE_FPS),
        "frame_end": end,
        "frame_start": start,
        "instance_id": k,
        "signer_id": k % 3,
        "source": "fixture",
        "split": _WLASL_SPLIT_VALUES[split],
        "url": f"https://example.invalid/{video_id}.mp4",
        "variation_id": 0,
        "video_id": video_id,
    }


# --- ISLR --------------------------------------------------------------------------------

# A pointing right hand (21 MediaPipe landmarks), (x, y) relative to the index fingertip (8),
# in normalised image units; y grows downward, fingers point up.
# fmt: off
_HAND = np.array([
    [0.015, 0.10],  # 0 wrist
    [-0.005, 0.09], [-0.02, 0.075], [-0.03, 0.06], [-0.035, 0.05],  # thumb 1-4
    [0.0, 0.05], [0.0, 0.03], [0.0, 0.015], [0.0, 0.0],  # index 5-8 (extended)
    [0.015, 0.05], [0.02, 0.035], [0.02, 0.04], [0.015, 0.045],  # middle 9-12 (curled)
    [0.03, 0.053], [0.035, 0.04], [0.035, 0.045], [0.03, 0.05],  # ring 13-16
    [0.043, 0.06], [0.048, 0.05], [0.048, 0.055], [0.043, 0.058],  # pinky 17-20
], np.float64)
# fmt: on
_HAND_DEPTH = np.linspace(0.0, -0.04, 21)


@functools.lru_cache(maxsize=1)
def _base_landmarks() -> tuple[np.ndarray, np.ndarray]:
    """Fixed face (468, 3) and pose (33, 3) landmarks of a person facing the camera (read-only)."""
    rng = np.random.default_rng(468)
    angle = rng.uniform(0, 2 * np.pi, 468)
    radius = np.sqrt(rng.uniform(0, 1, 468))
    face = np.stack(
        [
            0.5 + 0.08 * radius * np.cos(angle),
            0.25 + 0.11 * radius * np.sin(angle),
            rng.normal(0, 0.02, 468),
        ],
        axis=1,
    )
    pose = np.zeros((33, 3))
    pose[:11, :2] = face[rng.choice(468, 11, replace=False), :2]  # nose, eyes, ears, mouth
    side = np.array([1.0, -1.0])  # MediaPipe pose: odd = left (image right), even = right
    # (first index of a left/right pair, |x - 0.5|, y): shoulders, elbows, wrists, pinkies,
    # index fingers, thumbs, hips, knees, ankles, heels, foot tips; legs are below the image.
    limbs = ((11, 0.12, 0.45), (13, 0.17, 0.65), (15, 0.16, 0.85), (17, 0.17, 0.9),
             (19, 0.16, 0.9), (21, 0.15, 0.88), (23, 0.07, 0.95), (25, 0.08, 1.3),
             (27, 0.08, 1.6), (29, 0.08, 1.65), (31, 0.09, 1.7))  # fmt: skip
    for first, dx, y in limbs:
        pose[first : first + 2, 0] = 0.5 + dx * side
        pose[first : first + 2, 1] = y
    pose[11:, 2] = rng.normal(0, 0.1, 22)
    face.flags.writeable = False
    pose.flags.writeable = False
    return face, pose


def _islr_frames(sign_label: int, j: int, shift: np.ndarray, rng: np.random.Generator) -> dict:
    """One sequence as parquet columns: face/pose still (+ jitter), left hand missing, right
    hand a pointing shape whose index fingertip follows a LASA gesture (NaN in 1-3 frames)."""
    frames = int(rng.integers(24, 41))
    path = la.gesture_positions(sign_label, j % la.DEMOS_PER_SHAPE, frames, rng) / la.FRAME_SIZE
    face, pose = _base_landmarks()
    hand = np.empty((frames, 21, 3))
    hand[:, :, :2] = path[:, None, :] + _HAND[None] * rng.uniform(0.9, 1.1)
    hand[:, :, 2] = _HAND_DEPTH
    hand[rng.choice(frames, int(rng.integers(1, 4)), replace=False)] = np.nan
    points = np.full((frames, 543, 3), np.nan)
    points[:, slice(*ISLR_PARTS["face"])] = face + np.append(shift, 0)
    points[:, slice(*ISLR_PARTS["pose"])] = pose + np.append(shift, 0)
    points[:, slice(*ISLR_PARTS["right_hand"])] = hand
    still = slice(0, ISLR_PARTS["right_hand"][0])  # face, left hand (NaN) and pose
    points[:, still] += rng.normal(0, 0.001, (frames, still.stop, 3))
    first = int(rng.integers(0, 40))
    return _landmark_columns(points, np.arange(first, first + frames))


def _landmark_columns(points: np.ndarray, frame_numbers: np.ndarray) -> dict:
    """Parquet columns, Kaggle row order (per frame: face, left_hand, pose, right_hand)."""
    types, indices = [], []
    for name, (start, stop) in ISLR_PARTS.items():
        types += [name] * (stop - start)
        indices += range(stop - start)
    frames = np.repeat(frame_numbers, 543)
    type_column = types * len(frame_numbers)
    index_column = np.tile(indices, len(frame_numbers))
    rows = points.reshape(-1, 3)
    return {
        "frame": pa.array(frames, pa.int16()),
        "row_id": pa.array(
            [
                f"{f}-{t}-{i}"
                for f, t, i in zip(frames.tolist(), type_column, index_column.tolist(), strict=True)
            ]
        ),
        "type": pa.array(type_column),
        "landmark_index": pa.array(index_column, pa.int16()),
        "x": pa.array(rows[:, 0], pa.float64(), from_pandas=True),
        "y": pa.array(rows[:, 1], pa.float64(), from_pandas=True),
        "z": pa.array(rows[:, 2], pa.float64(), from_pandas=True),
    }


def write_islr_fixture(
    root: str | os.PathLike,
    sequences_per_sign: int = 5,
    signs: Sequence[str] = ISLR_SIGNS,
    *,
    participants: int = ISLR_PARTICIPANTS,
    seed: int = 0,
) -> Path:
    """Kaggle asl-signs layout: ``train.csv``, ``sign_to_prediction_index_map.json`` (signs in
    the given order) and ``train_landmark_files/<participant>/<sequence>.parquet``.

    Signs are LASA shape names; sequence j of a sign is by participant j % participants, 24-40
    frames long. With 5 participants the derived split is 3 train / 1 validation / 1 test.
    """
    root = Path(root)
    labels = _lasa_labels(signs)
    people = [2044 + 3571 * p for p in range(participants)]
    rows, count = [], 0
    for s, sign in enumerate(signs):
        for j in range(sequences_per_sign):
            rng = np.random.default_rng((seed, s, j))
            participant = people[j % participants]
            shift = np.random.default_rng((seed, participant)).normal(0, 0.02, 2)
            sequence = 1_000_000 + 104_729 * count
            count += 1
            relative = f"train_landmark_files/{participant}/{sequence}.parquet"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            columns = _islr_frames(labels[s], j, shift, rng)
            pq.write_table(pa.table(columns), root / relative)
            rows.append((relative, participant, sequence, sign))
    with open(root / ISLR_CSV, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["path", "participant_id", "sequence_id", "sign"])
        writer.writerows(rows)
    _write_json(root / ISLR_LABEL_MAP, {sign: i for i, sign in enumerate(signs)})
    return root
