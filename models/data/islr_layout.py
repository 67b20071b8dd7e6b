"""The layout of Kaggle ISLR's 543 MediaPipe landmarks per frame, with no imports: the server
and its encoder workers read it (frame checks, landmark features) without loading the dataset
code's dependencies.

Per frame, (543, 3) points x, y, z: face 0-467, left hand 468-488, pose 489-521, right hand
522-542 (read by islr_landmarks.read_landmarks, turned into features by landmark_features.py).
"""

from __future__ import annotations

ISLR_LANDMARKS = 543  # per frame
ISLR_PARTS: dict[str, tuple[int, int]] = {  # type -> [start, stop) in the 543 landmarks
    "face": (0, 468),
    "left_hand": (468, 489),
    "pose": (489, 522),
    "right_hand": (522, 543),
}
ISLR_HAND_LANDMARKS = 21
