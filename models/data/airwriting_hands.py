"""A synthetic tracked hand: fingertip tracks in a camera frame -> ISLR-layout landmark frames.

What a MediaPipe hand tracker would report for a hand whose index fingertip follows a track:
21 hand landmarks per frame (the pointing hand of HAND_TEMPLATE, turned, sized and slightly
reshaped per clip), x and y divided by the frame's width and height as MediaPipe does (so a
non-square frame stretches shapes), every landmark with its own per-frame jitter, the fingertip
landmark a constant few pixels off the true tip, and NaN (all 543 points) on frames where the
hand was not found. Only one hand slot is filled, as a hands-only extraction does.

Used to train and test the air-writing bundle (airwriting_tracks.py); numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from framescribe.models.data.islr_layout import ISLR_LANDMARKS, ISLR_PARTS

# A right hand pointing up with the index finger, the other fingers curled, seen from the
# palm side; image axes (x right, y down, z towards the camera negative), in units of the
# wrist-to-middle-finger-base distance, wrist at the origin. MediaPipe's 21 hand landmarks.
HAND_TEMPLATE = np.array([
    [0.00, 0.00, 0.00],  # 0 wrist
    [0.28, -0.15, -0.03], [0.48, -0.35, -0.05], [0.56, -0.55, -0.06], [0.60, -0.72, -0.07],
    [0.30, -0.95, -0.02], [0.32, -1.35, -0.04], [0.33, -1.60, -0.05], [0.34, -1.83, -0.06],
    [0.05, -1.00, -0.02], [0.06, -1.25, -0.06], [0.10, -1.06, -0.08], [0.12, -0.90, -0.08],
    [-0.18, -0.93, -0.02], [-0.20, -1.15, -0.06], [-0.15, -0.97, -0.08], [-0.12, -0.82, -0.08],
    [-0.38, -0.82, -0.02], [-0.42, -1.00, -0.05], [-0.37, -0.88, -0.07], [-0.33, -0.75, -0.07],
])
TIP = 8


@dataclass(frozen=True)
class HandScene:
    """One clip's camera and hand: frame size (px), the hand's size (wrist to middle finger
    base, px), its tilt (radians), which slot the tracker files it under, the per-landmark
    jitter (px), the fingertip landmark's constant offset from the true tip (px) and the hand's
    own shape (21 x 3, template units)."""

    width: float
    height: float
    hand_size: float
    tilt: float
    slot: str  # "right_hand" or "left_hand"
    jitter: float
    tip_offset: tuple[float, float]
    shape: np.ndarray


@dataclass(frozen=True)
class SceneStyle:
    """Ranges a random HandScene is drawn from (override with dataclasses.replace).

    aspects: frame width / height, one picked at random. hand_height: the hand's length
    (wrist to the pointing fingertip) as a fraction of the frame height. tilt: max |degrees|.
    jitter: px per landmark per frame (standard deviation). tip_offset: max px. left_hand: the
    chance the tracker files the hand in the left-hand slot. reshape: per-landmark relative
    change of the hand's shape (standard deviation).
    """

    height: float = 480.0
    aspects: tuple[float, ...] = (4 / 3, 16 / 9, 1.0, 3 / 4)
    hand_height: tuple[float, float] = (0.2, 0.45)
    tilt: float = 25.0
    jitter: tuple[float, float] = (0.2, 1.5)
    tip_offset: float = 6.0
    left_hand: float = 0.3
    reshape: float = 0.06


SCENE_STYLE = SceneStyle()
TEMPLATE_LENGTH = float(np.linalg.norm(HAND_TEMPLATE[TIP, :2]))  # wrist to fingertip
# A 640 x 480 camera, an upright right hand 35% of the frame high, an ideal tracker.
CLEAN_SCENE = HandScene(width=640.0, height=480.0, hand_size=0.35 * 480 / TEMPLATE_LENGTH,
                        tilt=0.0, slot="right_hand", jitter=0.0, tip_offset=(0.0, 0.0),
                        shape=HAND_TEMPLATE)


def random_scene(rng: np.random.Generator, style: SceneStyle = SCENE_STYLE) -> HandScene:
    aspect = style.aspects[int(rng.integers(len(style.aspects)))]
    length = rng.uniform(*style.hand_height) * style.height
    angle = rng.uniform(0.0, 2 * np.pi)
    offset = rng.uniform(0.0, style.tip_offset) * np.array([np.cos(angle), np.sin(angle)])
    shape = HAND_TEMPLATE * (1.0 + rng.normal(0.0, style.reshape, HAND_TEMPLATE.shape))
    shape[0] = 0.0
    return HandScene(width=style.height * aspect, height=style.height,
                     hand_size=length / TEMPLATE_LENGTH,
                     tilt=np.deg2rad(rng.uniform(-style.tilt, style.tilt)),
                     slot="left_hand" if rng.random() < style.left_hand else "right_hand",
                     jitter=rng.uniform(*style.jitter), tip_offset=tuple(offset.tolist()),
                     shape=shape)


def hand_points(tips: np.ndarray, scene: HandScene, rng: np.random.Generator | None
                ) -> np.ndarray:
    """Fingertip positions (frames, 2) px, NaN = not found -> the hand's 21 landmarks per frame
    (frames, 21, 3): x, y in px, z in px-like units; NaN where not found. rng None: no
    jitter."""
    shape = scene.shape.copy()
    if scene.slot == "left_hand":
        shape[:, 0] = -shape[:, 0]  # a left hand is the mirror image
    cos, sin = np.cos(scene.tilt), np.sin(scene.tilt)
    turn = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    hand = (shape - shape[TIP]) @ turn.T * scene.hand_size  # fingertip at the origin
    points = tips[:, None, :2] + hand[None, :, :2]
    points = np.concatenate([points, np.broadcast_to(hand[None, :, 2:], points[..., :1].shape)],
                            axis=-1)
    points[:, TIP, :2] += scene.tip_offset
    if rng is not None and scene.jitter > 0:
        points[..., :2] += rng.normal(0.0, scene.jitter, points[..., :2].shape)
    return points


def landmark_frames(tips: np.ndarray, scene: HandScene, rng: np.random.Generator | None = None
                    ) -> np.ndarray:
    """Fingertip track (frames, 2) px, NaN = hand not found -> ISLR-layout landmarks
    (frames, 543, 3) float32 as a tracker reports them: normalised x / width, y / height,
    z / width; only the scene's hand slot filled."""
    tips = np.asarray(tips, np.float64)
    points = hand_points(tips, scene, rng)
    points /= np.array([scene.width, scene.height, scene.width])
    out = np.full((len(tips), ISLR_LANDMARKS, 3), np.nan, np.float32)
    start, end = ISLR_PARTS[scene.slot]
    out[:, start:end] = points
    out[np.isnan(tips).any(axis=1)] = np.nan
    return out
