"""Per-frame gesture features from MediaPipe hand/pose landmarks (Kaggle ISLR layout).

Input: landmarks (frames, 543, 3) float, x and y in 0-1 image units, z relative depth, NaN for
points the tracker did not find (a hand out of view is all NaN). The layout (islr_layout.py):
face 0-467, left hand 468-488, pose 489-521, right hand 522-542.

Each frame becomes, without looking at other frames (so a stream can be classified step by step):
- per hand (left, right): the wrist's position relative to the shoulders' midpoint, the 21
  points relative to the wrist, all divided by the shoulder width (so the body's distance from
  the camera does not matter), and a presence flag; a missing hand is zeros with flag 0;
- the upper-body pose (shoulders, elbows, wrists: pose points 11-16) relative to the shoulders'
  midpoint, same scale, with a presence flag.
When the pose is missing, the image centre and a nominal shoulder width stand in.

Numpy only: the LiteRT runtime and the server use it without TensorFlow.
"""

from __future__ import annotations

import numpy as np

from framescribe.models.data.islr_layout import ISLR_LANDMARKS, ISLR_PARTS

HAND_POINTS = 21
UPPER_BODY = (11, 12, 13, 14, 15, 16)  # MediaPipe pose: shoulders, elbows, wrists
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
NOMINAL_SHOULDER_WIDTH = 0.25  # image widths, when the pose is missing
PER_HAND = 3 + 3 * HAND_POINTS + 1  # wrist position, points, presence
LANDMARK_FEATURE_DIM = 2 * PER_HAND + 3 * len(UPPER_BODY) + 1


def _part(landmarks: np.ndarray, name: str) -> np.ndarray:
    start, end = ISLR_PARTS[name]
    return landmarks[:, start:end]


def check_landmarks(landmarks) -> np.ndarray:
    """(frames, 543, 3) float32 or a ValueError saying what was received."""
    array = np.asarray(landmarks, dtype=np.float32)
    if array.ndim != 3 or array.shape[1:] != (ISLR_LANDMARKS, 3):
        raise ValueError(f"landmarks must have shape (frames, {ISLR_LANDMARKS}, 3) in the ISLR "
                         f"layout, got {array.shape}")
    if np.isinf(array).any():
        raise ValueError("landmarks contain infinite values (use NaN for missing points)")
    return array


def landmark_features(landmarks) -> np.ndarray:
    """landmarks (frames, 543, 3) with NaN for missing points -> (frames, LANDMARK_FEATURE_DIM)
    float32, finite."""
    landmarks = check_landmarks(landmarks)
    pose = _part(landmarks, "pose")
    shoulders = pose[:, [LEFT_SHOULDER, RIGHT_SHOULDER]]
    pose_found = ~np.isnan(shoulders).any(axis=(1, 2))
    centre = np.where(pose_found[:, None], shoulders.mean(axis=1), [0.5, 0.5, 0.0])
    width = np.linalg.norm(shoulders[:, 0, :2] - shoulders[:, 1, :2], axis=-1)
    scale = np.where(pose_found & (width > 1e-3), width, NOMINAL_SHOULDER_WIDTH)[:, None, None]
    parts = []
    for hand in ("left_hand", "right_hand"):
        points = _part(landmarks, hand)
        found = ~np.isnan(points).any(axis=(1, 2))
        wrist = points[:, :1]
        relative = (points - wrist) / scale
        position = (wrist - centre[:, None]) / scale
        parts += [np.where(found[:, None], position[:, 0], 0.0),
                  np.where(found[:, None], relative.reshape(len(points), -1), 0.0),
                  found[:, None].astype(np.float32)]
    body = (pose[:, list(UPPER_BODY)] - centre[:, None]) / scale
    body_found = ~np.isnan(body).any(axis=(1, 2))
    parts += [np.where(body_found[:, None], body.reshape(len(body), -1), 0.0),
              body_found[:, None].astype(np.float32)]
    features = np.concatenate(parts, axis=1).astype(np.float32)
    return np.nan_to_num(features, nan=0.0)
