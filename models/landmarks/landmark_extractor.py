"""MediaPipe hand or holistic landmarks of video frames, in Kaggle ISLR's 543-point layout.

    with LandmarkExtractor("holistic") as extractor:
        for timestamp_ms, frame in frames:  # (h, w, 3) uint8 RGB, increasing integer ms
            points = extractor.extract(frame, timestamp_ms)  # (543, 3) float32

Per frame, (543, 3) x, y, z (islr_layout.ISLR_PARTS): face 0-467, left hand 468-488, pose
489-521, right hand 522-542; x and y normalised to the image (0-1 inside it), z as MediaPipe
gives it; NaN for a part not found, as in Kaggle's data. "holistic" runs MediaPipe's
HolisticLandmarker (the Tasks successor of the legacy Holistic solution Kaggle's data came
from): face (its first 468 points), pose, and both hands, one person. "hands" runs
HandLandmarker (up to `num_hands` hands) and fills only the hand slots (face and pose NaN).

Hands: both modes put a hand in the person's own side. HolisticLandmarker assigns hands from
the pose's wrists (the person's left wrist -> left_hand); mediapipe 1.2's HandLandmarker labels
handedness the same way on unmirrored video (checked on opencv-doc's Megamind.avi: a right hand
is "Right" and lands in holistic's right_hand, and both flip on a mirrored copy; the legacy
Hands solution instead assumed mirrored selfie images and said "Left"). So a "Left" hand goes to
left_hand, a "Right" one to right_hand; when two hands get one label, the larger one in the
frame (the nearer) wins. Over opencv-doc's Megamind.avi, the presenter's own hand in the
background was labelled with more confidence (0.98) than a hand written with in front of the
camera (0.85, palm 1.3x larger), and took its slot.

Both run in MediaPipe's VIDEO mode (tracking between frames), for clips and streams alike:
timestamps are integer milliseconds that must increase (ValueError otherwise). One extractor per
stream: it carries tracking state and is not thread-safe. MediaPipe is imported only here, when
an extractor is made (mediapipe_import).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from framescribe.models.data.islr_layout import ISLR_HAND_LANDMARKS, ISLR_LANDMARKS, ISLR_PARTS
from framescribe.models.video.frames import check_frame

LANDMARK_KINDS: tuple[str, ...] = ("holistic", "hands")
FACE_POINTS = ISLR_PARTS["face"][1] - ISLR_PARTS["face"][0]  # 468 (Tasks gives 478: + irises)
POSE_POINTS = ISLR_PARTS["pose"][1] - ISLR_PARTS["pose"][0]  # 33
HAND_SLOTS = {"Left": "left_hand", "Right": "right_hand"}  # HandLandmarker label -> ISLR part


@dataclass(frozen=True)
class LandmarkOptions:
    """MediaPipe's thresholds (its defaults, those of the legacy Holistic Kaggle used)."""

    num_hands: int = 2  # "hands" only: most hands per frame (ISLR has two slots)
    min_detection_confidence: float = 0.5  # palm / pose / face detection
    min_presence_confidence: float = 0.5  # keep tracking rather than detect again

    def __post_init__(self):
        if not isinstance(self.num_hands, int) or not 1 <= self.num_hands <= 2:
            raise ValueError(f"num_hands must be 1 or 2 (ISLR has a left and a right hand "
                             f"slot), got {self.num_hands!r}")
        for name in ("min_detection_confidence", "min_presence_confidence"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be 0-1, got {value!r}")


class LandmarkExtractor:
    """One MediaPipe landmarker ("holistic" or "hands") in VIDEO mode; see the module doc.

    `task_file`: the .task to load (default: the built one, mediapipe_tasks.task_path, which
    raises TaskFilesMissing naming the build command when it is not there).
    """

    def __init__(self, kind: str = "holistic", options: LandmarkOptions = LandmarkOptions(),
                 *, task_file: str | None = None):
        if kind not in LANDMARK_KINDS:
            raise ValueError(f"unknown landmark kind {kind!r} (expected one of "
                             f"{', '.join(LANDMARK_KINDS)})")
        from framescribe.models.landmarks.mediapipe_tasks import task_path

        self.kind = kind
        self.options = options
        self.task_file = str(task_file or task_path(kind))
        self._mp = None
        self._landmarker = self._create()
        self._last_timestamp_ms: int | None = None

    def _create(self) -> Any:
        from framescribe.models.landmarks.mediapipe_import import import_mediapipe

        self._mp = import_mediapipe()
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        base = BaseOptions(model_asset_path=self.task_file)
        video = vision.RunningMode.VIDEO
        o = self.options
        if self.kind == "hands":
            return vision.HandLandmarker.create_from_options(vision.HandLandmarkerOptions(
                base_options=base, running_mode=video, num_hands=o.num_hands,
                min_hand_detection_confidence=o.min_detection_confidence,
                min_hand_presence_confidence=o.min_presence_confidence,
                min_tracking_confidence=o.min_presence_confidence))
        return vision.HolisticLandmarker.create_from_options(vision.HolisticLandmarkerOptions(
            base_options=base, running_mode=video,
            min_face_detection_confidence=o.min_detection_confidence,
            min_pose_detection_confidence=o.min_detection_confidence,
            min_face_presence_confidence=o.min_presence_confidence,
            min_pose_presence_confidence=o.min_presence_confidence,
            min_hand_landmarks_confidence=o.min_presence_confidence))

    def extract(self, frame_rgb: np.ndarray, timestamp_ms: int) -> np.ndarray:
        """(543, 3) float32 landmarks of one frame ((h, w, 3) uint8 RGB) at `timestamp_ms`,
        an integer greater than the previous call's; NaN where a part was not found. Frames are
        read at their own resolution: shrinking Megamind.avi from 720 to 640 pixels wide moved
        the pose 20 px (mean) from legacy Holistic's."""
        if self._landmarker is None:
            raise ValueError(f"this {self.kind} LandmarkExtractor is closed")
        timestamp_ms = self._checked_timestamp(timestamp_ms)
        frame = np.ascontiguousarray(check_frame(frame_rgb))
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=frame)
        result = self._landmarker.detect_for_video(image, timestamp_ms)
        self._last_timestamp_ms = timestamp_ms
        points = np.full((ISLR_LANDMARKS, 3), np.nan, np.float32)
        if self.kind == "hands":
            _fill_hands(points, result)
        else:
            _fill_holistic(points, result)
        return points

    def extract_at(self, frame_rgb: np.ndarray, seconds: float) -> np.ndarray:
        """extract() for a frame timed in seconds (a video's clock): rounded to integer ms,
        bumped to 1 ms after the previous frame where two frames round to the same ms."""
        return self.extract(frame_rgb, next_timestamp_ms(seconds, self._last_timestamp_ms))

    def _checked_timestamp(self, timestamp_ms) -> int:
        if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, numbers.Real) or \
                not math.isfinite(timestamp_ms) or timestamp_ms != int(timestamp_ms):
            raise ValueError(f"timestamp_ms must be an integer number of milliseconds, got "
                             f"{timestamp_ms!r}")
        timestamp_ms = int(timestamp_ms)
        last = self._last_timestamp_ms
        if last is not None and timestamp_ms <= last:
            raise ValueError(f"timestamp_ms {timestamp_ms} does not increase (the previous frame "
                             f"was at {last} ms): MediaPipe's VIDEO mode needs increasing "
                             "timestamps; start a new LandmarkExtractor for a new video")
        return timestamp_ms

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> LandmarkExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._landmarker is None else f"last {self._last_timestamp_ms} ms"
        return f"<LandmarkExtractor {self.kind} ({state})>"


