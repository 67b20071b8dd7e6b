"""Per-frame air-writing features: where the index fingertip is, in units of the hand's size.

Input: landmarks (frames, 543, 3) in the ISLR layout (islr_layout.py), x and y in 0-1 image
units as MediaPipe gives them, NaN for points the tracker did not find. Only the two hand slots
are read (a hands-only extraction fills nothing else).

Each frame becomes three numbers, from that frame alone:
- found: 1 when a hand's index fingertip (hand landmark 8) is there, else 0;
- x, y: the fingertip's position relative to the image centre, divided by the hand's size
  (the mean distance from the wrist, landmark 0, to the four finger bases, landmarks 5, 9, 13
  and 17: the palm, whose size does not change as fingers bend), clipped to +-POSITION_LIMIT;
  0 when no fingertip was found.

Which hand, frame by frame (no memory needed): the one with a fingertip when only one has; when
both have, the right-hand slot, unless the left hand's palm is more than DOMINANCE times the
right one's (then the left). So a single hand is followed whatever the tracker files it under
(handedness flips, left-handed writers), and a hand far behind the writer (a passer-by in the
background) does not take over. The limit: when the writer's two hands are both in view, the
right one is read, even if the left one writes.

Why nothing here looks at other frames (no velocities, no offsets from where the stroke
started, no speed estimate): every entry point computes these features for whatever frames
have arrived (the server one request at a time, the video path one chunk at a time) without
carrying anything between calls, and the recurrent classifier carries the only state. So the
features of a stream cut anywhere are the features of the whole, and a stream gives the same
events as the clip. What per-frame numbers cannot remove is left to the LSTM and its training
augmentation (airwriting_tracks.py): where in the image the shape is drawn (translation), the
writing speed (the pipeline's sampling fixes the time base at the bundle's frame rate; the
training shapes take 2.6-5.6 s with time warps), the image's aspect ratio (x and y are in
width and height units), rotation, and tracker noise.

Numpy only: the LiteRT runtime and the server use it without TensorFlow.
"""

from __future__ import annotations

import numpy as np

from framescribe.models.data.islr_layout import ISLR_PARTS
from framescribe.models.inference.landmark_features import check_landmarks

FINGERTIP = 8  # MediaPipe hand landmark: index finger tip
WRIST = 0
FINGER_BASES = (5, 9, 13, 17)  # index, middle, ring and little finger MCP joints
HANDS = ("right_hand", "left_hand")  # in order of preference
DOMINANCE = 1.5  # a hand this many times larger than the other is read whatever its slot
NOMINAL_HAND_SIZE = 0.08  # image heights, when no wrist-to-base distance is available
MIN_HAND_SIZE = 1e-3  # image units: a smaller palm is a degenerate detection
POSITION_LIMIT = 12.0  # hand sizes from the image centre
FINGERTIP_FEATURE_DIM = 3  # found, x, y


def _hand(landmarks: np.ndarray, name: str) -> np.ndarray:
    start, end = ISLR_PARTS[name]
    return landmarks[:, start:end, :2]


def hand_size(points: np.ndarray) -> np.ndarray:
    """points (frames, 21, 2) of one hand -> (frames,) mean wrist-to-finger-base distance in
    image units; NOMINAL_HAND_SIZE where no such distance is there, at least MIN_HAND_SIZE."""
    lengths = np.linalg.norm(points[:, FINGER_BASES] - points[:, WRIST:WRIST + 1], axis=-1)
    found = ~np.isnan(lengths)
    count = found.sum(axis=1)
    total = np.where(found, lengths, 0.0).sum(axis=1)
    size = np.where(count > 0, total / np.maximum(count, 1), NOMINAL_HAND_SIZE)
    return np.maximum(size, MIN_HAND_SIZE)


def fingertip_features(landmarks) -> np.ndarray:
    """landmarks (frames, 543, 3), NaN = missing -> (frames, FINGERTIP_FEATURE_DIM) float32,
    finite: found, x, y (see the module docstring). Each row depends on its frame alone."""
    landmarks = check_landmarks(landmarks)
    right, left = (_hand(landmarks, name) for name in HANDS)
    has_right, has_left = (~np.isnan(h[:, FINGERTIP]).any(axis=-1) for h in (right, left))
    left_larger = hand_size(left) > DOMINANCE * hand_size(right)
    use_right = has_right & ~(has_left & left_larger)
    points = np.where(use_right[:, None, None], right, left)
    tip = points[:, FINGERTIP]
    found = ~np.isnan(tip).any(axis=-1)
    position = (tip - 0.5) / hand_size(points)[:, None]
    position = np.clip(np.where(found[:, None], position, 0.0), -POSITION_LIMIT, POSITION_LIMIT)
    features = np.concatenate([found[:, None].astype(np.float32), position], axis=1)
    return np.nan_to_num(features.astype(np.float32), nan=0.0)