def next_timestamp_ms(seconds: float, last_ms: int | None) -> int:
    """Integer milliseconds for MediaPipe's VIDEO mode: `seconds` rounded, bumped to
    last_ms + 1 where that would not increase (two frames less than 1 ms apart)."""
    ms = int(round(float(seconds) * 1000.0))
    return ms if last_ms is None or ms > last_ms else last_ms + 1


def _xyz(landmarks, count: int) -> np.ndarray:
    """(count, 3) float32 of the first `count` of MediaPipe's NormalizedLandmarks."""
    return np.array([(p.x, p.y, p.z) for p in landmarks[:count]], np.float32).reshape(-1, 3)


def _put(points: np.ndarray, part: str, landmarks, count: int) -> None:
    if landmarks:
        start = ISLR_PARTS[part][0]
        xyz = _xyz(landmarks, count)
        points[start:start + len(xyz)] = xyz


def _fill_holistic(points: np.ndarray, result) -> None:
    _put(points, "face", result.face_landmarks, FACE_POINTS)
    _put(points, "left_hand", result.left_hand_landmarks, ISLR_HAND_LANDMARKS)
    _put(points, "pose", result.pose_landmarks, POSE_POINTS)
    _put(points, "right_hand", result.right_hand_landmarks, ISLR_HAND_LANDMARKS)


def _fill_hands(points: np.ndarray, result) -> None:
    best: dict[str, tuple[float, Any]] = {}
    for handedness, landmarks in zip(result.handedness, result.hand_landmarks, strict=True):
        if not handedness:
            continue
        slot = HAND_SLOTS.get(handedness[0].category_name)
        extent = _extent(landmarks)
        if slot is not None and (slot not in best or extent > best[slot][0]):
            best[slot] = (extent, landmarks)
    for slot, (_, landmarks) in best.items():
        _put(points, slot, landmarks, ISLR_HAND_LANDMARKS)


def _extent(landmarks) -> float:
    """The diagonal of a hand's bounding box, in image units: how large it is in the frame."""
    xy = _xyz(landmarks, ISLR_HAND_LANDMARKS)[:, :2]
    return float(np.hypot(*(xy.max(axis=0) - xy.min(axis=0))))
